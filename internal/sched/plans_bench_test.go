package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// BenchmarkPlanOnTrainingPlan is BenchmarkPlanFIFO's backlog on an
// environment drawing on a training plan whose window has an hour left:
// runtime bounds from a minute to two hours, so that end-aware admission
// holds about half of the jobs it reaches and lets the others by.
func BenchmarkPlanOnTrainingPlan(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		s := benchSnapshot(n)
		s.Queues = []model.JobQueue{sim.Queue("fair", 1, "", "plan")}
		s.Environments[0].TrainingPlanArn = planArn
		s.Plans = []sched.PlanView{plan(window(-3600, 3600, 1000), window(7200, 14400, 1000))}
		rng := rand.New(rand.NewPCG(uint64(n), 2))
		for i := range s.Runnable {
			s.Runnable[i].RuntimeBound = int64(60 + rng.IntN(7200))
			s.Runnable[i].InstanceType = "ml.p5.48xlarge"
		}
		b.Run(fmt.Sprintf("runnable=%d", n), func(b *testing.B) {
			var admitted int
			for b.Loop() {
				admitted = len(sched.Plan(s, now).Admit)
			}
			b.ReportMetric(float64(admitted), "admitted/pass")
		})
	}
}
