package sched_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
)

// quotaSim runs passes of Plan over a quota-management queue. Admitted jobs
// run until the end; a preempted job keeps its capacity for stopDelay
// passes (SageMaker stopping it), then goes back to RUNNABLE.
type quotaSim struct {
	s         *sched.Snapshot
	stopDelay int
	pass      int
	stopAt    map[string]int
	started   map[string]int // job -> pass it was last admitted in
	preempted map[string]int // job -> times preempted
}

func newQuotaSim(s *sched.Snapshot, stopDelay int) *quotaSim {
	return &quotaSim{s: s, stopDelay: stopDelay, stopAt: map[string]int{}, started: map[string]int{}, preempted: map[string]int{}}
}

func (q *quotaSim) step(t *testing.T) sched.Decisions {
	q.pass++
	// Victims whose stop time has come give their capacity back.
	var active []sched.Allocation
	for _, a := range q.s.Active {
		if at, ok := q.stopAt[a.JobID]; ok && at <= q.pass {
			delete(q.stopAt, a.JobID)
			q.s.Runnable = append(q.s.Runnable, sched.Candidate{JobID: a.JobID, Queue: a.Queue, Share: a.Share, Priority: a.Priority,
				CreatedAt: now - 1_000_000, Instances: a.Instances, InstanceType: a.InstanceType})
			continue
		}
		active = append(active, a)
	}
	q.s.Active = active
	at := now + int64(q.pass)*1000
	d := sched.Plan(q.s, at)
	admitted := map[string]bool{}
	for _, ad := range d.Admit {
		admitted[ad.JobID] = true
		q.started[ad.JobID] = q.pass
	}
	var waiting []sched.Candidate
	for _, c := range q.s.Runnable {
		if admitted[c.JobID] {
			q.s.Active = append(q.s.Active, sched.Allocation{JobID: c.JobID, Queue: c.Queue, Share: c.Share, Environment: q.s.Environments[0].Arn,
				Instances: c.Instances, InstanceType: c.InstanceType, Priority: c.Priority, Since: at})
			continue
		}
		waiting = append(waiting, c)
	}
	q.s.Runnable = waiting
	for _, p := range d.Preempt {
		for i := range q.s.Active {
			if q.s.Active[i].JobID == p.JobID {
				if q.s.Active[i].Stopping {
					t.Fatalf("pass %d: %s preempted while already stopping", q.pass, p.JobID)
				}
				q.s.Active[i].Stopping = true
				q.stopAt[p.JobID] = q.pass + q.stopDelay
				q.preempted[p.JobID]++
			}
		}
	}
	// Capacity is never over the environment's limits.
	used := map[string]int64{}
	for _, a := range q.s.Active {
		used[a.InstanceType] += a.Instances
	}
	for typ, n := range used {
		if n > q.s.Environments[0].Limit(typ) {
			t.Fatalf("pass %d: %d %s in use, limit %d", q.pass, n, typ, q.s.Environments[0].Limit(typ))
		}
	}
	return d
}

// TestQuotaSimLenderGetsQuotaBack: a borrower fills the environment, then
// the lender's jobs (within its quota) arrive. The lender's jobs must all be
// running within one pass plus the victims' stop time, and no more jobs are
// preempted than instances are given back.
func TestQuotaSimLenderGetsQuotaBack(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 15))
		limit := int64(2 + rng.IntN(10))
		lenderQuota := 1 + rng.Int64N(limit-1)
		s := quotaWorld(map[string]int64{p5: limit})
		lendStrategy := []string{model.SharingLend, model.SharingLendAndBorrow}[rng.IntN(2)]
		s.QuotaShares = []model.QuotaShare{
			share("borrower", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: limit - lenderQuota}),
			share("lender", lendStrategy, -1, false, map[string]int64{p5: lenderQuota}),
		}
		for i := range limit {
			s.Runnable = append(s.Runnable, qjob(fmt.Sprintf("b%02d", i), "borrower", p5, int32(rng.IntN(3)), 100-i, 1))
		}
		stopDelay := rng.IntN(4)
		sim := newQuotaSim(s, stopDelay)
		sim.step(t)
		if len(sim.s.Active) != int(limit) {
			t.Fatalf("seed %d: the borrower holds %d of %d idle instances", seed, len(sim.s.Active), limit)
		}
		// The lender's jobs arrive, as many as its quota, in sizes of 1-2.
		var lenderJobs []string
		for got, i := int64(0), 0; got < lenderQuota; i++ {
			n := min(int64(1+rng.IntN(2)), lenderQuota-got)
			got += n
			id := fmt.Sprintf("l%02d", i)
			lenderJobs = append(lenderJobs, id)
			sim.s.Runnable = append(sim.s.Runnable, qjob(id, "lender", p5, 0, 0, n))
		}
		arrival := sim.pass + 1
		for range stopDelay + 2 {
			sim.step(t)
		}
		for _, id := range lenderJobs {
			at, ok := sim.started[id]
			if !ok || at > arrival+stopDelay+1 {
				t.Fatalf("seed %d: lender job %s started at pass %d (ok %v); it arrived at %d, victims stop in %d passes",
					seed, id, at, ok, arrival, stopDelay)
			}
		}
		var victims int64
		for range sim.preempted {
			victims++
		}
		if victims > lenderQuota {
			t.Fatalf("seed %d: %d jobs preempted to give back %d instances", seed, victims, lenderQuota)
		}
	}
}
