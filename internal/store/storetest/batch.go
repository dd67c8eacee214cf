package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// settleWithin bounds how long the suite waits for reads that may lag
// writes (lists of jobs holding no capacity, heads): a backend's indexes
// may be eventually consistent, as DynamoDB's are, and a test double may
// delay them on purpose.
const settleWithin = 15 * time.Second

// settle runs check until it passes, and fails the test with its last
// complaint if it has not passed within settleWithin.
func settle(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(settleWithin)
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(delay)
	}
}

// settledHeads returns a line's heads once they are want (and more is
// wantMore), failing the test if they never are.
func settledHeads(t *testing.T, s store.Store, q, share string, limit int, want []string, wantMore bool) {
	t.Helper()
	settle(t, func() error {
		jobs, more, err := s.Heads(ctx, q, share, limit)
		if err != nil {
			return err
		}
		if got := ids(jobs); !reflect.DeepEqual(got, want) || more != wantMore {
			return fmt.Errorf("heads of %s/%q (limit %d): %v more=%v, want %v more=%v", q, share, limit, got, more, want, wantMore)
		}
		return nil
	})
}

// settledList pages through a query until its jobs are want.
func settledList(t *testing.T, s store.Store, q store.JobQuery, want []string) {
	t.Helper()
	settle(t, func() error {
		got := []string{}
		qq := q
		for range 100 {
			page, err := s.ListJobs(ctx, qq)
			if err != nil {
				return err
			}
			got = append(got, ids(page.Jobs)...)
			if page.Next == "" {
				break
			}
			qq.Cursor = page.Next
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("list %+v: got %v, want %v", q, got, want)
		}
		return nil
	})
}

func testUpdateJobs(t *testing.T, s store.Store) {
	for i, id := range []string{"a", "b", "c", "d"} {
		put(t, s, newJob(id, queue, t0+int64(i)))
	}
	get := func(id string) *model.ServiceJob {
		t.Helper()
		j, err := s.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	a, b, c := get("a"), get("b"), get("c")
	a.Status, c.Status = model.StatusRunnable, model.StatusRunnable
	b.Status, b.Version = model.StatusRunnable, b.Version+5 // a version the store never had
	a2 := *a                                                // the same job twice
	a.JobQueue = "arn:aws:batch:local:000000000000:job-queue/elsewhere"
	a.StatusReason = "promoted"
	missing := newJob("nope", queue, t0)
	missing.Version = 1
	stored, errs := s.UpdateJobs(ctx, []*model.ServiceJob{a, b, c, &a2, missing}, nil)
	if len(stored) != 5 || len(errs) != 5 {
		t.Fatalf("UpdateJobs of 5 jobs returned %d jobs and %d errors", len(stored), len(errs))
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("UpdateJobs: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], store.ErrConflict) || stored[1] != nil {
		t.Fatalf("a stale version in a batch: %v %v, want ErrConflict", stored[1], errs[1])
	}
	if errs[3] == nil || stored[3] != nil {
		t.Fatalf("a job named twice in one batch was written twice: %v", errs[3])
	}
	if !errors.Is(errs[4], store.ErrNotFound) {
		t.Fatalf("a missing job in a batch: %v, want ErrNotFound", errs[4])
	}
	if got := stored[0]; got.Version != 2 || got.Status != model.StatusRunnable || got.StatusReason != "promoted" || got.JobQueue != queue {
		t.Fatalf("stored %+v: want version 2, RUNNABLE, the new reason and the old queue", got)
	}
	if got := get("b"); got.Version != 1 || got.Status != model.StatusSubmitted {
		t.Fatalf("a refused job of a batch was written: %+v", got)
	}
	lines, err := s.Lines(ctx, queue)
	if err != nil || !reflect.DeepEqual(lines, []store.Line{{Queue: queue, Runnable: 2}}) {
		t.Fatalf("lines after a batch %+v %v, want 2 RUNNABLE", lines, err)
	}
	settledHeads(t, s, queue, "", 10, []string{"a", "c"}, false)
	if n, err := s.CountSubmitted(ctx); err != nil || !reflect.DeepEqual(n, map[string]int64{queue: 2}) {
		t.Fatalf("submitted after a batch: %v %v, want 2 in %s", n, err, queue)
	}

	// Fenced: all or nothing with the lease, each job on its own otherwise.
	now := time.Unix(1_800_000_000, 0)
	mine, err := s.AcquireLease(ctx, "scheduler", "a", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b, d := get("b"), get("d")
	b.Status, d.Status = model.StatusRunnable, model.StatusRunnable
	if _, errs := s.UpdateJobs(ctx, []*model.ServiceJob{b, d}, &mine); errs[0] != nil || errs[1] != nil {
		t.Fatalf("a fenced batch under a held lease: %v", errs)
	}
	if _, err := s.AcquireLease(ctx, "scheduler", "b", now.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	b, d = get("b"), get("d")
	b.Status, d.Status = model.StatusScheduled, model.StatusScheduled
	_, errs = s.UpdateJobs(ctx, []*model.ServiceJob{b, d}, &mine)
	for i, err := range errs {
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("job %d of a batch fenced by a lost lease: %v, want ErrLeaseLost", i, err)
		}
	}
	if got := get("d"); got.Status != model.StatusRunnable {
		t.Fatalf("a fenced-out batch changed a job: %s", got.Status)
	}
	if n, err := s.CountSubmitted(ctx); err != nil || len(n) != 0 {
		t.Fatalf("submitted after every job left: %v %v", n, err)
	}
}

// testUpdateJobsLarge moves more jobs in one call than a backend may put in
// one transaction or request.
func testUpdateJobsLarge(t *testing.T, s store.Store) {
	const n = 230
	var jobs []*model.ServiceJob
	for i := range n {
		share := fmt.Sprintf("s%d", i%3)
		j := newJob(fmt.Sprintf("j%03d", i), fairQ, t0+int64(i))
		j.ShareIdentifier = share
		jobs = append(jobs, put(t, s, j))
	}
	for _, j := range jobs {
		j.Status = model.StatusRunnable
	}
	stored, errs := s.UpdateJobs(ctx, jobs, nil)
	for i := range jobs {
		if errs[i] != nil || stored[i].Status != model.StatusRunnable || stored[i].Version != 2 {
			t.Fatalf("job %d of %d: %+v %v", i, n, stored[i], errs[i])
		}
	}
	lines, err := s.Lines(ctx, fairQ)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, l := range lines {
		total += l.Runnable
	}
	if len(lines) != 3 || total != n {
		t.Fatalf("lines %+v, want 3 lines holding %d jobs", lines, n)
	}
	if left, _, err := s.Submitted(ctx, 10); err != nil || len(left) != 0 {
		t.Fatalf("submitted jobs left: %d %v", len(left), err)
	}
	// And back out of the lines, half of them.
	for i := range stored {
		stored[i].Status = model.StatusScheduled
	}
	stored, errs = s.UpdateJobs(ctx, stored[:n/2], nil)
	for i := range stored {
		if errs[i] != nil || stored[i].Status != model.StatusScheduled {
			t.Fatalf("job %d: %+v %v", i, stored[i], errs[i])
		}
	}
	page, err := store.ListAll(ctx, s, store.JobQuery{Statuses: []model.JobStatus{model.StatusScheduled}})
	if err != nil || len(page) != n/2 {
		t.Fatalf("%d jobs hold capacity after the batch, want %d (%v)", len(page), n/2, err)
	}
	lines, _ = s.Lines(ctx, fairQ)
	total = 0
	for _, l := range lines {
		total += l.Runnable
	}
	if total != n-n/2 {
		t.Fatalf("lines hold %d jobs, want %d", total, n-n/2)
	}
}

func testSubmitted(t *testing.T, s store.Store) {
	other := "arn:aws:batch:local:000000000000:job-queue/other"
	if jobs, more, err := s.Submitted(ctx, 10); err != nil || len(jobs) != 0 || more {
		t.Fatalf("submitted jobs of an empty store: %v %v %v", ids(jobs), more, err)
	}
	if n, err := s.CountSubmitted(ctx); err != nil || len(n) != 0 {
		t.Fatalf("counts of an empty store: %v %v", n, err)
	}
	// Pairs share a createdAt: the order falls back to jobId.
	for i, id := range []string{"s5", "s4", "s3", "s2", "s1", "s0"} {
		q := queue
		if i%3 == 0 {
			q = other
		}
		put(t, s, newJob(id, q, t0+int64(5-i)/2))
	}
	moveTo(t, s, "s2", model.StatusRunnable, nil)
	want := []string{"s0", "s1", "s3", "s4", "s5"}
	jobs, more, err := s.Submitted(ctx, 3)
	if err != nil || !reflect.DeepEqual(ids(jobs), want[:3]) || !more {
		t.Fatalf("three oldest submitted jobs: %v more=%v %v, want %v and more", ids(jobs), more, err, want[:3])
	}
	jobs, more, err = s.Submitted(ctx, 100)
	if err != nil || !reflect.DeepEqual(ids(jobs), want) || more {
		t.Fatalf("every submitted job: %v more=%v %v, want %v", ids(jobs), more, err, want)
	}
	if jobs[0].Version != 1 || jobs[0].JobQueue != queue {
		t.Fatalf("a submitted job as listed: %+v", jobs[0])
	}
	if jobs, more, err := s.Submitted(ctx, 5); err != nil || len(jobs) != 5 || more {
		t.Fatalf("exactly every submitted job: %v more=%v %v", ids(jobs), more, err)
	}
	n, err := s.CountSubmitted(ctx)
	if err != nil || !reflect.DeepEqual(n, map[string]int64{queue: 4, other: 1}) {
		t.Fatalf("counts %v %v, want 4 in q and 1 in other", n, err)
	}
	// Read-your-writes: a job just submitted is seen by the next call.
	put(t, s, newJob("late", other, t0-1))
	if jobs, _, _ := s.Submitted(ctx, 1); len(jobs) != 1 || jobs[0].JobID != "late" {
		t.Fatalf("a job just submitted was not seen: %v", ids(jobs))
	}
	for _, id := range []string{"s0", "s1", "s3", "s4", "s5", "late"} {
		moveTo(t, s, id, model.StatusFailed, nil)
	}
	if jobs, _, err := s.Submitted(ctx, 10); err != nil || len(jobs) != 0 {
		t.Fatalf("submitted jobs after every job left: %v %v", ids(jobs), err)
	}
	if n, err := s.CountSubmitted(ctx); err != nil || len(n) != 0 {
		t.Fatalf("counts after every job left: %v %v", n, err)
	}
}
