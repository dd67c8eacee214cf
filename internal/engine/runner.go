package engine

import (
	"context"
	"errors"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// Runner drives an Engine in one process (`sagequeue serve`): it runs a pass
// whenever something may have freed or asked for capacity — a submission, a
// state change, a configuration change — and on a tick for time limits,
// timeouts and reconciliation. Triggers that arrive during a pass coalesce
// into one more pass.
//
// Submissions coalesce further. A pass has a fixed cost (configuration, the
// jobs holding capacity, the heads of every line) whatever it promotes, and
// one-shot clients submit one job per request, so a pass per submission
// would spend most of the server on passes under a stream of them. A pass
// asked for only by submissions therefore starts no sooner than Coalesce, or
// as long as the previous pass took if that is longer, after the previous
// pass ended: at most half the time goes to passes, and every submission of
// the gap shares one. A submission to an idle server is not delayed (the
// previous pass ended long ago), and anything else that asks for a pass (a
// job that ended, a termination, a new configuration) gets one at once.
type Runner struct {
	e    *Engine
	tick time.Duration
	wake chan struct{}
	soft chan struct{} // submissions
	// Coalesce is the least time between the end of a pass and a pass
	// asked for only by submissions (10ms).
	Coalesce time.Duration
	events   chan events.TrainingJobStateChange
	// OnPass, if set, is told about every pass (metrics, tests).
	OnPass func(PassResult, error)
}

// NewRunner returns a Runner ticking every tick (1s if 0).
func NewRunner(e *Engine, tick time.Duration) *Runner {
	if tick <= 0 {
		tick = time.Second
	}
	return &Runner{
		e: e, tick: tick, wake: make(chan struct{}, 1), soft: make(chan struct{}, 1),
		Coalesce: 10 * time.Millisecond, events: make(chan events.TrainingJobStateChange, 4096),
	}
}

// Trigger asks for a pass now; it never blocks.
func (r *Runner) Trigger() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// TriggerSubmitted asks for a pass for a new submission: soon, but shared
// with the other submissions of a burst (see Runner); it never blocks.
func (r *Runner) TriggerSubmitted() {
	select {
	case r.soft <- struct{}{}:
	default:
	}
}

// Deliver queues a SageMaker state change; events are applied in order.
func (r *Runner) Deliver(ctx context.Context, ev events.TrainingJobStateChange) {
	select {
	case r.events <- ev:
	case <-ctx.Done():
	}
}

// Run runs passes until ctx ends, then gives the lease back. The first pass
// asks SageMaker about every job in flight, so whatever happened while the
// process was down is taken in.
func (r *Runner) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.applyEvents(ctx)
	}()
	ticker := time.NewTicker(r.tick)
	defer ticker.Stop()
	first := true
	for {
		var res PassResult
		var err error
		started := time.Now()
		if first {
			res, err = r.e.ScheduleAndReconcileAll(ctx)
		} else {
			res, err = r.e.Schedule(ctx)
		}
		ended := time.Now()
		first = first && (err != nil || res.Busy)
		if err != nil && ctx.Err() == nil {
			r.e.cfg.Logger.Error("scheduling pass failed", "err", err)
		}
		if r.OnPass != nil {
			r.OnPass(res, err)
		}
		if !r.await(ctx, ticker.C, ended.Add(max(r.Coalesce, ended.Sub(started)))) {
			<-done
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return r.e.Release(release)
		}
	}
}

// await waits until the next pass is due: at once for Trigger or the tick,
// and not before notBefore for TriggerSubmitted. It reports false when ctx
// ended.
func (r *Runner) await(ctx context.Context, tick <-chan time.Time, notBefore time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-r.wake:
		return true
	case <-tick:
		return true
	case <-r.soft:
	}
	wait := time.Until(notBefore)
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-r.wake:
	case <-tick:
	case <-t.C:
	}
	return true
}

func (r *Runner) applyEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-r.events:
			out, err := r.e.ApplyTrainingJobEvent(ctx, ev)
			if err != nil && !errors.Is(err, context.Canceled) {
				r.e.cfg.Logger.Warn("applying a training job state change", "trainingJob", ev.Detail.TrainingJobName, "err", err)
				continue
			}
			if out.Released {
				r.Trigger()
			}
		}
	}
}

// JobChanged implements api.Hooks: the API stored or changed a job. Every
// such change can alter what a pass would do (a new job, a terminated head,
// a new priority, a stop to request), so it asks for one; a new submission
// asks for one that it may share (TriggerSubmitted).
func (r *Runner) JobChanged(ctx context.Context, j *model.ServiceJob, previous model.JobStatus) {
	if j.Status != previous {
		r.e.publish(ctx, j)
	}
	r.e.observeTransition(previous, j)
	if previous == "" {
		r.TriggerSubmitted()
		return
	}
	r.Trigger()
}

// ConfigChanged implements api.Hooks: capacity or order may have changed.
func (r *Runner) ConfigChanged(context.Context) { r.Trigger() }
