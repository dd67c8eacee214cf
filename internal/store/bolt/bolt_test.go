package bolt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/storetest"
)

const (
	t0     = int64(1_800_000_000_000)
	queueA = "arn:aws:batch:local:000000000000:job-queue/a"
	queueB = "arn:aws:batch:local:000000000000:job-queue/b"
)

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	})
}

// open opens a store at path and closes it when the test ends.
func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newJob(id, queue, share string, created int64) *model.ServiceJob {
	return &model.ServiceJob{
		JobID: id, JobName: "job-" + id, JobQueue: queue, ShareIdentifier: share,
		ServiceJobType: model.ServiceJobTypeSageMakerTraining, Status: model.StatusSubmitted,
		CreatedAt: created, UpdatedAt: created, Instances: 1,
	}
}

func mustPut(t testing.TB, s *Store, j *model.ServiceJob) *model.ServiceJob {
	t.Helper()
	got, err := s.PutJob(context.Background(), j)
	if err != nil {
		t.Fatalf("PutJob(%s): %v", j.JobID, err)
	}
	return got
}

func mustMove(t testing.TB, s *Store, id string, to model.JobStatus) *model.ServiceJob {
	t.Helper()
	ctx := context.Background()
	j, err := s.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	j.Status = to
	got, err := s.UpdateJob(ctx, j, nil)
	if err != nil {
		t.Fatalf("UpdateJob(%s -> %s): %v", id, to, err)
	}
	return got
}

func jobIDs(jobs []*model.ServiceJob) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.JobID)
	}
	return out
}

// TestReopen checks that everything a returned call wrote is in the file:
// jobs, every index, lines, leases, usage and configuration.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "sagequeue.db") // the directory is created
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := newJob("a", queueA, "s1", t0)
	tok.ClientToken = "tok"
	mustPut(t, s, tok)
	mustMove(t, s, "a", model.StatusRunnable)
	mustPut(t, s, newJob("b", queueA, "s1", t0+1))
	mustMove(t, s, "b", model.StatusRunnable)
	mustPut(t, s, newJob("c", queueB, "", t0+2))
	mustMove(t, s, "c", model.StatusRunnable)
	mustMove(t, s, "c", model.StatusScheduled)
	lease, err := s.AcquireLease(ctx, "scheduler", "me", time.Unix(1_800_000_000, 0), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	usage, err := s.AddUsage(ctx, queueA, "s1", 2, t0, t0+60_000, 600)
	if err != nil {
		t.Fatal(err)
	}
	env := &model.ServiceEnvironment{Name: "env", CapacityLimits: []model.CapacityLimit{{CapacityUnit: model.CapacityUnitInstances, MaxCapacity: 8}}}
	if _, err := s.CreateEnvironment(ctx, env); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePolicy(ctx, &model.SchedulingPolicy{Name: "fs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateQueue(ctx, &model.JobQueue{Name: "a", Priority: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	if j, err := s.GetJob(ctx, "a"); err != nil || j.Status != model.StatusRunnable || j.Version != 2 {
		t.Fatalf("job a after reopen: %+v %v", j, err)
	}
	if got, err := s.PutJob(ctx, tok); !errors.Is(err, store.ErrAlreadyExists) || got == nil || got.JobID != "a" {
		t.Fatalf("client token after reopen: %v %v", got, err)
	}
	lines, err := s.Lines(ctx, queueA)
	if want := []store.Line{{Queue: queueA, Share: "s1", Runnable: 2}}; err != nil || !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines after reopen: %+v %v", lines, err)
	}
	heads, more, err := s.Heads(ctx, queueA, "s1", 1)
	if err != nil || !reflect.DeepEqual(jobIDs(heads), []string{"a"}) || !more {
		t.Fatalf("heads after reopen: %v %v %v", jobIDs(heads), more, err)
	}
	page, err := s.ListJobs(ctx, store.JobQuery{Statuses: []model.JobStatus{model.StatusScheduled}})
	if err != nil || !reflect.DeepEqual(jobIDs(page.Jobs), []string{"c"}) {
		t.Fatalf("list by status after reopen: %v %v", jobIDs(page.Jobs), err)
	}
	page, err = s.ListJobs(ctx, store.JobQuery{Queue: queueA, Share: "s1"})
	if err != nil || !reflect.DeepEqual(jobIDs(page.Jobs), []string{"b", "a"}) {
		t.Fatalf("list by share after reopen: %v %v", jobIDs(page.Jobs), err)
	}
	if _, err := s.AcquireLease(ctx, "scheduler", "other", time.Unix(1_800_000_060, 0), time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("lease after reopen: %v, want ErrLeaseHeld", err)
	}
	j, _ := s.GetJob(ctx, "b")
	if _, err := s.UpdateJob(ctx, j, &lease); err != nil {
		t.Fatalf("fenced update after reopen: %v", err)
	}
	if u, err := s.ListUsage(ctx, queueA); err != nil || len(u) != 1 || u[0] != usage {
		t.Fatalf("usage after reopen: %+v %v, want %+v", u, err, usage)
	}
	if e, err := s.GetEnvironment(ctx, "env"); err != nil || e.MaxInstances() != 8 || e.Version != 1 {
		t.Fatalf("environment after reopen: %+v %v", e, err)
	}
	if p, err := s.ListPolicies(ctx); err != nil || len(p) != 1 {
		t.Fatalf("policies after reopen: %+v %v", p, err)
	}
	if q, err := s.GetQueue(ctx, "a"); err != nil || q.Priority != 2 {
		t.Fatalf("queue after reopen: %+v %v", q, err)
	}
}

// TestSecondOpen checks that a second opener of a file in use gets a clear
// error after the lock timeout instead of hanging.
func TestSecondOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sagequeue.db")
	open(t, path)
	start := time.Now()
	s, err := Open(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("a second Open of a file in use succeeded")
	}
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second Open: %v, want a lock timeout", err)
	}
	if waited := time.Since(start); waited > openTimeout+2*time.Second {
		t.Fatalf("second Open took %v", waited)
	}
	t.Logf("second Open: %v", err)
}

// TestConcurrentPutJob puts many jobs from many goroutines, some repeating
// client tokens: every distinct job lands once, every token names one job.
func TestConcurrentPutJob(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	const workers, perWorker, tokens = 32, 50, 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	byToken := map[string]map[string]bool{} // token -> job IDs callers saw
	var created atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				n := w*perWorker + i
				j := newJob(fmt.Sprintf("j%05d", n), queueA, "", t0+int64(n))
				if n%2 == 0 {
					j.ClientToken = fmt.Sprintf("tok%03d", n/2%tokens)
				}
				got, err := s.PutJob(ctx, j)
				switch {
				case err == nil:
					created.Add(1)
				case !errors.Is(err, store.ErrAlreadyExists) || got == nil:
					t.Errorf("PutJob(%s): %v", j.JobID, err)
					return
				}
				if j.ClientToken != "" {
					mu.Lock()
					if byToken[j.ClientToken] == nil {
						byToken[j.ClientToken] = map[string]bool{}
					}
					byToken[j.ClientToken][got.JobID] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	total := workers * perWorker
	if want := int64(total/2 + tokens); created.Load() != want {
		t.Fatalf("%d jobs created, want %d", created.Load(), want)
	}
	for tok, seen := range byToken {
		if len(seen) != 1 {
			t.Fatalf("token %s named %d jobs: %v", tok, len(seen), seen)
		}
	}
	var all []string
	q := store.JobQuery{Queue: queueA, Limit: 1000}
	for {
		page, err := s.ListJobs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, jobIDs(page.Jobs)...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if int64(len(all)) != created.Load() {
		t.Fatalf("list holds %d jobs, %d were created", len(all), created.Load())
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("job %s listed twice", id)
		}
		seen[id] = true
	}
}

// TestUpdateKeepsIdentity checks that UpdateJob keeps the fields that never
// change, so the indexes cannot drift from the record.
func TestUpdateKeepsIdentity(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	j := newJob("a", queueA, "s1", t0)
	j.ClientToken = "tok"
	mustPut(t, s, j)
	j = mustMove(t, s, "a", model.StatusRunnable)
	j.JobQueue, j.ShareIdentifier, j.CreatedAt, j.ClientToken = queueB, "s2", t0+5, "other"
	got, err := s.UpdateJob(ctx, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.JobQueue != queueA || got.ShareIdentifier != "s1" || got.CreatedAt != t0 || got.ClientToken != "tok" {
		t.Fatalf("identity changed: %+v", got)
	}
	if lines, _ := s.Lines(ctx, queueB); len(lines) != 0 {
		t.Fatalf("lines of queue b: %+v", lines)
	}
	if heads, _, _ := s.Heads(ctx, queueA, "s1", 10); len(heads) != 1 {
		t.Fatalf("heads of a/s1: %v", jobIDs(heads))
	}
}

// TestListEdges covers cursors of other queries, a share filter across
// queues and the page size bounds.
func TestListEdges(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	for i := range 5 {
		mustPut(t, s, newJob(fmt.Sprintf("a%d", i), queueA, "s1", t0+int64(i)))
		mustPut(t, s, newJob(fmt.Sprintf("b%d", i), queueB, "s2", t0+int64(i)))
	}
	page, err := s.ListJobs(ctx, store.JobQuery{Queue: queueA, Limit: 2})
	if err != nil || page.Next == "" {
		t.Fatalf("first page: %v %v", jobIDs(page.Jobs), err)
	}
	if _, err := s.ListJobs(ctx, store.JobQuery{Queue: queueB, Limit: 2, Cursor: page.Next}); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("cursor of another queue: %v, want ErrBadCursor", err)
	}
	// Another page size keeps the cursor valid.
	rest, err := s.ListJobs(ctx, store.JobQuery{Queue: queueA, Limit: 10, Cursor: page.Next})
	if err != nil || !reflect.DeepEqual(jobIDs(rest.Jobs), []string{"a2", "a1", "a0"}) || rest.Next != "" {
		t.Fatalf("rest: %v %q %v", jobIDs(rest.Jobs), rest.Next, err)
	}
	page, err = s.ListJobs(ctx, store.JobQuery{Share: "s2", CreatedAfter: t0 + 1, CreatedBefore: t0 + 4})
	if err != nil || !reflect.DeepEqual(jobIDs(page.Jobs), []string{"b3", "b2"}) {
		t.Fatalf("share across queues: %v %v", jobIDs(page.Jobs), err)
	}
	page, err = s.ListJobs(ctx, store.JobQuery{Limit: -5})
	if err != nil || len(page.Jobs) != 1 || page.Next == "" {
		t.Fatalf("negative limit: %v %v", jobIDs(page.Jobs), err)
	}
	page, err = s.ListJobs(ctx, store.JobQuery{Statuses: []model.JobStatus{"BOGUS"}})
	if err != nil || len(page.Jobs) != 0 {
		t.Fatalf("unknown status: %v %v", jobIDs(page.Jobs), err)
	}
}

// TestListScanBudget checks that a page whose filter matches little ends
// after its budget of index entries with a cursor that goes on from there.
func TestListScanBudget(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	s.scanBudget = 3
	for i := range 10 {
		j := newJob(fmt.Sprintf("j%d", i), queueA, "", t0+int64(i))
		if i == 1 || i == 7 {
			j.JobName = "wanted"
		}
		mustPut(t, s, j)
	}
	var got []string
	pages := 0
	q := store.JobQuery{Queue: queueA, Name: "WANTED"}
	for {
		page, err := s.ListJobs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, jobIDs(page.Jobs)...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if !reflect.DeepEqual(got, []string{"j7", "j1"}) || pages < 3 {
		t.Fatalf("got %v in %d pages, want [j7 j1] in several", got, pages)
	}
}

// TestReleasedLeaseFences checks that a released lease fences its old
// token out, like a lease taken over.
func TestReleasedLeaseFences(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	mustPut(t, s, newJob("a", queueA, "", t0))
	l, err := s.AcquireLease(ctx, "scheduler", "me", time.Unix(1_800_000_000, 0), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	j, _ := s.GetJob(ctx, "a")
	if _, err := s.UpdateJob(ctx, j, &l); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("update fenced by a released lease: %v, want ErrLeaseLost", err)
	}
	again, err := s.AcquireLease(ctx, "scheduler", "me", time.Unix(1_800_000_001, 0), time.Minute)
	if err != nil || again.Token <= l.Token {
		t.Fatalf("re-acquire after release: %+v %v", again, err)
	}
}

// BenchmarkPutJob submits jobs with random IDs and client tokens, as the
// API does, from 16 clients per GOMAXPROCS (-cpu sets GOMAXPROCS), and
// reports durable submissions per second:
//
//	go test -run '^$' -bench PutJob -benchtime 20000x ./internal/store/bolt/
func BenchmarkPutJob(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "sagequeue.db"))
	payload := `{"AlgorithmSpecification":{"TrainingImage":"img","TrainingInputMode":"File"},"ResourceConfig":{"InstanceCount":1,"InstanceType":"ml.g5.xlarge","VolumeSizeInGB":50},"RoleArn":"arn:aws:iam::000000000000:role/r","StoppingCondition":{"MaxRuntimeInSeconds":3600}}`
	b.SetParallelism(16) // submitters mostly wait for a shared fsync, not for CPU
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			j := newJob(randomID(), queueA, "", time.Now().UnixMilli())
			j.ServiceRequestPayload = payload
			j.ClientToken = randomID()
			if _, err := s.PutJob(ctx, j); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}

func randomID() string {
	return rand.Text()
}
