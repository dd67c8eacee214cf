package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// finishedJob is a job that ended at updated (epoch ms).
func finishedJob(id string, status model.JobStatus, created, updated int64) *model.ServiceJob {
	j := newJob(id, queueA, "", created)
	j.Status, j.UpdatedAt = status, updated
	j.ClientToken = "tok-" + id
	j.ServiceRequestPayload = strings.Repeat("p", 600)
	return j
}

// deleteAllFinished calls DeleteFinished until it has looked at everything.
func deleteAllFinished(t testing.TB, s *Store, before int64) int {
	t.Helper()
	total, calls := 0, 0
	var from []byte
	for {
		n, next, err := s.DeleteFinished(context.Background(), before, from)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		calls++
		if next == nil {
			return total
		}
		if calls > 10_000 {
			t.Fatal("DeleteFinished never ends")
		}
		from = next
	}
}

// TestDeleteFinished: the finished jobs last changed before the cutoff go,
// with their index entries and client tokens; nothing else does.
func TestDeleteFinished(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	const cutoff = t0 + 1000
	keep := map[string]bool{}
	for i, tc := range []struct {
		status           model.JobStatus
		created, updated int64
		gone             bool
	}{
		{model.StatusSucceeded, t0, t0 + 10, true},
		{model.StatusFailed, t0 + 1, t0 + 999, true},
		{model.StatusSucceeded, t0 + 2, cutoff, false},     // changed at the cutoff
		{model.StatusFailed, t0 + 3, cutoff + 5000, false}, // created long ago, finished lately
		{model.StatusRunnable, t0 + 4, t0 + 5, false},      // not finished
		{model.StatusRunning, t0 + 5, t0 + 6, false},
		{model.StatusSucceeded, cutoff + 1, cutoff + 2, false},
	} {
		id := fmt.Sprintf("j%d", i)
		mustPut(t, s, finishedJob(id, tc.status, tc.created, tc.updated))
		if !tc.gone {
			keep[id] = true
		}
	}
	if n := deleteAllFinished(t, s, cutoff); n != 2 {
		t.Fatalf("deleted %d jobs, want 2", n)
	}
	page, err := s.ListJobs(ctx, store.JobQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		if !keep[j.JobID] {
			t.Errorf("job %s is still listed", j.JobID)
		}
	}
	if len(page.Jobs) != len(keep) {
		t.Errorf("%d jobs listed, want %d", len(page.Jobs), len(keep))
	}
	for _, q := range []store.JobQuery{{Queue: queueA, Statuses: finishedStatuses}, {Statuses: finishedStatuses}} {
		page, err := s.ListJobs(ctx, q)
		if err != nil || len(page.Jobs) != 3 {
			t.Errorf("list %+v: %d jobs (%v), want the 3 finished that stay", q, len(page.Jobs), err)
		}
	}
	if _, err := s.GetJob(ctx, "j0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetJob of a deleted job: %v", err)
	}
	// The token of a deleted job is free again.
	again := finishedJob("new", model.StatusSubmitted, t0, t0)
	again.ClientToken = "tok-j0"
	if _, err := s.PutJob(ctx, again); err != nil {
		t.Errorf("PutJob with a deleted job's token: %v", err)
	}
	if n := deleteAllFinished(t, s, cutoff); n != 0 {
		t.Errorf("a second sweep deleted %d jobs", n)
	}
}

// TestDeleteFinishedInSteps: a large backlog goes in bounded steps that
// resume where the last one stopped, past jobs that stay.
func TestDeleteFinishedInSteps(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	const n = 3*deleteBatch + 17
	var jobs []*model.ServiceJob
	for i := range n {
		updated := t0 + 10
		if i%3 == 0 {
			updated = t0 + 1e9 // finished after the cutoff: stays
		}
		jobs = append(jobs, finishedJob(fmt.Sprintf("j%05d", i), []model.JobStatus{model.StatusSucceeded, model.StatusFailed}[i%2], t0+int64(i), updated))
	}
	putAll(t, s, jobs)
	want := n - (n+2)/3
	var from []byte
	total, calls := 0, 0
	for {
		deleted, next, err := s.DeleteFinished(context.Background(), t0+1e6, from)
		if err != nil {
			t.Fatal(err)
		}
		if deleted > deleteBatch {
			t.Fatalf("one call deleted %d jobs, more than %d", deleted, deleteBatch)
		}
		total += deleted
		calls++
		if next == nil {
			break
		}
		from = next
	}
	if total != want || calls < 3 {
		t.Errorf("deleted %d jobs in %d calls, want %d in several", total, calls, want)
	}
}

// TestRetentionBoundsFile: a server that keeps submitting jobs and deleting
// them after their retention keeps a file of the same size: bbolt reuses
// the pages of deleted jobs.
func TestRetentionBoundsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sagequeue.db")
	s := open(t, path)
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	const perRound = 3000
	var sizes []int64
	for round := range 6 {
		base := t0 + int64(round)*1_000_000
		putAll(t, s, finishedJobs(round, perRound, base))
		if n := deleteAllFinished(t, s, base+1_000_000); n != perRound {
			t.Fatalf("round %d: deleted %d jobs, want %d", round, n, perRound)
		}
		sizes = append(sizes, size())
	}
	t.Logf("file size after each round: %v", sizes)
	if last, second := sizes[len(sizes)-1], sizes[1]; last > second+second/4 {
		t.Errorf("the file grew from %d to %d bytes over rounds that each deleted what they added", second, last)
	}
}

// putAll puts jobs from 32 goroutines, so that they share commits.
func putAll(t *testing.T, s *Store, jobs []*model.ServiceJob) {
	t.Helper()
	errs := make(chan error, 32)
	for w := range 32 {
		go func() {
			var err error
			for i := w; i < len(jobs) && err == nil; i += 32 {
				_, err = s.PutJob(context.Background(), jobs[i])
			}
			errs <- err
		}()
	}
	for range 32 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// finishedJobs are n jobs of a round, SUCCEEDED at their creation.
func finishedJobs(round, n int, base int64) []*model.ServiceJob {
	jobs := make([]*model.ServiceJob, n)
	for i := range jobs {
		jobs[i] = finishedJob(fmt.Sprintf("r%d-%05d", round, i), model.StatusSucceeded, base+int64(i), base+int64(i))
	}
	return jobs
}

// TestCompactFile: after a large deletion the file shrinks to what it holds,
// and keeps all of it; a small file is left alone.
func TestCompactFile(t *testing.T) {
	defer func(old int64) { minCompactSize = old }(minCompactSize)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sagequeue.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, s, finishedJobs(0, 4000, t0))
	keep := finishedJob("keep", model.StatusRunnable, t0, t0)
	mustPut(t, s, keep)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if before, after, err := CompactFile(path); err != nil || after != before {
		t.Fatalf("a file below 64 MiB: compacted from %d to %d bytes (%v), want it left alone", before, after, err)
	}
	minCompactSize = 0

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	deleteAllFinished(t, s, t0+1e9)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, after, err := CompactFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted from %d to %d bytes", before, after)
	if after*4 > before {
		t.Errorf("compacted from %d to %d bytes, want less than a quarter", before, after)
	}
	s = open(t, path)
	if got, err := s.GetJob(ctx, "keep"); err != nil || got.ServiceRequestPayload != keep.ServiceRequestPayload {
		t.Errorf("the job kept: %v", err)
	}
	heads, _, err := s.Heads(ctx, queueA, "", 10)
	if err != nil || len(heads) != 1 {
		t.Errorf("heads after compaction: %d (%v)", len(heads), err)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the rewrite's file is left behind: %v", err)
	}
}
