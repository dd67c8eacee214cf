package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/store"
)

// preempt applies the plan's preemptions: each victim is marked with the
// reason (a write fenced by the lease, so that a crash before the stop is
// finished by maintain), then its training job is stopped. The job keeps its
// capacity until SageMaker reports the attempt stopped; then it goes back to
// RUNNABLE without using a retry attempt (see advance).
func (e *Engine) preempt(ctx context.Context, lease *store.Lease, active []*model.ServiceJob, ps []sched.Preemption, res *PassResult) error {
	if len(ps) == 0 {
		return nil
	}
	byID := make(map[string]*model.ServiceJob, len(active))
	for _, j := range active {
		byID[j.JobID] = j
	}
	now := e.nowMs()
	var mu sync.Mutex
	return e.eachIndex(ctx, len(ps), func(i int) error {
		p := ps[i]
		cur := byID[p.JobID]
		if cur == nil || !cur.Status.HoldsCapacity() || cur.PreemptReason != "" || cur.TerminateReason != "" || cur.StopRequestedAt != 0 {
			return nil
		}
		j := *cur
		j.PreemptReason, j.UpdatedAt = p.Reason, now
		stored, err := e.cfg.Store.UpdateJob(ctx, &j, lease)
		if errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrLeaseLost) {
			return nil // changed under us: the next pass decides again
		}
		if err != nil {
			return err
		}
		if _, err := e.stop(ctx, stored, p.Reason); err != nil {
			// maintain stops it on a later pass.
			e.cfg.Logger.Warn("stopping a preempted job", "job", p.JobID, "err", err)
		}
		mu.Lock()
		res.Preempted++
		res.Stops++
		mu.Unlock()
		e.cfg.Logger.Info("preempted", "job", p.JobID, "for", p.For, "kind", p.Kind, "share", p.Share, "instances", p.Instances, "instanceType", p.InstanceType)
		return nil
	})
}
