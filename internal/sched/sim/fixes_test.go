package sim_test

import (
	"math"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

var fifoQ = model.LocalAccount.ARN(model.KindJobQueue, "fifo")

func fifoConfig(capacity int64) sim.Config {
	return sim.Config{
		Environments: []model.ServiceEnvironment{sim.Env("plan", capacity)},
		Queues:       []model.JobQueue{sim.Queue("fifo", 1, "", "plan")},
		Start:        t0,
	}
}

const hour = int64(3600 * 1000)

// TestTickDefaultsToProductionTick: a job that can never fit is ended by
// its time limit action after 10 minutes, which only a tick can notice when
// nothing else happens: with the default tick (one minute, as in
// production) within a minute of the limit, without one never.
func TestTickDefaultsToProductionTick(t *testing.T) {
	run := func(tick time.Duration) *sim.Report {
		cfg := fifoConfig(4)
		cfg.Queues[0].JobStateTimeLimitActions = []model.JobStateTimeLimitAction{{
			Action: model.TimeLimitActionCancel, MaxTimeSeconds: 600, Reason: model.ReasonMisconfiguration, State: "RUNNABLE",
		}}
		cfg.Tick, cfg.Until = tick, t0+hour
		return sim.Run(cfg, []sim.Job{{ID: "huge", Queue: fifoQ, Instances: 5, Arrival: t0, Duration: time.Minute}})
	}
	if r := run(0); r.Terminated["huge"] == "" || r.Passes < 10 || r.Passes > 12 {
		t.Errorf("default tick: terminated %q after %d passes, want the time limit to end it after 10-12 one-minute passes", r.Terminated["huge"], r.Passes)
	}
	if r := run(-1); r.Terminated["huge"] != "" || r.Passes != 1 {
		t.Errorf("no tick: terminated %q after %d passes, want 1 pass and no termination", r.Terminated["huge"], r.Passes)
	}
}

// TestUtilizationOverUntil: one instance busy for the first hour of a
// two-hour window is 50 % used, not 100 % (the last event was at one hour).
func TestUtilizationOverUntil(t *testing.T) {
	cfg := fifoConfig(1)
	cfg.Until = t0 + 2*hour
	r := sim.Run(cfg, []sim.Job{{ID: "a", Queue: fifoQ, Instances: 1, Arrival: t0, Duration: time.Hour}})
	if u := r.Utilization(cfg.Environments[0].Arn); math.Abs(u-0.5) > 1e-9 {
		t.Fatalf("utilization %.4f, want 0.5 (End %d ms after Start, Until %d)", u, r.End-t0, r.Until-t0)
	}
	if u := r.TotalUtilization(); math.Abs(u-0.5) > 1e-9 {
		t.Fatalf("total utilization %.4f, want 0.5", u)
	}
}

// TestWaitsCountJobsThatNeverStarted: a job still waiting at Until counts
// with its wait so far, instead of being left out.
func TestWaitsCountJobsThatNeverStarted(t *testing.T) {
	cfg := fifoConfig(1)
	cfg.Until = t0 + hour
	r := sim.Run(cfg, []sim.Job{
		{ID: "a", Queue: fifoQ, Instances: 1, Arrival: t0, Duration: 10 * time.Hour},
		{ID: "b", Queue: fifoQ, Instances: 1, Arrival: t0 + 1000, Duration: time.Minute},
	})
	w := r.Waits(nil)
	if w.Count != 2 || w.Unstarted != 1 || w.Max != time.Hour-time.Second || r.NeverStarted != 1 || r.Unfinished != 2 {
		t.Fatalf("waits %v, never started %d, unfinished %d; want 2 jobs, 1 unstarted with a wait of 59m59s", w, r.NeverStarted, r.Unfinished)
	}
	if w.Mean != (time.Hour-time.Second)/2 {
		t.Fatalf("mean wait %v, want %v", w.Mean, (time.Hour-time.Second)/2)
	}
}

// TestRuntimeBoundStopsJobs: SageMaker stops a job at MaxRuntimeInSeconds,
// so a job longer than its bound holds its instance only until then.
func TestRuntimeBoundStopsJobs(t *testing.T) {
	r := sim.Run(fifoConfig(1), []sim.Job{
		{ID: "long", Queue: fifoQ, Instances: 1, Arrival: t0, Duration: 2 * time.Hour, MaxRuntime: time.Hour},
		{ID: "next", Queue: fifoQ, Instances: 1, Arrival: t0, Duration: time.Minute},
	})
	if r.Stopped != 1 || len(r.Admissions) != 2 || r.Admissions[1].Wait != time.Hour {
		t.Fatalf("stopped %d, admissions %+v; want long stopped at its bound and next started after 1h", r.Stopped, r.Admissions)
	}
}

// TestIdleWhileWaiting: a 4-instance job waits an hour behind a 2-instance
// one on 4 instances: 2 of the 4 instances idle during the hour a job
// waits.
func TestIdleWhileWaiting(t *testing.T) {
	cfg := fifoConfig(4)
	cfg.Until = t0 + 2*hour
	r := sim.Run(cfg, []sim.Job{
		{ID: "1-small", Queue: fifoQ, Instances: 2, Arrival: t0, Duration: time.Hour},
		{ID: "2-big", Queue: fifoQ, Instances: 4, Arrival: t0, Duration: time.Hour},
	})
	if got := r.IdleWhileWaiting(); math.Abs(got-0.5) > 1e-9 {
		t.Fatalf("idle while waiting %.4f, want 0.5", got)
	}
	if got := r.TotalUtilization(); math.Abs(got-0.75) > 1e-9 {
		t.Fatalf("utilization %.4f, want 0.75", got)
	}
}

// TestFairShareAccuracy: two shares of weights 1 and 0.25 competing for 10
// instances have targets of 20 % and 80 %, and the scheduler gets within a
// few points of them.
func TestFairShareAccuracy(t *testing.T) {
	cfg := fairConfig(10, sim.Policy("fp", 60, 0, weight("a", 1), weight("b", 0.25)))
	cfg.Until = t0 + 6*hour
	jobs := append(
		sim.Poisson(1, "a", fairQ, "a", 3000, t0, time.Millisecond, 60*time.Second, 240*time.Second, 1),
		sim.Poisson(2, "b", fairQ, "b", 3000, t0, time.Millisecond, 60*time.Second, 240*time.Second, 1)...)
	r := sim.Run(cfg, jobs)
	f := r.FairShare(fairQ)
	if len(f) != 2 {
		t.Fatalf("fairness of %d shares, want 2: %+v", len(f), f)
	}
	for _, s := range f {
		want := map[string]float64{"a": 0.2, "b": 0.8}[s.Share.Share]
		if math.Abs(s.Target-want) > 1e-9 || s.Error() > 0.03 || s.Competing < 5*time.Hour || math.Abs(s.Started-want) > 0.03 {
			t.Errorf("share %s: target %.3f achieved %.3f started %.3f over %v; want target %.1f, achieved and started within 3 points, over 5h",
				s.Share.Share, s.Target, s.Achieved, s.Started, s.Competing, want)
		}
	}
	if r.FairShare(fifoQ) != nil {
		t.Error("a queue without jobs has no shares")
	}
}

// TestTimeline: the buckets of a timeline average what happened in them.
func TestTimeline(t *testing.T) {
	cfg := fifoConfig(4)
	cfg.Until = t0 + 4*hour
	r := sim.Run(cfg, []sim.Job{
		{ID: "a", Queue: fifoQ, Share: "x", Instances: 2, Arrival: t0, Duration: 90 * time.Minute},
		{ID: "b", Queue: fifoQ, Share: "y", Instances: 4, Arrival: t0, Duration: time.Hour},
	})
	tl := r.Timeline(4, 0)
	wantInUse := []float64{2, 3, 2, 0} // a alone; a, then b from 1:30; b until 2:30; nothing
	for i, want := range wantInUse {
		if math.Abs(tl.InUse[0][i]-want) > 1e-9 {
			t.Fatalf("in use per hour %v, want %v", tl.InUse[0], wantInUse)
		}
	}
	if math.Abs(tl.Waiting[1][0]-1) > 1e-9 || math.Abs(tl.Waiting[1][1]-0.5) > 1e-9 || tl.Shares[1] != (sched.ShareKey{Queue: fifoQ, Share: "y"}) {
		t.Fatalf("waiting of share y per hour %v, want [1 0.5 0 0]", tl.Waiting[1])
	}
}

// TestLongJobsWeighWhileRunning: two shares of equal weight saturate 10
// instances, one with 4-hour jobs, the other with 2-minute jobs. Both
// shares' usage counts their running jobs, not only the ones that ended, so
// the long jobs' share does not pile up capacity while its usage lags: the
// split stays near 50/50.
func TestLongJobsWeighWhileRunning(t *testing.T) {
	cfg := fairConfig(10, sim.Policy("fp", 3600, 0))
	cfg.Until = t0 + 24*hour
	jobs := append(
		sim.Backlog("long", fairQ, "a", 200, 1, 4*time.Hour, t0),
		sim.Backlog("short", fairQ, "b", 20000, 1, 2*time.Minute, t0)...)
	r := sim.Run(cfg, jobs)
	for _, f := range r.FairShare(fairQ) {
		t.Logf("share %s: target %.3f achieved %.3f over %v", f.Share.Share, f.Target, f.Achieved, f.Competing)
		if f.Error() > 0.05 {
			t.Errorf("share %s: achieved %.3f of a target of %.3f; want within 5 points", f.Share.Share, f.Achieved, f.Target)
		}
	}
}
