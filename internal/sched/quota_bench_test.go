package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
)

// quotaBenchSnapshot is a busy quota management queue: an environment of
// 1,000 ml.p5.48xlarge and 200 ml.g6.xlarge, 20 shares (the AWS maximum)
// of every strategy with quotas summing to the environment, the
// environment full with borrowers holding a quarter of it, and jobs RUNNABLE
// jobs spread over the shares: a pass that admits little and preempts to
// give lenders their quota back.
func quotaBenchSnapshot(jobs int) *sched.Snapshot {
	const shares = 20
	rng := rand.New(rand.NewPCG(uint64(jobs), 2))
	s := quotaWorld(map[string]int64{p5: 1000, g6: 200})
	strategies := []string{model.SharingReserve, model.SharingLend, model.SharingLendAndBorrow, model.SharingLendAndBorrow}
	for i := range shares {
		s.QuotaShares = append(s.QuotaShares, share(fmt.Sprintf("s%02d", i), strategies[i%4], -1, i%2 == 0, map[string]int64{p5: 1000 / shares, g6: 200 / shares}))
	}
	// Borrowers (LEND_AND_BORROW shares) hold 1.5x their quota, the others
	// half of theirs: the environment is full.
	n := 0
	for i := range shares {
		held := map[string]int64{p5: 25, g6: 5}
		if i%4 >= 2 {
			held = map[string]int64{p5: 75, g6: 15}
		}
		for _, t := range []string{p5, g6} {
			for range held[t] {
				s.Active = append(s.Active, qrun(fmt.Sprintf("r%05d", n), fmt.Sprintf("s%02d", i), t, int32(rng.IntN(10)), int64(rng.IntN(3600)), 1))
				n++
			}
		}
	}
	for i := range jobs {
		t := p5
		if rng.IntN(5) == 0 {
			t = g6
		}
		s.Runnable = append(s.Runnable, qjob(fmt.Sprintf("j%06d", i), fmt.Sprintf("s%02d", rng.IntN(shares)), t, int32(rng.IntN(10)), int64(rng.IntN(86400)), int64(1+rng.IntN(4))))
	}
	return s
}

func BenchmarkPlanQuota(b *testing.B) {
	for _, jobs := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(jobs), func(b *testing.B) {
			s := quotaBenchSnapshot(jobs)
			d := sched.Plan(s, now)
			if len(d.Preempt) == 0 {
				b.Fatal("the benchmark's snapshot preempts nothing")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				sched.Plan(s, now)
			}
		})
	}
}
