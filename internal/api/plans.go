package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// PlanSource describes SageMaker training plans; *plans.Cache is one. A
// plan SageMaker does not know is an error wrapping model.ErrPlanNotFound.
type PlanSource interface {
	Plan(ctx context.Context, arn string) (*model.TrainingPlan, error)
}

func planNotFound(err error) bool { return errors.Is(err, model.ErrPlanNotFound) }

// queueEnvironments reads the environments of a queue that still exist.
func (h *Handler) queueEnvironments(ctx context.Context, q *model.JobQueue) ([]*model.ServiceEnvironment, error) {
	var out []*model.ServiceEnvironment
	for _, o := range q.ServiceEnvironmentOrder {
		_, name, _ := model.ParseARN(o.ServiceEnvironment)
		e, err := h.cfg.Store.GetEnvironment(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// checkPlanExists refuses an environment naming a training plan that
// cannot be described: its jobs could never run, and the caller should
// hear it now, naming the plan.
func (h *Handler) checkPlanExists(ctx context.Context, arn string) error {
	if arn == "" || h.cfg.Plans == nil {
		return nil
	}
	_, err := h.cfg.Plans.Plan(ctx, arn)
	switch {
	case err == nil:
		return nil
	case planNotFound(err):
		return model.Invalidf("trainingPlanArn", "training plan %s does not exist (DescribeTrainingPlan found no plan %s in its account and region)", arn, model.PlanName(arn))
	case errors.Is(err, context.Canceled):
		return err
	}
	return model.Invalidf("trainingPlanArn", "training plan %s cannot be described: %v", arn, err)
}

// checkPlanInstanceType refuses a payload whose instance type no training
// plan of its queue reserves, when every environment of the queue draws on
// a plan (payloads that name a plan are held to that plan): it would never
// run.
func (h *Handler) checkPlanInstanceType(ctx context.Context, q *model.JobQueue, tr model.TrainingRequest) error {
	if h.cfg.Plans == nil || tr.InstanceType == "" {
		return nil
	}
	envs, err := h.queueEnvironments(ctx, q)
	if err != nil {
		return err
	}
	type planTypes struct{ arn, types string }
	var seen []planTypes
	for _, e := range envs {
		if e.TrainingPlanArn == "" {
			return nil // an environment off any plan takes any type
		}
		if tr.TrainingPlanArn != "" && e.TrainingPlanArn != tr.TrainingPlanArn {
			continue
		}
		p, err := h.cfg.Plans.Plan(ctx, e.TrainingPlanArn)
		if p == nil || len(p.InstanceTypes()) == 0 {
			if err != nil && !planNotFound(err) {
				h.cfg.Logger.Warn("describing a training plan to check a submission", "plan", e.TrainingPlanArn, "err", err)
			}
			return nil // nothing known to refuse by
		}
		ok := true
		for _, t := range strings.Split(tr.InstanceType, "+") {
			ok = ok && slices.Contains(p.InstanceTypes(), t)
		}
		if ok {
			return nil
		}
		seen = append(seen, planTypes{e.TrainingPlanArn, strings.Join(p.InstanceTypes(), ", ")})
	}
	if len(seen) == 0 {
		return nil
	}
	var names []string
	for _, s := range seen {
		names = append(names, fmt.Sprintf("%s reserves %s", model.PlanName(s.arn), s.types))
	}
	return model.Invalidf("serviceRequestPayload.ResourceConfig.InstanceType",
		"%s is not the instance type of the training plans of job queue %s (%s); the job could never run",
		tr.InstanceType, q.Name, strings.Join(names, "; "))
}

type describeTrainingPlansRequest struct {
	// TrainingPlans names plans by ARN, or by name when an environment
	// names a plan of that name; none means every plan an environment
	// names.
	TrainingPlans []string `json:"trainingPlans,omitempty"`
}

type describeTrainingPlansResponse struct {
	TrainingPlans []trainingPlanDetail `json:"trainingPlans"`
}

// trainingPlanDetail is a plan as SageMaker describes it, with what
// sagequeue makes of it now.
type trainingPlanDetail struct {
	*model.TrainingPlan
	TrainingPlanArn  string `json:"trainingPlanArn"`
	TrainingPlanName string `json:"trainingPlanName"`
	// Status is the plan's status now, from its windows' times
	// (model.TrainingPlan.StatusAt); DescribedStatus what SageMaker said
	// at describedAt.
	Status          string   `json:"status,omitempty"`
	DescribedStatus string   `json:"describedStatus,omitempty"`
	InstanceTypes   []string `json:"instanceTypes"`
	// Windows are the stretches of time the plan offers instances, each
	// usable until SageMaker begins to take the instances back.
	Windows []model.PlanWindow `json:"windows"`
	// CapacityNow is what the plan gives now; WindowEnd when the usable
	// part of the window in force ends, NextWindowStart when the next
	// window opens (0 when there is none).
	CapacityNow     int64 `json:"capacityNow"`
	WindowEnd       int64 `json:"windowEnd,omitempty"`
	NextWindowStart int64 `json:"nextWindowStart,omitempty"`
	// InstancesInUse are the instances sagequeue's jobs hold on the plan.
	InstancesInUse      int64             `json:"instancesInUse"`
	ServiceEnvironments []planEnvironment `json:"serviceEnvironments"`
	Jobs                []planJob         `json:"jobs"`
	// Error says why the plan could not be described (the SageMaker
	// members are then missing, or those last known).
	Error string `json:"error,omitempty"`
}

type planEnvironment struct {
	ServiceEnvironmentName string `json:"serviceEnvironmentName"`
	ServiceEnvironmentArn  string `json:"serviceEnvironmentArn"`
	State                  string `json:"state"`
	MaxCapacity            int64  `json:"maxCapacity"`
	PartialWindows         bool   `json:"partialWindows,omitempty"`
	InstancesInUse         int64  `json:"instancesInUse"`
}

// planJob is a job holding instances of the plan.
type planJob struct {
	JobID              string `json:"jobId"`
	JobName            string `json:"jobName"`
	JobQueue           string `json:"jobQueue"`
	Status             string `json:"status"`
	ServiceEnvironment string `json:"serviceEnvironment"`
	Instances          int64  `json:"instances"`
	ScheduledAt        int64  `json:"scheduledAt,omitempty"`
	StartedAt          int64  `json:"startedAt,omitempty"`
	// RuntimeBound is the longest the job may train (seconds); WindowEnd
	// the end of the window it was launched into.
	RuntimeBound int64 `json:"runtimeBound"`
	WindowEnd    int64 `json:"windowEnd,omitempty"`
}

func (h *Handler) describeTrainingPlans(ctx context.Context, r *request) (any, error) {
	var in describeTrainingPlansRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	envs, err := h.cfg.Store.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	named := map[string][]*model.ServiceEnvironment{} // plan ARN -> its environments
	var order []string
	for _, e := range envs {
		if e.TrainingPlanArn == "" {
			continue
		}
		if named[e.TrainingPlanArn] == nil {
			order = append(order, e.TrainingPlanArn)
		}
		named[e.TrainingPlanArn] = append(named[e.TrainingPlanArn], e)
	}
	sort.Strings(order)
	arns := order
	if len(in.TrainingPlans) > 0 {
		arns = nil
		for i, ref := range in.TrainingPlans {
			arn, err := resolvePlan(fmt.Sprintf("trainingPlans[%d]", i), ref, order)
			if err != nil {
				return nil, err
			}
			arns = append(arns, arn)
		}
	}

	inUse := map[string]int64{}
	jobsOn := map[string][]planJob{} // by environment ARN
	if len(arns) > 0 {
		active, err := store.ListAll(ctx, h.cfg.Store, store.JobQuery{Statuses: []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}})
		if err != nil {
			return nil, err
		}
		for _, j := range active {
			inUse[j.ServiceEnvironment] += j.Instances
			pj := planJob{
				JobID: j.JobID, JobName: j.JobName, JobQueue: nameOf(j.JobQueue), Status: string(j.Status),
				ServiceEnvironment: nameOf(j.ServiceEnvironment), Instances: j.Instances, ScheduledAt: j.ScheduledAt,
				StartedAt: j.StartedAt, RuntimeBound: j.RuntimeBound(),
			}
			if a := j.LatestAttempt(); a != nil {
				pj.WindowEnd = a.PlanWindowEnd
			}
			jobsOn[j.ServiceEnvironment] = append(jobsOn[j.ServiceEnvironment], pj)
		}
	}

	now := r.nowMs()
	out := describeTrainingPlansResponse{TrainingPlans: []trainingPlanDetail{}}
	for i, arn := range arns {
		d := trainingPlanDetail{TrainingPlanArn: arn, TrainingPlanName: model.PlanName(arn), InstanceTypes: []string{},
			Windows: []model.PlanWindow{}, ServiceEnvironments: []planEnvironment{}, Jobs: []planJob{}}
		if h.cfg.Plans != nil {
			p, err := h.cfg.Plans.Plan(ctx, arn)
			switch {
			case planNotFound(err) && len(named[arn]) == 0:
				return nil, model.Invalidf(fmt.Sprintf("trainingPlans[%d]", i), "training plan %s does not exist", arn)
			case err != nil:
				d.Error = err.Error()
			}
			if p != nil {
				d.TrainingPlan = p
				if p.Name != "" {
					d.TrainingPlanName = p.Name
				}
				d.InstanceTypes = p.InstanceTypes()
				d.Status, d.DescribedStatus = p.StatusAt(now), p.Status
				margin := h.cfg.PlanEndMargin.Milliseconds()
				d.Windows = append(d.Windows, p.Windows(margin)...)
				d.CapacityNow = p.CapacityAt(now, margin)
				if w, ok := model.WindowAt(d.Windows, now); ok {
					d.WindowEnd = w.End
				}
				if w, ok := model.NextWindow(d.Windows, now); ok {
					d.NextWindowStart = w.Start
				}
			}
		} else {
			d.Error = "this endpoint does not describe training plans"
		}
		for _, e := range named[arn] {
			d.ServiceEnvironments = append(d.ServiceEnvironments, planEnvironment{
				ServiceEnvironmentName: e.Name, ServiceEnvironmentArn: e.Arn, State: e.State, MaxCapacity: e.MaxInstances(),
				PartialWindows: e.PartialWindows, InstancesInUse: inUse[e.Arn],
			})
			d.InstancesInUse += inUse[e.Arn]
			d.Jobs = append(d.Jobs, jobsOn[e.Arn]...)
		}
		sort.Slice(d.Jobs, func(a, b int) bool {
			if d.Jobs[a].ScheduledAt != d.Jobs[b].ScheduledAt {
				return d.Jobs[a].ScheduledAt < d.Jobs[b].ScheduledAt
			}
			return d.Jobs[a].JobID < d.Jobs[b].JobID
		})
		out.TrainingPlans = append(out.TrainingPlans, d)
	}
	return out, nil
}

// resolvePlan turns a plan reference into an ARN: an ARN as it is, a name
// when one of the known plans has it.
func resolvePlan(field, ref string, known []string) (string, error) {
	if model.IsTrainingPlanARN(ref) {
		return ref, nil
	}
	for _, arn := range known {
		if model.PlanName(arn) == ref {
			return arn, nil
		}
	}
	return "", model.Invalidf(field, "%q is neither a training plan ARN nor the name of a plan a service environment names", ref)
}

func nameOf(arn string) string {
	if _, name, ok := model.ParseARN(arn); ok {
		return name
	}
	return arn
}
