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
// into one more pass, so a burst of submissions costs a few passes, not one
// each.
type Runner struct {
	e      *Engine
	tick   time.Duration
	wake   chan struct{}
	events chan events.TrainingJobStateChange
	// OnPass, if set, is told about every pass (metrics, tests).
	OnPass func(PassResult, error)
}

// NewRunner returns a Runner ticking every tick (1s if 0).
func NewRunner(e *Engine, tick time.Duration) *Runner {
	if tick <= 0 {
		tick = time.Second
	}
	return &Runner{e: e, tick: tick, wake: make(chan struct{}, 1), events: make(chan events.TrainingJobStateChange, 4096)}
}

// Trigger asks for a pass soon; it never blocks.
func (r *Runner) Trigger() {
	select {
	case r.wake <- struct{}{}:
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
		if first {
			res, err = r.e.ScheduleAndReconcileAll(ctx)
		} else {
			res, err = r.e.Schedule(ctx)
		}
		first = first && (err != nil || res.Busy)
		if err != nil && ctx.Err() == nil {
			r.e.cfg.Logger.Error("scheduling pass failed", "err", err)
		}
		if r.OnPass != nil {
			r.OnPass(res, err)
		}
		select {
		case <-ctx.Done():
			<-done
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return r.e.Release(release)
		case <-r.wake:
		case <-ticker.C:
		}
	}
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
// a new priority, a stop to request), and a pass is cheap, so it asks for one.
func (r *Runner) JobChanged(ctx context.Context, j *model.ServiceJob, previous model.JobStatus) {
	if j.Status != previous {
		r.e.publish(ctx, j)
	}
	r.e.observeTransition(previous, j)
	r.Trigger()
}

// ConfigChanged implements api.Hooks: capacity or order may have changed.
func (r *Runner) ConfigChanged(context.Context) { r.Trigger() }
