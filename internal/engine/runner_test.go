package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
)

// runRunner runs a Runner over the rig's engine until the test ends and
// counts its passes.
func runRunner(t *testing.T, r *rig, coalesce time.Duration) (*engine.Runner, *atomic.Int64) {
	t.Helper()
	runner := engine.NewRunner(r.engine, time.Hour) // no ticks during the test
	runner.Coalesce = coalesce
	var passes atomic.Int64
	runner.OnPass = func(engine.PassResult, error) { passes.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Runner.Run: %v", err)
		}
	})
	waitPasses(t, &passes, 1) // the first pass, at start
	return runner, &passes
}

func waitPasses(t *testing.T, passes *atomic.Int64, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); passes.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d passes after 30s, want %d", passes.Load(), n)
		}
	}
}

// TestRunnerCoalescesSubmissions: a burst of submissions shares a pass,
// which promotes all of them.
func TestRunnerCoalescesSubmissions(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(0)
	runner, passes := runRunner(t, r, 300*time.Millisecond)
	const n = 100
	var jobs []*model.ServiceJob
	for range n {
		jobs = append(jobs, r.job(r.submit("fifo", "", "true", nil)))
	}
	for _, j := range jobs {
		runner.JobChanged(ctx, j, "")
	}
	waitPasses(t, passes, 2)
	time.Sleep(time.Second) // room for more passes, were there any to come
	if got := passes.Load(); got > 3 {
		t.Errorf("%d passes for a burst of %d submissions, want 1 (2 if the burst straddled a pass)", got-1, n)
	}
	for _, j := range jobs {
		if st := r.job(j.JobID).Status; st != model.StatusRunnable {
			t.Fatalf("job %s is %s after the pass, want RUNNABLE", j.JobID, st)
		}
	}
}

// TestRunnerDoesNotDelayOtherTriggers: a pass asked for by anything but a
// submission starts at once, also while submissions wait for theirs.
func TestRunnerDoesNotDelayOtherTriggers(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(0)
	runner, passes := runRunner(t, r, time.Hour)
	id := r.submit("fifo", "", "true", nil)
	runner.JobChanged(ctx, r.job(id), "")
	time.Sleep(300 * time.Millisecond)
	if got := passes.Load(); got != 1 {
		t.Fatalf("a submission right after a pass got a pass before Coalesce (an hour): %d passes", got)
	}
	runner.ConfigChanged(ctx)
	waitPasses(t, passes, 2)
	if st := r.job(id).Status; st != model.StatusRunnable {
		t.Errorf("job %s is %s, want RUNNABLE", id, st)
	}
}
