package sim_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// workload is a random burst of 10-40 jobs of 1 to capacity instances
// whose runtime bounds are 1-30 minutes; exact makes every job run for
// exactly its bound, else it runs between 1 s and its bound.
func workload(rng *rand.Rand, queues []string, shares []string, capacity int64, exact bool) []sim.Job {
	var jobs []sim.Job
	at := t0
	for i := range 10 + rng.IntN(30) {
		at += int64(rng.IntN(300)) * 1000
		bound := time.Duration(1+rng.IntN(30)) * time.Minute
		d := bound
		if !exact && rng.IntN(3) > 0 {
			d = time.Duration(1+rng.Int64N(int64(bound/time.Second))) * time.Second
		}
		n := int64(1 + rng.IntN(int(capacity)))
		if rng.IntN(2) == 0 {
			n = int64(1 + rng.IntN(int(min(capacity, 2))))
		}
		jobs = append(jobs, sim.Job{
			ID: fmt.Sprintf("j%03d", i), Queue: queues[rng.IntN(len(queues))], Share: shares[rng.IntN(len(shares))],
			Instances: n, Arrival: at, Duration: d, MaxRuntime: bound,
		})
	}
	return jobs
}

const workloads = 2000

// tick is a random tick for a run: none, or a pass every 1-9 minutes. Ticks
// add passes at times when nothing happens; a reservation must hold across
// them as across the others.
func tick(rng *rand.Rand) time.Duration {
	if rng.IntN(3) == 0 {
		return -1
	}
	return time.Duration(1+rng.IntN(9)) * time.Minute
}

// TestPropertyReservationsHoldAcrossPasses plays thousands of random
// workloads, with runtimes shorter than their bounds, through a backfill
// queue (FIFO or fair share) with a lower-priority queue (with or without
// backfill) on the same environment, and follows every pass: a job of the
// backfill queue, once reserved, is never reserved later in a later pass,
// and starts no later than its last reservation; capacity is never
// exceeded.
func TestPropertyReservationsHoldAcrossPasses(t *testing.T) {
	for seed := range uint64(workloads) {
		rng := rand.New(rand.NewPCG(seed, 11))
		capacity := int64(1 + rng.IntN(12))
		policy := ""
		var policies []model.SchedulingPolicy
		if rng.IntN(2) == 0 {
			policy = "fp"
			policies = append(policies, sim.Policy("fp", int32(rng.IntN(3600)), 0, weight("a", 1), weight("b", 0.25+rng.Float64())))
		}
		top := sim.Queue("top", 10, policy, "plan")
		top.Backfill = true
		low := sim.Queue("low", 1, "", "plan")
		low.Backfill = rng.IntN(2) == 0
		cfg := sim.Config{
			Environments: []model.ServiceEnvironment{sim.Env("plan", capacity)},
			Queues:       []model.JobQueue{top, low}, Policies: policies, Start: t0, Tick: tick(rng),
		}
		jobs := workload(rng, []string{top.Arn, top.Arn, low.Arn}, []string{"a", "b"}, capacity, false)
		last := map[string]int64{} // job -> its latest reservation
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (capacity %d, fair share %v, low backfills %v): %s", seed, capacity, policy != "", low.Backfill, fmt.Sprintf(format, args...))
		}
		cfg.OnPass = func(now int64, _ *sched.Snapshot, d *sched.Decisions) {
			for _, a := range d.Admit {
				if r, ok := last[a.JobID]; ok && now > r {
					fail("%s started at +%ds, after its reservation at +%ds", a.JobID, (now-t0)/1000, (r-t0)/1000)
				}
				delete(last, a.JobID)
			}
			for _, r := range d.Reservations {
				if r.Queue != top.Arn {
					continue
				}
				if prev, ok := last[r.JobID]; ok && r.At > prev {
					fail("pass at +%ds moved %s's reservation from +%ds to +%ds", (now-t0)/1000, r.JobID, (prev-t0)/1000, (r.At-t0)/1000)
				}
				last[r.JobID] = r.At
			}
		}
		r := sim.Run(cfg, jobs)
		if m := r.MaxInUse[cfg.Environments[0].Arn]; m > capacity {
			fail("%d instances in use, capacity %d", m, capacity)
		}
		if r.Unfinished != 0 {
			fail("%d jobs unfinished", r.Unfinished)
		}
	}
}

// TestPropertyBackfillNeverLaterThanFIFO: when jobs run exactly as long as
// their runtime bounds, no job of a FIFO queue starts later with backfill
// than without it, over thousands of random workloads; and some start
// earlier.
func TestPropertyBackfillNeverLaterThanFIFO(t *testing.T) {
	earlier := 0
	for seed := range uint64(workloads) {
		rng := rand.New(rand.NewPCG(seed, 12))
		capacity := int64(1 + rng.IntN(12))
		jobs := workload(rng, []string{fifoQ}, []string{""}, capacity, true)
		every := tick(rng)
		starts := func(backfill bool) map[string]int64 {
			cfg := fifoConfig(capacity)
			cfg.Queues[0].Backfill, cfg.Tick = backfill, every
			out := map[string]int64{}
			for _, a := range sim.Run(cfg, jobs).Admissions {
				out[a.JobID] = a.At
			}
			return out
		}
		fifo, backfill := starts(false), starts(true)
		if len(fifo) != len(jobs) || len(backfill) != len(jobs) {
			t.Fatalf("seed %d: placed %d jobs without backfill and %d with, of %d", seed, len(fifo), len(backfill), len(jobs))
		}
		for _, j := range jobs {
			if backfill[j.ID] > fifo[j.ID] {
				t.Fatalf("seed %d (capacity %d): %s started at +%ds with backfill, +%ds without", seed, capacity, j.ID, (backfill[j.ID]-t0)/1000, (fifo[j.ID]-t0)/1000)
			}
			if backfill[j.ID] < fifo[j.ID] {
				earlier++
			}
		}
	}
	if earlier == 0 {
		t.Fatal("backfill never started a job earlier than FIFO: the workloads do not exercise it")
	}
	t.Logf("%d jobs started earlier with backfill", earlier)
}
