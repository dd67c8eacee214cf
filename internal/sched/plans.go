package sched

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
)

// PlanView is a SageMaker training plan as a pass sees it: the engine
// describes the plan (and caches it) and hands Plan this pure view. Every
// environment whose TrainingPlanArn names the plan draws on one pool of
// Capacity instances; an environment naming a plan that has no view is not
// limited by it.
type PlanView struct {
	Arn  string
	Name string
	// Status is SageMaker's status of the plan when it was last described
	// ("" when it never was).
	Status string
	// Capacity is what the plan can give now, to sagequeue's jobs and
	// anyone else's: 0 outside its windows.
	Capacity int64
	// Windows are the plan's windows in order of start, each ending where
	// its usable part does (model.TrainingPlan.Windows). Capacity drops to
	// 0 at the end of the current one: backfill reads them as future
	// changes of capacity.
	Windows []model.PlanWindow
	// InstanceTypes are the instance types the plan reserves; a job of
	// another type cannot run on it. Empty means any.
	InstanceTypes []string
	// Error says why the plan could not be described, when it could not
	// and nothing is known of it: it then offers nothing.
	Error string
}

// Current returns the window in force at now, if any.
func (v *PlanView) Current(now int64) (model.PlanWindow, bool) {
	return model.WindowAt(v.Windows, now)
}

// Next returns the first window that starts after now, if any.
func (v *PlanView) Next(now int64) (model.PlanWindow, bool) {
	return model.NextWindow(v.Windows, now)
}

// NextFitting returns the first window that starts after now and is long
// enough for a job of runtime bound seconds, if any.
func (v *PlanView) NextFitting(now, bound int64) (model.PlanWindow, bool) {
	for _, w := range v.Windows {
		if w.Start > now && w.End-w.Start >= bound*1000 {
			return w, true
		}
	}
	return model.PlanWindow{}, false
}

// planState is a plan's pool during a pass.
type planState struct {
	view *PlanView
	free int64
	// largest is the most instances any window of the plan offers; 0 when
	// that is not known.
	largest int64
}

func newPlanState(v *PlanView) *planState {
	ps := &planState{view: v, free: v.Capacity}
	if v.Error == "" {
		for _, w := range v.Windows {
			ps.largest = max(ps.largest, w.Instances)
		}
	}
	return ps
}

func (ps *planState) takes(instanceType string) bool {
	if instanceType == "" || len(ps.view.InstanceTypes) == 0 {
		return true
	}
	for _, t := range strings.Split(instanceType, "+") {
		if !slices.Contains(ps.view.InstanceTypes, t) {
			return false
		}
	}
	return true
}

// maxHeldPerLine bounds the jobs of one line a pass passes over because a
// plan's window ends too soon for them: a line of long jobs must not make a
// pass read its whole backlog. Past it the line waits as behind any head
// that does not fit (FIFO order, as AWS Batch keeps it). The jobs passed
// over stay at the front, so the bound is also how deep behind them a
// short job may be and still use the window.
const maxHeldPerLine = 256

// planHold is why a plan, and nothing else, keeps a job from starting.
type planHold int

const (
	holdNone   planHold = iota
	holdClosed          // the plan offers nothing now
	holdShort           // the job would outlast the current window
	holdType            // the plan reserves another instance type
)

// planRefusal records the first plan that held a job back, for its reason.
type planRefusal struct {
	hold planHold
	plan *planState
	win  model.PlanWindow
}

// check says whether plan ps lets candidate c start now in an environment
// of queue qs; it does not look at free capacity.
func (p *pass) check(ps *planState, qs *queueState, e *envState, c *Candidate) (planHold, model.PlanWindow) {
	if !ps.takes(c.InstanceType) {
		return holdType, model.PlanWindow{}
	}
	w, open := ps.view.Current(p.now)
	if !open || ps.view.Capacity <= 0 || ps.view.Error != "" {
		return holdClosed, w
	}
	if !e.partial && !qs.q.PartialWindows && p.now+max(c.RuntimeBound, 0)*1000 > w.End {
		return holdShort, w
	}
	return holdNone, w
}

// reasonKey is what a plan's reason depends on.
type reasonKey struct {
	hold         planHold
	plan         *planState
	win          model.PlanWindow
	bound        int64
	instanceType string
}

// reasonText is r.reason, once per pass for each distinct text.
func (p *pass) reasonText(r *planRefusal, c *Candidate) string {
	k := reasonKey{hold: r.hold, plan: r.plan, win: r.win}
	switch r.hold {
	case holdShort:
		k.bound = c.RuntimeBound
	case holdType:
		k.instanceType = c.InstanceType
	}
	if t, ok := p.texts[k]; ok {
		return t
	}
	if p.texts == nil {
		p.texts = map[reasonKey]string{}
	}
	t := r.reason(c, p.now)
	p.texts[k] = t
	return t
}

// reason is the statusReason of a job held back by r.
func (r *planRefusal) reason(c *Candidate, now int64) string {
	v := r.plan.view
	name := v.Name
	if name == "" {
		name = v.Arn
	}
	switch r.hold {
	case holdType:
		return fmt.Sprintf("%s - Training plan %s reserves %s instances; the job asks for %s.",
			model.ReasonMisconfiguration, name, strings.Join(v.InstanceTypes, ", "), c.InstanceType)
	case holdShort:
		msg := fmt.Sprintf("%s - The job's runtime bound (%s) does not fit in the current window of training plan %s, which ends at %s",
			model.ReasonPlanWindowTooShort, seconds(c.RuntimeBound), name, stamp(r.win.End))
		if w, ok := v.NextFitting(now, c.RuntimeBound); ok {
			return msg + fmt.Sprintf("; it starts in the window that opens at %s.", stamp(w.Start))
		}
		return msg + "; no later window of the plan is long enough (set partialWindows to start it anyway)."
	}
	msg := fmt.Sprintf("%s - Training plan %s", model.ReasonPlanNotActive, name)
	switch {
	case v.Error != "":
		return msg + " could not be described: " + v.Error
	case v.Status != "" && v.Status != model.PlanScheduled && v.Status != model.PlanActive:
		msg += " is " + v.Status
	default:
		if _, open := v.Current(now); open {
			msg += " has no healthy instances now"
		} else {
			msg += " is not in a window"
		}
	}
	if w, ok := v.Next(now); ok {
		return msg + fmt.Sprintf("; its next window opens at %s.", stamp(w.Start))
	}
	return msg + "; it has no more windows."
}

// stamp renders a time in a reason: absolute, so that the reason does not
// change from one pass to the next.
func stamp(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func seconds(s int64) string {
	return (time.Duration(s) * time.Second).String()
}

// holdQueue gives every loaded job of a queue whose plans offer nothing the
// reason the head got: none of them can start until a window opens.
func (p *pass) holdQueue(qs *queueState, reason string) {
	var held []*Candidate
	for _, l := range qs.lines {
		for _, i := range l.jobs.items {
			c := &p.s.Runnable[i]
			if _, set := p.reasonAt[c.JobID]; set || p.reasoned[c.JobID] {
				continue
			}
			p.reasoned[c.JobID] = true
			if c.StatusReason == "" || model.IsPlanReason(c.StatusReason) {
				held = append(held, c)
			}
		}
	}
	p.setReasons(held, reason)
}

// clearPlanReasons clears the plan reasons of loaded jobs that the pass
// neither placed nor held back for a plan: the plan no longer holds them.
func (p *pass) clearPlanReasons() {
	admitted := make(map[string]bool, len(p.out.Admit))
	for _, a := range p.out.Admit {
		admitted[a.JobID] = true
	}
	var stale []*Candidate
	for i := range p.s.Runnable {
		c := &p.s.Runnable[i]
		if _, set := p.reasonAt[c.JobID]; set || p.reasoned[c.JobID] || admitted[c.JobID] || !model.IsPlanReason(c.StatusReason) {
			continue
		}
		p.reasoned[c.JobID] = true
		stale = append(stale, c)
	}
	p.setReasons(stale, "")
}

// setReasons gives jobs a reason, in the order of their ids so that a pass
// does not depend on the order of its snapshot.
func (p *pass) setReasons(jobs []*Candidate, reason string) {
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].JobID < jobs[b].JobID })
	for _, c := range jobs {
		p.setReason(c, reason, 0)
	}
}

// holdMs is how long a job placed in environment e now holds its instances:
// its runtime bound, cut at the end of the plan window in force when the job
// may outlast it (partial windows): the plan takes the instances back then.
func (p *pass) holdMs(qs *queueState, e *envState, c *Candidate) int64 {
	d := boundMs(c.RuntimeBound)
	if e.plan != nil && (e.partial || qs.q.PartialWindows) {
		if w, ok := e.plan.view.Current(p.now); ok {
			d = min(d, max(w.End-p.now, 1))
		}
	}
	return d
}

// capacitySteps is an environment's capacity from now on as backfill's
// profile starts from it: its maxCapacity, or, on a training plan, what the
// plan gives in each of its windows (capped by maxCapacity) and nothing
// between them, so that no reservation lands where the plan offers
// nothing. (The environments sharing a plan each see the whole plan here;
// the shared pool caps what starts now.)
func (p *pass) capacitySteps(e *envState) []step {
	ps := e.plan
	if ps == nil || ps.view.Error != "" && len(ps.view.Windows) == 0 {
		return []step{{At: p.now, Instances: e.max}}
	}
	steps := []step{{At: p.now, Instances: 0}}
	for _, w := range ps.view.Windows {
		if w.End <= p.now {
			continue
		}
		n := min(e.max, w.Instances)
		if w.Start <= p.now {
			n = min(e.max, ps.view.Capacity)
		}
		steps = append(steps, step{At: max(w.Start, p.now), Instances: n}, step{At: w.End, Instances: 0})
	}
	return steps
}
