package sim_test

import (
	"math"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

const t0 = int64(1_800_000_000_000)

var fairQ = model.LocalAccount.ARN(model.KindJobQueue, "fair")

func share(s string) sched.ShareKey { return sched.ShareKey{Queue: fairQ, Share: s} }

func weight(s string, w float64) model.ShareAttributes {
	return model.ShareAttributes{ShareIdentifier: s, WeightFactor: w}
}

func fairConfig(capacity int64, policy model.SchedulingPolicy) sim.Config {
	return sim.Config{
		Environments: []model.ServiceEnvironment{sim.Env("plan", capacity)},
		Queues:       []model.JobQueue{sim.Queue("fair", 1, policy.Name, "plan")},
		Policies:     []model.SchedulingPolicy{policy},
		Start:        t0,
	}
}

// TestWeightedSharesConverge saturates a fair-share queue from two shares with
// weights 1 and 0.25 on 10 instances: the split must settle at 2 : 8 (±1),
// because the shares balance when alloc_a*1 = alloc_b*0.25.
func TestWeightedSharesConverge(t *testing.T) {
	for _, decay := range []int32{0, 60, 3600} {
		cfg := fairConfig(10, sim.Policy("fp", decay, 0, weight("a", 1), weight("b", 0.25)))
		cfg.Until = t0 + 6*3600*1000
		jobs := append(
			sim.Poisson(1, "a", fairQ, "a", 3000, t0, time.Millisecond, 60*time.Second, 240*time.Second, 1),
			sim.Poisson(2, "b", fairQ, "b", 3000, t0, time.Millisecond, 60*time.Second, 240*time.Second, 1)...)
		r := sim.Run(cfg, jobs)

		// Judge the last four hours, after the initial burst has worked through.
		from, to := t0+2*3600*1000, cfg.Until
		a, b := r.MeanAllocation(share("a"), from, to), r.MeanAllocation(share("b"), from, to)
		t.Logf("decay %ds: mean allocation a=%.2f b=%.2f utilization %.3f passes %d waits %v",
			decay, a, b, r.Utilization(cfg.Environments[0].Arn), r.Passes, r.Waits(nil))
		if math.Abs(a-2) > 1 || math.Abs(b-8) > 1 {
			t.Errorf("decay %ds: mean allocation a=%.2f b=%.2f, want 2 and 8 (±1)", decay, a, b)
		}
		at, series := r.Series(share("a"))
		for i := range at {
			if at[i] >= from && (series[i] < 1 || series[i] > 3) {
				t.Errorf("decay %ds: share a held %d instances at +%ds, want 2±1", decay, series[i], (at[i]-t0)/1000)
				break
			}
		}
		if u := r.Utilization(cfg.Environments[0].Arn); u < 0.99 {
			t.Errorf("decay %ds: utilization %.3f of a saturated queue, want ≥ 0.99", decay, u)
		}
	}
}

// TestLateShareGetsReservation: share a saturates the queue alone; share b
// arrives 50 minutes later. With computeReservation 50, half the environment is
// kept for shares without capacity, so b starts at once; without it, b waits
// for one of a's jobs to finish.
func TestLateShareGetsReservation(t *testing.T) {
	late := t0 + 50*60*1000 // a's 20-minute jobs end at 20, 40, 60 minutes
	run := func(reservation int32) *sim.Report {
		cfg := fairConfig(10, sim.Policy("fp", 0, reservation))
		cfg.Until = late + 3600*1000
		jobs := append(
			sim.Backlog("a", fairQ, "a", 500, 1, 20*time.Minute, t0),
			sim.Backlog("b", fairQ, "b", 5, 1, 20*time.Minute, late)...)
		return sim.Run(cfg, jobs)
	}
	firstWait := func(r *sim.Report, s string) time.Duration {
		for _, a := range r.Admissions {
			if a.Share.Share == s {
				return a.Wait
			}
		}
		return -1
	}

	with := run(50)
	if got := with.AllocationAt(share("a"), late-1); got != 5 {
		t.Errorf("with reservation 50 and one active share, a held %d instances, want 5 (floor(0.5^1*10) kept free)", got)
	}
	if w := firstWait(with, "b"); w != 0 {
		t.Errorf("with reservation: the late share waited %v for its first instance, want 0", w)
	}
	if got := with.AllocationAt(share("b"), late); got < 1 {
		t.Errorf("with reservation: the late share held %d instances on arrival, want ≥ 1", got)
	}

	without := run(0)
	if got := without.AllocationAt(share("a"), late-1); got != 10 {
		t.Errorf("without reservation, a held %d instances, want all 10", got)
	}
	if w := firstWait(without, "b"); w <= 0 {
		t.Errorf("without reservation the late share should wait for a job to finish, waited %v", w)
	}
}

// TestDecayedUsageYields: share a runs alone on the whole environment for an
// hour and finishes; one minute later a and b both submit large backlogs. With
// a decay window of an hour, a's past usage (≈ 6 instances) makes it yield:
// b takes most of the environment first. With a one-second window the past
// is forgotten and the split is even.
func TestDecayedUsageYields(t *testing.T) {
	start := t0 + 61*60*1000
	run := func(decay int32) *sim.Report {
		cfg := fairConfig(10, sim.Policy("fp", decay, 0))
		cfg.Until = start + 1
		jobs := sim.Backlog("warm", fairQ, "a", 10, 1, time.Hour, t0)
		jobs = append(jobs, sim.Backlog("a", fairQ, "a", 50, 1, time.Hour, start)...)
		jobs = append(jobs, sim.Backlog("b", fairQ, "b", 50, 1, time.Hour, start)...)
		return sim.Run(cfg, jobs)
	}
	remembered := run(3600)
	a, b := remembered.AllocationAt(share("a"), start), remembered.AllocationAt(share("b"), start)
	if b < 8 || a+b != 10 {
		t.Errorf("decay 3600s: after a's hour alone the split is a=%d b=%d, want b ≥ 8", a, b)
	}
	forgotten := run(1)
	a, b = forgotten.AllocationAt(share("a"), start), forgotten.AllocationAt(share("b"), start)
	if a != 5 || b != 5 {
		t.Errorf("decay 1s: the split is a=%d b=%d, want 5 and 5", a, b)
	}
}

// TestFIFORunKeepsOrderAndCapacity plays a mixed-size FIFO workload and checks
// that placements follow arrival order and capacity is never exceeded.
func TestFIFORunKeepsOrderAndCapacity(t *testing.T) {
	q := model.LocalAccount.ARN(model.KindJobQueue, "fifo")
	cfg := sim.Config{
		Environments: []model.ServiceEnvironment{sim.Env("plan", 8)},
		Queues:       []model.JobQueue{sim.Queue("fifo", 1, "", "plan")},
		Start:        t0,
	}
	jobs := sim.Poisson(3, "j", q, "", 400, t0, 20*time.Second, 30*time.Second, 10*time.Minute, 1)
	for i := range jobs {
		jobs[i].Instances = int64(1 + i%5)
	}
	r := sim.Run(cfg, jobs)
	if len(r.Admissions) != len(jobs) || r.Unfinished != 0 {
		t.Fatalf("placed %d of %d jobs, %d unfinished", len(r.Admissions), len(jobs), r.Unfinished)
	}
	for i, a := range r.Admissions {
		if a.JobID != jobs[i].ID {
			t.Fatalf("placement %d is %s, want %s (arrival order)", i, a.JobID, jobs[i].ID)
		}
	}
	if m := r.MaxInUse[cfg.Environments[0].Arn]; m > 8 {
		t.Fatalf("max in use %d > capacity 8", m)
	}
	if w := r.Waits(nil); w.Count != len(jobs) || w.P50 > w.P90 || w.P90 > w.P99 || w.P99 > w.Max {
		t.Fatalf("wait percentiles out of order: %v", w)
	}
}

// TestTimeLimitUnblocksQueue: a job that can never fit blocks a FIFO queue
// until its time limit action ends it; the jobs behind it then run.
func TestTimeLimitUnblocksQueue(t *testing.T) {
	q := model.LocalAccount.ARN(model.KindJobQueue, "fifo")
	queue := sim.Queue("fifo", 1, "", "plan")
	queue.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{{
		Action: model.TimeLimitActionTerminate, MaxTimeSeconds: 600, Reason: model.ReasonMisconfiguration, State: "RUNNABLE",
	}}
	cfg := sim.Config{
		Environments: []model.ServiceEnvironment{sim.Env("plan", 4)},
		Queues:       []model.JobQueue{queue},
		Start:        t0,
		Tick:         time.Minute,
	}
	jobs := []sim.Job{{ID: "huge", Queue: q, Instances: 5, Arrival: t0, Duration: time.Minute}}
	jobs = append(jobs, sim.Backlog("small", q, "", 3, 1, time.Minute, t0+1000)...)
	r := sim.Run(cfg, jobs)
	if got := r.Terminated["huge"]; got != "Terminated by JobStateTimeLimit action due to reason: "+model.ReasonMisconfiguration {
		t.Fatalf("huge ended with %q", got)
	}
	if len(r.Admissions) != 3 {
		t.Fatalf("admitted %d jobs after the head was ended, want 3", len(r.Admissions))
	}
	if w := r.Admissions[0].Wait; w < 10*time.Minute-time.Second || w > 11*time.Minute {
		t.Fatalf("the job behind the blocked head waited %v, want about 10 minutes", w)
	}
}
