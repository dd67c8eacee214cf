package engine

import (
	"context"
	"time"
)

// budget is a pass's time: in Lambda, the invocation's deadline, which the
// handler's context carries. A pass that runs into it is killed with its
// work half done and its lease held until the lease expires, so a pass
// with a deadline ends by end, leaving the rest of the time (a tenth, at
// least 200 ms, at most 3 s) to give the lease back and log; and its
// phases stop taking on work at their share of the budget, so that
// whatever else waits, there is always time to plan, admit and launch.
// Without a deadline (`sagequeue serve`) nothing is cut short.
//
// The budget is wall-clock time, as the deadline is, whatever clock the
// engine plans with.
type budget struct {
	start, end time.Time // end is zero without a deadline
}

// The phases' shares of a pass's budget: by then each phase starts no new
// work. Maintenance (stops, reconciliation) and promotion of SUBMITTED
// jobs leave what is left to the next pass; planning reads only the heads
// of the lines; admissions are applied until shareApply and launched until
// shareLaunch, and an admitted job not launched by then goes back to its
// line unlaunched.
//
// The phases whose writes may be cut short safely (a promotion, a stop, a
// reconciliation is all or nothing, and what was not done is done by the
// next pass), and planning, which writes nothing, are also cancelled at
// their cut: a store that answers slowly, as a throttled table does,
// cannot keep them from leaving the time to admit and launch. Admissions
// are not: the engine must know which it made, to launch them.
const (
	shareMaintain = 0.25
	cutMaintain   = 0.35
	sharePromote  = 0.45
	cutPromote    = 0.55
	cutPlan       = 0.70
	shareApply    = 0.75
	shareLaunch   = 0.85
)

func newBudget(ctx context.Context) budget {
	now := time.Now()
	dl, ok := ctx.Deadline()
	if !ok {
		return budget{start: now}
	}
	margin := min(max(dl.Sub(now)/10, 200*time.Millisecond), 3*time.Second)
	return budget{start: now, end: dl.Add(-margin)}
}

// by is when a phase with share of the budget stops; zero without a
// deadline.
func (b budget) by(share float64) time.Time {
	if b.end.IsZero() {
		return time.Time{}
	}
	return b.start.Add(time.Duration(float64(b.end.Sub(b.start)) * share))
}

// over reports whether the time of a phase ending at t (from by) is up.
func over(t time.Time) bool { return !t.IsZero() && !time.Now().Before(t) }

// phase returns the context of a phase cut at share of the budget (the
// pass's context without a deadline), and whether an error of the phase
// is its cut, which ends the phase rather than the pass.
func (b budget) phase(ctx context.Context, share float64) (context.Context, context.CancelFunc, func(error) bool) {
	if b.end.IsZero() {
		return ctx, func() {}, func(error) bool { return false }
	}
	pctx, cancel := context.WithDeadline(ctx, b.by(share))
	return pctx, cancel, func(err error) bool {
		return err != nil && pctx.Err() != nil && ctx.Err() == nil
	}
}
