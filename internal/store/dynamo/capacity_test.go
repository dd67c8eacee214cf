package dynamo_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// TestPassCostIndependentOfBacklog checks the point of the key design: a
// scheduling pass reads the heads of each line and the jobs holding
// capacity, never the backlog, so what it costs does not grow with the
// backlog. The same pass (6 of 10 instances in use, 4 to place) runs over
// 100 and over 10,000 RUNNABLE jobs; the capacity it consumes must agree
// within 10%.
//
//	go test -run TestPassCostIndependentOfBacklog -v ./internal/store/dynamo/
func TestPassCostIndependentOfBacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 10,000 jobs")
	}
	costs := map[int]dynamo.Consumed{}
	for _, n := range []int{100, 10_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			costs[n] = passCost(t, n)
		})
	}
	small, large := costs[100], costs[10_000]
	if small.Requests == 0 || large.Requests == 0 {
		if t.Failed() {
			t.FailNow()
		}
		// The subtests skipped (no DynamoDB Local outside CI): nothing
		// was measured, so there is nothing to compare.
		t.Skip("no pass was measured: the subtests were skipped")
	}
	t.Logf("one pass over 100 RUNNABLE jobs:    %6.1f RCU %6.1f WCU in %d requests", small.RCU, small.WCU, small.Requests)
	t.Logf("one pass over 10,000 RUNNABLE jobs: %6.1f RCU %6.1f WCU in %d requests", large.RCU, large.WCU, large.Requests)
	within := func(a, b float64) bool { return math.Abs(a-b) <= 0.1*math.Max(a, b) }
	if !within(small.RCU, large.RCU) || !within(small.WCU, large.WCU) {
		t.Fatalf("a pass costs %.1f RCU %.1f WCU over 100 jobs but %.1f RCU %.1f WCU over 10,000", small.RCU, small.WCU, large.RCU, large.WCU)
	}
}

// passCost seeds n RUNNABLE jobs and 6 RUNNING ones on an environment of 10
// instances and returns what one scheduling pass consumed.
func passCost(t *testing.T, n int) dynamo.Consumed {
	r := newRig(t)
	r.configure(10)
	env := model.LocalAccount.ARN(model.KindServiceEnvironment, "env")
	now := time.Now().UnixMilli()
	var jobs []*model.ServiceJob
	for i := range 6 {
		j := r.newJob("sleep 600")
		j.Status, j.Version, j.Placements, j.Launches = model.StatusRunning, 5, 1, 1
		j.ServiceEnvironment, j.ScheduledAt, j.StartedAt, j.CheckedAt = env, now, now, now+3_600_000
		j.Attempts = []model.Attempt{{TrainingJobName: fmt.Sprintf("sagequeue-%s-1", j.JobID), ServiceEnvironment: env, StartedAt: now}}
		j.CreatedAt = now - 1000 + int64(i)
		jobs = append(jobs, j)
	}
	for i := range n {
		j := r.newJob("true")
		j.Status, j.Version, j.Placements, j.RunnableAt = model.StatusRunnable, 2, 1, now
		j.CreatedAt = now + int64(i)
		jobs = append(jobs, j)
	}
	start := time.Now()
	if err := r.store.SeedJobs(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d jobs in %v", len(jobs), time.Since(start).Round(time.Millisecond))
	if lines, err := r.store.Lines(ctx, fifoArn); err != nil || len(lines) != 1 || lines[0].Runnable != int64(n) {
		t.Fatalf("lines %+v %v", lines, err)
	}
	eng := r.engine("pass", nil)
	before := r.meter.Read()
	res, err := eng.Schedule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cost := r.meter.Read().Sub(before)
	if res.Admitted != 4 || res.Launched != 4 || res.Promoted != 0 {
		t.Fatalf("pass %+v", res)
	}
	if a := r.active(); len(a) != 10 {
		t.Fatalf("%d jobs hold capacity after the pass, want 10", len(a))
	}
	t.Logf("pass over %d: %+v; %.1f RCU %.1f WCU in %d requests; by part %v", n, res, cost.RCU, cost.WCU, cost.Requests, cost.Parts)
	return cost
}
