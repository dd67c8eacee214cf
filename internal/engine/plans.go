package engine

import (
	"context"
	"errors"
	"sort"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
	"github.com/sagequeue/sagequeue/internal/sched"
)

// PlanState is a training plan as one pass saw it, for observers
// (metrics): what it gives now and how much of that sagequeue's jobs hold.
type PlanState struct {
	Arn, Name string
	// Capacity is what the plan gives now (0 outside its windows); InUse
	// the instances sagequeue's jobs hold in the environments drawing on it.
	Capacity, InUse int64
	// Open says a window of the plan is in force.
	Open bool
	At   int64 // epoch ms
}

// PlanObserver is an Observer that also wants to hear about training plans
// after every pass. It is a separate interface so that observers without
// interest in plans need not change.
type PlanObserver interface {
	PlanObserved(p PlanState)
}

// readPlans describes (through the cache) the plans the environments name
// and adds the scheduler's view of each, at now, to the snapshot.
func (e *Engine) readPlans(ctx context.Context, w *world) {
	arns := map[string]bool{}
	for _, env := range w.envs {
		if env.TrainingPlanArn != "" {
			arns[env.TrainingPlanArn] = true
		}
	}
	sorted := make([]string, 0, len(arns))
	for arn := range arns {
		sorted = append(sorted, arn)
	}
	sort.Strings(sorted)
	now := e.nowMs()
	w.plans, w.describedAt, w.snap.Plans = map[string]int{}, 0, w.snap.Plans[:0]
	for _, arn := range sorted {
		p, err := e.cfg.Plans.Plan(ctx, arn)
		if err != nil {
			e.cfg.Logger.Warn("describing a training plan", "plan", arn, "err", err)
		}
		if p != nil && (w.describedAt == 0 || p.DescribedAt < w.describedAt) {
			w.describedAt = p.DescribedAt
		}
		w.plans[arn] = len(w.snap.Plans)
		w.snap.Plans = append(w.snap.Plans, PlanView(arn, p, err, now, e.cfg.PlanEndMargin.Milliseconds()))
	}
}

// refreshPlansAfterCapacityFailures reads the plans again when a job came
// back from a capacity failure after they were described: what the plans
// can give may have changed. In one process the engine that saw the failure
// invalidated its plans already; in the cloud the failure arrives at the
// statechange function, and the schedule function learns of it here, from
// the job.
func (e *Engine) refreshPlansAfterCapacityFailures(ctx context.Context, w *world, jobs map[string]*model.ServiceJob) {
	if len(w.plans) == 0 || w.describedAt == 0 {
		return // nothing described yet: the cache describes on its own
	}
	for _, j := range jobs {
		if model.ReasonCode(j.StatusReason) == model.ReasonCapacity && j.RunnableAt > w.describedAt {
			e.cfg.Plans.Invalidate()
			e.readPlans(ctx, w)
			return
		}
	}
}

// PlanView is the scheduler's view at now of a plan as described (p, or
// nil with the error that kept it from being described), with the usable
// part of each window ending margin ms before its reserved capacity does.
// Windows that have ended are left out.
func PlanView(arn string, p *model.TrainingPlan, err error, now, margin int64) sched.PlanView {
	v := sched.PlanView{Arn: arn, Name: model.PlanName(arn)}
	if p == nil {
		switch {
		case errors.Is(err, plans.ErrNotFound):
			v.Error = "SageMaker knows no such plan"
		case errors.Unwrap(err) != nil:
			v.Error = errorText(errors.Unwrap(err)) // the plan is named already
		case err != nil:
			v.Error = errorText(err)
		default:
			v.Error = "unknown error"
		}
		return v
	}
	v.Status, v.InstanceTypes = p.StatusAt(now), p.InstanceTypes()
	if p.Name != "" {
		v.Name = p.Name
	}
	for _, win := range p.Windows(margin) {
		if win.End > now {
			v.Windows = append(v.Windows, win)
		}
	}
	v.Capacity = p.CapacityAt(now, margin)
	return v
}

// planWindowEnd is when the usable part of the plan window in force at now
// ends for jobs placed in environment env; 0 when env draws on no plan.
func (w *world) planWindowEnd(env string, now int64) int64 {
	e := w.envs[env]
	if e == nil || e.TrainingPlanArn == "" {
		return 0
	}
	i, ok := w.plans[e.TrainingPlanArn]
	if !ok {
		return 0
	}
	if win, ok := w.snap.Plans[i].Current(now); ok {
		return win.End
	}
	return 0
}

// planInstanceType is the instance type of an environment's plan when the
// plan reserves exactly one, for payloads that name none.
func (e *Engine) planInstanceType(ctx context.Context, env *model.ServiceEnvironment) string {
	if env == nil || env.TrainingPlanArn == "" {
		return ""
	}
	p, _ := e.cfg.Plans.Plan(ctx, env.TrainingPlanArn)
	if p == nil {
		return ""
	}
	if types := p.InstanceTypes(); len(types) == 1 {
		return types[0]
	}
	return ""
}

// observePlans tells a PlanObserver what each plan gave and what
// sagequeue's jobs held of it after the pass.
func (e *Engine) observePlans(w *world, active []sched.Allocation) {
	po, ok := e.cfg.Observer.(PlanObserver)
	if !ok || len(w.plans) == 0 {
		return
	}
	now := e.nowMs()
	inUse := map[string]int64{}
	for _, a := range active {
		if env := w.envs[a.Environment]; env != nil && env.TrainingPlanArn != "" {
			inUse[env.TrainingPlanArn] += a.Instances
		}
	}
	for arn, i := range w.plans {
		v := &w.snap.Plans[i]
		_, open := v.Current(now)
		po.PlanObserved(PlanState{Arn: arn, Name: v.Name, Capacity: v.Capacity, InUse: inUse[arn], Open: open, At: now})
	}
}
