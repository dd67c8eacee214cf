package dynamo_test

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// TestConcurrentPassesNeverOverAdmit runs several schedulers (engines of
// different holders, as several Lambda invocations would be) against one
// table and one SageMaker endpoint over a shared backlog. The lease, the
// fenced conditional writes and the consistent ACTIVE collection must keep
// the jobs in flight within the capacity at every moment, run every job to
// success, and launch each attempt once.
func TestConcurrentPassesNeverOverAdmit(t *testing.T) {
	const capacity, jobs, schedulers = 3, 24, 4
	r := newRig(t)
	r.configure(capacity)
	var ids []string
	for range jobs {
		j := r.newJob("sleep 0.2")
		if _, err := r.store.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.JobID)
	}
	var engines []*engine.Engine
	for i := range schedulers {
		engines = append(engines, r.engine(fmt.Sprintf("scheduler-%d", i), nil))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxInFlight, passes := 0, 0
	for _, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.Schedule(ctx); err != nil && !errors.Is(err, store.ErrLeaseLost) {
					t.Error(err)
				}
				// What the next pass will count, read as it reads it.
				inFlight := 0
				for _, j := range r.active() {
					inFlight += int(j.Instances)
				}
				mu.Lock()
				maxInFlight, passes = max(maxInFlight, inFlight), passes+1
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		for _, ev := range r.takeEvents() {
			if _, err := engines[0].ApplyTrainingJobEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		ended, err := store.ListAll(ctx, r.store, store.JobQuery{Statuses: []model.JobStatus{model.StatusSucceeded, model.StatusFailed}})
		if err != nil {
			t.Fatal(err)
		}
		if len(ended) == jobs || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d passes by %d schedulers; at most %d instances in flight of %d", passes, schedulers, maxInFlight, capacity)
	if maxInFlight > capacity {
		t.Fatalf("%d instances in flight on %d", maxInFlight, capacity)
	}

	// Every job succeeded with one attempt, and its interval in flight
	// (scheduled to stopped) never overlapped more than capacity others.
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, id := range ids {
		j := r.job(id)
		if j.Status != model.StatusSucceeded || len(j.Attempts) != 1 {
			t.Fatalf("%s: %s with %d attempts (%s)", id, j.Status, len(j.Attempts), j.StatusReason)
		}
		if j.ScheduledAt == 0 || j.StoppedAt < j.ScheduledAt {
			t.Fatalf("%s: scheduled at %d, stopped at %d", id, j.ScheduledAt, j.StoppedAt)
		}
		edges = append(edges, edge{j.ScheduledAt, int(j.Instances)}, edge{j.StoppedAt, -int(j.Instances)})
	}
	// Half-open intervals: at one millisecond, a job stops before another
	// starts in its place.
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].at != edges[b].at {
			return edges[a].at < edges[b].at
		}
		return edges[a].delta < edges[b].delta
	})
	inFlight, peak := 0, 0
	for _, e := range edges {
		inFlight += e.delta
		peak = max(peak, inFlight)
	}
	if peak > capacity {
		t.Fatalf("the jobs' scheduled-to-stopped intervals overlap %d deep on %d instances", peak, capacity)
	}

	// One training job per attempt, under unique names.
	out, err := r.sm.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{MaxResults: aws.Int32(100)})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range out.TrainingJobSummaries {
		names[aws.ToString(s.TrainingJobName)] = true
	}
	if len(out.TrainingJobSummaries) != jobs || len(names) != jobs {
		t.Fatalf("%d training jobs (%d names) for %d jobs of one attempt each", len(out.TrainingJobSummaries), len(names), jobs)
	}
	for _, id := range ids {
		if name := r.job(id).Attempts[0].TrainingJobName; !names[name] {
			t.Fatalf("%s: training job %s not found", id, name)
		}
	}
	t.Logf("interval peak %d of %d; %d training jobs", peak, capacity, len(names))
}
