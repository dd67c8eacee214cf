package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// benchSnapshot is a busy fair-share installation: one environment of 1,000
// instances, half of them in use, and jobs RUNNABLE jobs of 1 to 4 instances
// over 500 shares, each share with a weight and a usage record.
func benchSnapshot(jobs int) *sched.Snapshot {
	const shares, capacity = 500, 1000
	rng := rand.New(rand.NewPCG(uint64(jobs), 1))
	var weights []model.ShareAttributes
	for i := range 100 {
		weights = append(weights, weight(fmt.Sprintf("team%03d", i), 0.1+rng.Float64()*2))
	}
	weights = append(weights, weight("user*", 0.5))
	s := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("plan", capacity)},
		Queues:       []model.JobQueue{sim.Queue("fair", 1, "fp", "plan")},
		Policies:     []model.SchedulingPolicy{sim.Policy("fp", 3600, 10, weights...)},
	}
	name := func(i int) string {
		if i < 100 {
			return fmt.Sprintf("team%03d", i)
		}
		return fmt.Sprintf("user%03d", i)
	}
	for i := range capacity / 2 {
		s.Active = append(s.Active, sched.Allocation{
			JobID: fmt.Sprintf("r%d", i), Queue: fair, Share: name(i % shares), Environment: arn(model.KindServiceEnvironment, "plan"), Instances: 1,
			Since: now - int64(rng.IntN(3_600_000)), RuntimeBound: int64(600 + rng.IntN(86_400)),
		})
	}
	for i := range shares {
		s.Usage = append(s.Usage, model.ShareUsage{Queue: fair, Share: name(i), Instances: rng.Float64() * 4, AsOf: now - 60_000})
	}
	for i := range jobs {
		s.Runnable = append(s.Runnable, sched.Candidate{
			JobID: fmt.Sprintf("j%07d", i), Queue: fair, Share: name(rng.IntN(shares)),
			Priority: int32(rng.IntN(10)), CreatedAt: now - int64(rng.IntN(86_400_000)), Instances: int64(1 + rng.IntN(4)),
			RuntimeBound: int64(600 + rng.IntN(86_400)),
		})
	}
	return s
}

func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		s := benchSnapshot(n)
		b.Run(fmt.Sprintf("runnable=%d", n), func(b *testing.B) {
			var admitted int
			for b.Loop() {
				admitted = len(sched.Plan(s, now).Admit)
			}
			b.ReportMetric(float64(admitted), "admitted/pass")
		})
	}
}

// BenchmarkPlanBackfill is BenchmarkPlan (fair share) and BenchmarkPlanFIFO
// with backfill on: once the environment is full, each pass also makes
// MaxReservations reservations.
func BenchmarkPlanBackfill(b *testing.B) {
	for _, policy := range []string{"fp", ""} {
		kind := map[string]string{"fp": "fair", "": "fifo"}[policy]
		for _, n := range []int{1_000, 10_000, 100_000} {
			s := benchSnapshot(n)
			q := sim.Queue("fair", 1, policy, "plan")
			q.Backfill = true
			s.Queues = []model.JobQueue{q}
			b.Run(fmt.Sprintf("%s/runnable=%d", kind, n), func(b *testing.B) {
				var d sched.Decisions
				for b.Loop() {
					d = sched.Plan(s, now)
				}
				b.ReportMetric(float64(len(d.Admit)), "admitted/pass")
				b.ReportMetric(float64(len(d.Reservations)), "reserved/pass")
			})
		}
	}
}

// BenchmarkPlanFIFO is the same backlog in one FIFO queue.
func BenchmarkPlanFIFO(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		s := benchSnapshot(n)
		s.Queues = []model.JobQueue{sim.Queue("fair", 1, "", "plan")}
		b.Run(fmt.Sprintf("runnable=%d", n), func(b *testing.B) {
			var admitted int
			for b.Loop() {
				admitted = len(sched.Plan(s, now).Admit)
			}
			b.ReportMetric(float64(admitted), "admitted/pass")
		})
	}
}
