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
// jobs take what is left to the next pass; planning has no share (it
// reads only the heads of the lines); admissions are applied until
// shareApply and launched until shareLaunch, and an admitted job not
// launched by then goes back to its line unlaunched.
const (
	shareMaintain = 0.25
	sharePromote  = 0.45
	shareApply    = 0.80
	shareLaunch   = 0.90
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
