package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Service environments.

func limitsFromWire(in []capacityLimit) ([]model.CapacityLimit, error) {
	var out []model.CapacityLimit
	for i, l := range in {
		f := fmt.Sprintf("capacityLimits[%d]", i)
		if l.MaxCapacity == nil {
			return nil, model.Invalid(f+".maxCapacity", "is required")
		}
		unit := str(l.CapacityUnit)
		if unit == "" {
			unit = model.CapacityUnitInstances
		}
		out = append(out, model.CapacityLimit{CapacityUnit: unit, MaxCapacity: *l.MaxCapacity})
	}
	return out, nil
}

func (h *Handler) createServiceEnvironment(ctx context.Context, r *request) (any, error) {
	var in createServiceEnvironmentRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	name, err := required("serviceEnvironmentName", in.ServiceEnvironmentName)
	if err != nil {
		return nil, err
	}
	typ, err := required("serviceEnvironmentType", in.ServiceEnvironmentType)
	if err != nil {
		return nil, err
	}
	if len(in.CapacityLimits) == 0 {
		return nil, model.Invalid("capacityLimits", "is required")
	}
	limits, err := limitsFromWire(in.CapacityLimits)
	if err != nil {
		return nil, err
	}
	e := &model.ServiceEnvironment{
		Name: name, Arn: h.cfg.Account.ARN(model.KindServiceEnvironment, name), Type: typ,
		State: model.StateEnabled, Status: model.StatusValid, CapacityLimits: limits, Tags: in.Tags,
		TrainingPlanArn: str(in.TrainingPlanArn), PartialWindows: in.PartialWindows != nil && *in.PartialWindows,
	}
	if in.State != nil {
		e.State = *in.State
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := h.checkPlanExists(ctx, e.TrainingPlanArn); err != nil {
		return nil, err
	}
	stored, err := h.cfg.Store.CreateEnvironment(ctx, e)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, model.Invalidf("serviceEnvironmentName", "service environment %s already exists", name)
	}
	if err != nil {
		return nil, err
	}
	return environmentRef{ServiceEnvironmentArn: stored.Arn, ServiceEnvironmentName: stored.Name}, nil
}

func (h *Handler) updateServiceEnvironment(ctx context.Context, r *request) (any, error) {
	var in updateServiceEnvironmentRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	ref, err := required("serviceEnvironment", in.ServiceEnvironment)
	if err != nil {
		return nil, err
	}
	limits, err := limitsFromWire(in.CapacityLimits)
	if err != nil {
		return nil, err
	}
	for range retries {
		e, err := h.environment(ctx, "serviceEnvironment", ref)
		if err != nil {
			return nil, err
		}
		if len(limits) > 0 {
			was := e.QuotaManaged()
			e.CapacityLimits = limits
			if e.QuotaManaged() != was {
				return nil, model.Invalidf("capacityLimits", "service environment %s can't change between NUM_INSTANCES and per-instance-type (quota management) limits; create a new environment", e.Name)
			}
		}
		if in.State != nil {
			e.State = *in.State
		}
		if in.TrainingPlanArn != nil && *in.TrainingPlanArn != e.TrainingPlanArn {
			e.TrainingPlanArn = *in.TrainingPlanArn
			if err := h.checkPlanExists(ctx, e.TrainingPlanArn); err != nil {
				return nil, err
			}
		}
		if in.PartialWindows != nil {
			e.PartialWindows = *in.PartialWindows
		}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		stored, err := h.cfg.Store.UpdateEnvironment(ctx, e)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.configChanged(ctx)
		return environmentRef{ServiceEnvironmentArn: stored.Arn, ServiceEnvironmentName: stored.Name}, nil
	}
	return nil, errBusy
}

func environmentDetail(e *model.ServiceEnvironment) serviceEnvironmentDetail {
	d := serviceEnvironmentDetail{
		ServiceEnvironmentArn: e.Arn, ServiceEnvironmentName: e.Name, ServiceEnvironmentType: e.Type,
		State: e.State, Status: e.Status, Tags: e.Tags, TrainingPlanArn: e.TrainingPlanArn, PartialWindows: e.PartialWindows,
		CapacityLimits: []environmentLimit{},
	}
	for _, l := range e.CapacityLimits {
		d.CapacityLimits = append(d.CapacityLimits, environmentLimit{CapacityUnit: l.CapacityUnit, MaxCapacity: l.MaxCapacity})
	}
	return d
}

func (h *Handler) describeServiceEnvironments(ctx context.Context, r *request) (any, error) {
	var in describeServiceEnvironmentsRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	if len(in.ServiceEnvironments) > 100 {
		return nil, model.Invalidf("serviceEnvironments", "must name at most 100 service environments, got %d", len(in.ServiceEnvironments))
	}
	all, err := h.cfg.Store.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	if len(in.ServiceEnvironments) > 0 {
		all, err = pick(all, in.ServiceEnvironments, "serviceEnvironments", model.KindServiceEnvironment,
			func(e *model.ServiceEnvironment) (string, string) { return e.Name, e.Arn })
		if err != nil {
			return nil, err
		}
	}
	items, next, err := page(all, func(e *model.ServiceEnvironment) string { return e.Name }, limit, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := describeServiceEnvironmentsResponse{ServiceEnvironments: []serviceEnvironmentDetail{}, NextToken: next}
	for _, e := range items {
		out.ServiceEnvironments = append(out.ServiceEnvironments, environmentDetail(e))
	}
	return out, nil
}

// pick keeps the items that a list of names or ARNs refers to; like Batch,
// references to nothing are left out rather than refused.
func pick[T any](all []T, refs []string, field, kind string, id func(T) (name, arn string)) ([]T, error) {
	want := map[string]bool{}
	for i, ref := range refs {
		if _, err := model.NameOf(fmt.Sprintf("%s[%d]", field, i), kind, ref); err != nil {
			return nil, err
		}
		want[ref] = true
	}
	var out []T
	for _, it := range all {
		name, arn := id(it)
		if want[name] || want[arn] {
			out = append(out, it)
		}
	}
	return out, nil
}

func (h *Handler) deleteServiceEnvironment(ctx context.Context, r *request) (any, error) {
	var in deleteServiceEnvironmentRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	ref, err := required("serviceEnvironment", in.ServiceEnvironment)
	if err != nil {
		return nil, err
	}
	e, err := h.environment(ctx, "serviceEnvironment", ref)
	if err != nil {
		return nil, err
	}
	if e.Enabled() {
		return nil, model.Invalidf("serviceEnvironment", "service environment %s is ENABLED; set its state to DISABLED before deleting it", e.Name)
	}
	queues, err := h.cfg.Store.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, q := range queues {
		for _, o := range q.ServiceEnvironmentOrder {
			if o.ServiceEnvironment == e.Arn {
				users = append(users, q.Name)
			}
		}
	}
	if len(users) > 0 {
		return nil, model.Invalidf("serviceEnvironment", "service environment %s is used by job queue(s) %s; remove it from their serviceEnvironmentOrder or delete them first",
			e.Name, strings.Join(users, ", "))
	}
	if err := h.cfg.Store.DeleteEnvironment(ctx, e.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return empty{}, nil
}

// Scheduling policies.

func fairshareFromWire(in *fairsharePolicy) *model.FairsharePolicy {
	fp := &model.FairsharePolicy{}
	if in == nil {
		return fp
	}
	if in.ComputeReservation != nil {
		fp.ComputeReservation = *in.ComputeReservation
	}
	if in.ShareDecaySeconds != nil {
		fp.ShareDecaySeconds = *in.ShareDecaySeconds
	}
	for _, s := range in.ShareDistribution {
		w := 1.0
		if s.WeightFactor != nil {
			w = *s.WeightFactor
		}
		fp.ShareDistribution = append(fp.ShareDistribution, model.ShareAttributes{ShareIdentifier: str(s.ShareIdentifier), WeightFactor: w})
	}
	return fp
}

func (h *Handler) createSchedulingPolicy(ctx context.Context, r *request) (any, error) {
	var in createSchedulingPolicyRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	name, err := required("name", in.Name)
	if err != nil {
		return nil, err
	}
	p := &model.SchedulingPolicy{
		Name: name, Arn: h.cfg.Account.ARN(model.KindSchedulingPolicy, name), Tags: in.Tags,
	}
	if in.QuotaSharePolicy != nil {
		if in.FairsharePolicy != nil {
			return nil, model.Invalid("quotaSharePolicy", "cannot be combined with fairsharePolicy: a scheduling policy is either fair share or quota management")
		}
		p.QuotaSharePolicy = quotaPolicyFromWire(in.QuotaSharePolicy)
	} else {
		p.FairsharePolicy = fairshareFromWire(in.FairsharePolicy)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	stored, err := h.cfg.Store.CreatePolicy(ctx, p)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, model.Invalidf("name", "scheduling policy %s already exists", name)
	}
	if err != nil {
		return nil, err
	}
	return policyRef{Arn: stored.Arn, Name: stored.Name}, nil
}

func (h *Handler) updateSchedulingPolicy(ctx context.Context, r *request) (any, error) {
	var in updateSchedulingPolicyRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	ref, err := required("arn", in.Arn)
	if err != nil {
		return nil, err
	}
	for range retries {
		p, err := h.policy(ctx, "arn", ref)
		if err != nil {
			return nil, err
		}
		// A policy keeps its kind for life, as in AWS Batch.
		if in.FairsharePolicy != nil {
			if p.QuotaSharePolicy != nil {
				return nil, model.Invalidf("fairsharePolicy", "scheduling policy %s is a quota management policy; it can't be changed to fair share", p.Name)
			}
			p.FairsharePolicy = fairshareFromWire(in.FairsharePolicy)
		}
		if in.QuotaSharePolicy != nil {
			if p.QuotaSharePolicy == nil {
				return nil, model.Invalidf("quotaSharePolicy", "scheduling policy %s is a fair-share policy; it can't be changed to quota management", p.Name)
			}
			p.QuotaSharePolicy = quotaPolicyFromWire(in.QuotaSharePolicy)
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		_, err = h.cfg.Store.UpdatePolicy(ctx, p)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.configChanged(ctx)
		return empty{}, nil
	}
	return nil, errBusy
}

func quotaPolicyFromWire(in *quotaSharePolicy) *model.QuotaSharePolicy {
	return &model.QuotaSharePolicy{IdleResourceAssignmentStrategy: str(in.IdleResourceAssignmentStrategy)}
}

func policyDetail(p *model.SchedulingPolicy) schedulingPolicyDetail {
	d := schedulingPolicyDetail{Arn: p.Arn, Name: p.Name, Tags: p.Tags}
	if qp := p.QuotaSharePolicy; qp != nil {
		d.QuotaSharePolicy = &policyQuotaShare{IdleResourceAssignmentStrategy: qp.IdleResourceAssignmentStrategy}
	}
	if fp := p.FairsharePolicy; fp != nil {
		d.FairsharePolicy = &policyFairshare{
			ComputeReservation: fp.ComputeReservation, ShareDecaySeconds: fp.ShareDecaySeconds, ShareDistribution: []policyShare{},
		}
		for _, s := range fp.ShareDistribution {
			d.FairsharePolicy.ShareDistribution = append(d.FairsharePolicy.ShareDistribution, policyShare{ShareIdentifier: s.ShareIdentifier, WeightFactor: s.WeightFactor})
		}
	}
	return d
}

func (h *Handler) describeSchedulingPolicies(ctx context.Context, r *request) (any, error) {
	var in describeSchedulingPoliciesRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Arns) == 0 {
		return nil, model.Invalid("arns", "is required: name up to 100 scheduling policies")
	}
	if len(in.Arns) > 100 {
		return nil, model.Invalidf("arns", "must name at most 100 scheduling policies, got %d", len(in.Arns))
	}
	all, err := h.cfg.Store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	picked, err := pick(all, in.Arns, "arns", model.KindSchedulingPolicy, func(p *model.SchedulingPolicy) (string, string) { return p.Name, p.Arn })
	if err != nil {
		return nil, err
	}
	out := describeSchedulingPoliciesResponse{SchedulingPolicies: []schedulingPolicyDetail{}}
	for _, p := range picked {
		out.SchedulingPolicies = append(out.SchedulingPolicies, policyDetail(p))
	}
	return out, nil
}

func (h *Handler) listSchedulingPolicies(ctx context.Context, r *request) (any, error) {
	var in listSchedulingPoliciesRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	all, err := h.cfg.Store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	items, next, err := page(all, func(p *model.SchedulingPolicy) string { return p.Name }, limit, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := listSchedulingPoliciesResponse{SchedulingPolicies: []policyListing{}, NextToken: next}
	for _, p := range items {
		out.SchedulingPolicies = append(out.SchedulingPolicies, policyListing{Arn: p.Arn})
	}
	return out, nil
}

func (h *Handler) deleteSchedulingPolicy(ctx context.Context, r *request) (any, error) {
	var in deleteSchedulingPolicyRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	ref, err := required("arn", in.Arn)
	if err != nil {
		return nil, err
	}
	p, err := h.policy(ctx, "arn", ref)
	if err != nil {
		return nil, err
	}
	queues, err := h.cfg.Store.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, q := range queues {
		if q.SchedulingPolicyArn == p.Arn {
			users = append(users, q.Name)
		}
	}
	if len(users) > 0 {
		return nil, model.Invalidf("arn", "scheduling policy %s is used by job queue(s) %s; a queue's policy can be replaced but not removed, so delete those queues first",
			p.Name, strings.Join(users, ", "))
	}
	if err := h.cfg.Store.DeletePolicy(ctx, p.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return empty{}, nil
}

// Job queues.

func (h *Handler) environmentsFromWire(ctx context.Context, in []serviceEnvironmentOrder) ([]model.ServiceEnvironmentOrder, error) {
	var out []model.ServiceEnvironmentOrder
	for i, o := range in {
		f := fmt.Sprintf("serviceEnvironmentOrder[%d]", i)
		if o.Order == nil {
			return nil, model.Invalid(f+".order", "is required")
		}
		ref, err := required(f+".serviceEnvironment", o.ServiceEnvironment)
		if err != nil {
			return nil, err
		}
		e, err := h.environment(ctx, f+".serviceEnvironment", ref)
		if err != nil {
			return nil, err
		}
		out = append(out, model.ServiceEnvironmentOrder{Order: *o.Order, ServiceEnvironment: e.Arn})
	}
	return out, nil
}

func timeLimitsFromWire(in []timeLimitAction) ([]model.JobStateTimeLimitAction, error) {
	out := []model.JobStateTimeLimitAction{}
	for i, a := range in {
		if a.MaxTimeSeconds == nil {
			return nil, model.Invalidf(fmt.Sprintf("jobStateTimeLimitActions[%d].maxTimeSeconds", i), "is required")
		}
		out = append(out, model.JobStateTimeLimitAction{
			Action: str(a.Action), MaxTimeSeconds: *a.MaxTimeSeconds, Reason: str(a.Reason), State: str(a.State),
		})
	}
	return out, nil
}

func (h *Handler) createJobQueue(ctx context.Context, r *request) (any, error) {
	var in createJobQueueRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	name, err := required("jobQueueName", in.JobQueueName)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateName("jobQueueName", name); err != nil {
		return nil, err
	}
	if in.Priority == nil {
		return nil, model.Invalid("priority", "is required")
	}
	if len(in.ComputeEnvironmentOrder) > 0 {
		return nil, model.Invalid("computeEnvironmentOrder", "sagequeue runs service jobs only; use serviceEnvironmentOrder")
	}
	q := &model.JobQueue{
		Name: name, Arn: h.cfg.Account.ARN(model.KindJobQueue, name), Type: str(in.JobQueueType),
		State: model.StateEnabled, Status: model.StatusValid, Priority: *in.Priority, Tags: in.Tags,
		PartialWindows: in.PartialWindows != nil && *in.PartialWindows,
		Backfill:       in.Backfill != nil && *in.Backfill,
	}
	if q.Type == "" {
		q.Type = model.ServiceJobTypeSageMakerTraining
	}
	if in.State != nil {
		q.State = *in.State
	}
	if ref := str(in.SchedulingPolicyArn); ref != "" {
		p, err := h.policy(ctx, "schedulingPolicyArn", ref)
		if err != nil {
			return nil, err
		}
		q.SchedulingPolicyArn = p.Arn
		q.QuotaManagement = p.QuotaSharePolicy != nil
	}
	if q.ServiceEnvironmentOrder, err = h.environmentsFromWire(ctx, in.ServiceEnvironmentOrder); err != nil {
		return nil, err
	}
	if q.JobStateTimeLimitActions, err = timeLimitsFromWire(in.JobStateTimeLimitActions); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if err := h.checkQueueEnvironments(ctx, q); err != nil {
		return nil, err
	}
	stored, err := h.cfg.Store.CreateQueue(ctx, q)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, model.Invalidf("jobQueueName", "job queue %s already exists", name)
	}
	if err != nil {
		return nil, err
	}
	return queueRef{JobQueueArn: stored.Arn, JobQueueName: stored.Name}, nil
}

func (h *Handler) updateJobQueue(ctx context.Context, r *request) (any, error) {
	var in updateJobQueueRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	ref, err := required("jobQueue", in.JobQueue)
	if err != nil {
		return nil, err
	}
	if len(in.ComputeEnvironmentOrder) > 0 {
		return nil, model.Invalid("computeEnvironmentOrder", "sagequeue runs service jobs only; use serviceEnvironmentOrder")
	}
	var envs []model.ServiceEnvironmentOrder
	if len(in.ServiceEnvironmentOrder) > 0 {
		if envs, err = h.environmentsFromWire(ctx, in.ServiceEnvironmentOrder); err != nil {
			return nil, err
		}
	}
	var limits []model.JobStateTimeLimitAction
	if in.JobStateTimeLimitActions != nil {
		if limits, err = timeLimitsFromWire(in.JobStateTimeLimitActions); err != nil {
			return nil, err
		}
	}
	policyArn, quotaPolicy := "", false
	if pref := str(in.SchedulingPolicyArn); pref != "" {
		p, err := h.policy(ctx, "schedulingPolicyArn", pref)
		if err != nil {
			return nil, err
		}
		policyArn, quotaPolicy = p.Arn, p.QuotaSharePolicy != nil
	}
	for range retries {
		q, err := h.queue(ctx, "jobQueue", ref)
		if err != nil {
			return nil, err
		}
		if in.Priority != nil {
			q.Priority = *in.Priority
		}
		if in.State != nil {
			q.State = *in.State
		}
		if policyArn != "" {
			switch {
			case q.SchedulingPolicyArn == "":
				return nil, model.Invalidf("schedulingPolicyArn", "job queue %s is a FIFO queue; a scheduling policy can't be added to it (create a new queue)", q.Name)
			case quotaPolicy != q.QuotaManagement:
				return nil, model.Invalidf("schedulingPolicyArn", "job queue %s can't change between fair share and quota management (create a new queue)", q.Name)
			}
			q.SchedulingPolicyArn = policyArn
		}
		if envs != nil {
			q.ServiceEnvironmentOrder = envs
		}
		if limits != nil {
			q.JobStateTimeLimitActions = limits
		}
		if in.PartialWindows != nil {
			q.PartialWindows = *in.PartialWindows
		}
		if in.Backfill != nil {
			q.Backfill = *in.Backfill
		}
		if err := q.Validate(); err != nil {
			return nil, err
		}
		if err := h.checkQueueEnvironments(ctx, q); err != nil {
			return nil, err
		}
		stored, err := h.cfg.Store.UpdateQueue(ctx, q)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.configChanged(ctx)
		return queueRef{JobQueueArn: stored.Arn, JobQueueName: stored.Name}, nil
	}
	return nil, errBusy
}

func queueDetail(q *model.JobQueue) jobQueueDetail {
	d := jobQueueDetail{
		ComputeEnvironmentOrder: []any{}, JobQueueArn: q.Arn, JobQueueName: q.Name, JobQueueType: q.Type,
		JobStateTimeLimitActions: []queueTimeLimit{}, Priority: q.Priority, SchedulingPolicyArn: q.SchedulingPolicyArn,
		ServiceEnvironmentOrder: []queueEnvironment{}, State: q.State, Status: q.Status, StatusReason: q.StatusReason, Tags: q.Tags,
		PartialWindows: q.PartialWindows,
		Backfill:       q.Backfill,
	}
	for _, o := range q.ServiceEnvironmentOrder {
		d.ServiceEnvironmentOrder = append(d.ServiceEnvironmentOrder, queueEnvironment{Order: o.Order, ServiceEnvironment: o.ServiceEnvironment})
	}
	for _, a := range q.JobStateTimeLimitActions {
		d.JobStateTimeLimitActions = append(d.JobStateTimeLimitActions, queueTimeLimit(a))
	}
	return d
}

func (h *Handler) describeJobQueues(ctx context.Context, r *request) (any, error) {
	var in describeJobQueuesRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	if len(in.JobQueues) > 100 {
		return nil, model.Invalidf("jobQueues", "must name at most 100 job queues, got %d", len(in.JobQueues))
	}
	all, err := h.cfg.Store.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	if len(in.JobQueues) > 0 {
		if all, err = pick(all, in.JobQueues, "jobQueues", model.KindJobQueue, func(q *model.JobQueue) (string, string) { return q.Name, q.Arn }); err != nil {
			return nil, err
		}
	}
	items, next, err := page(all, func(q *model.JobQueue) string { return q.Name }, limit, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := describeJobQueuesResponse{JobQueues: []jobQueueDetail{}, NextToken: next}
	for _, q := range items {
		out.JobQueues = append(out.JobQueues, queueDetail(q))
	}
	return out, nil
}

// unfinished are the states of jobs that keep a queue in use.
var unfinished = []model.JobStatus{
	model.StatusSubmitted, model.StatusPending, model.StatusRunnable,
	model.StatusScheduled, model.StatusStarting, model.StatusRunning,
}

func (h *Handler) deleteJobQueue(ctx context.Context, r *request) (any, error) {
	var in deleteJobQueueRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	ref, err := required("jobQueue", in.JobQueue)
	if err != nil {
		return nil, err
	}
	q, err := h.queue(ctx, "jobQueue", ref)
	if err != nil {
		return nil, err
	}
	if q.Enabled() {
		return nil, model.Invalidf("jobQueue", "job queue %s is ENABLED; set its state to DISABLED before deleting it", q.Name)
	}
	page, err := h.cfg.Store.ListJobs(ctx, store.JobQuery{Queue: q.Arn, Statuses: unfinished, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Jobs) > 0 {
		return nil, model.Invalidf("jobQueue", "job queue %s still has unfinished jobs (for example %s, %s); terminate them or let them finish before deleting the queue",
			q.Name, page.Jobs[0].JobID, page.Jobs[0].Status)
	}
	if err := h.cfg.Store.DeleteQueue(ctx, q.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// Quota shares live inside their queue and go with it.
	shares, err := h.cfg.Store.ListQuotaShares(ctx, q.Name)
	if err != nil {
		return nil, err
	}
	for _, s := range shares {
		if err := h.cfg.Store.DeleteQuotaShare(ctx, q.Name, s.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return empty{}, nil
}

// configChanged tells the engine that capacity or order may have changed, so
// a pass runs now instead of at the next tick.
func (h *Handler) configChanged(ctx context.Context) {
	if h.cfg.Hooks != nil {
		h.cfg.Hooks.ConfigChanged(ctx)
	}
}

// checkQueueEnvironments applies AWS Batch's rules for quota management: a
// quota-management queue has exactly one environment, whose limits are per
// instance type and which no other queue uses; other queues use
// NUM_INSTANCES environments only.
func (h *Handler) checkQueueEnvironments(ctx context.Context, q *model.JobQueue) error {
	if q.QuotaShares() && len(q.ServiceEnvironmentOrder) != 1 {
		return model.Invalidf("serviceEnvironmentOrder", "a quota management job queue has exactly one service environment, got %d", len(q.ServiceEnvironmentOrder))
	}
	queues, err := h.cfg.Store.ListQueues(ctx)
	if err != nil {
		return err
	}
	for i, o := range q.ServiceEnvironmentOrder {
		f := fmt.Sprintf("serviceEnvironmentOrder[%d].serviceEnvironment", i)
		e, err := h.environment(ctx, f, o.ServiceEnvironment)
		if err != nil {
			return err
		}
		switch {
		case q.QuotaShares() && !e.QuotaManaged():
			return model.Invalidf(f, "service environment %s has NUM_INSTANCES limits; a quota management queue needs one whose capacityLimits are per instance type (such as ml.p5.48xlarge)", e.Name)
		case !q.QuotaShares() && e.QuotaManaged():
			return model.Invalidf(f, "service environment %s is a quota management environment (limits per instance type); only a queue with a quotaSharePolicy may use it", e.Name)
		}
		if !e.QuotaManaged() {
			continue
		}
		for _, other := range queues {
			if other.Name == q.Name {
				continue
			}
			for _, oo := range other.ServiceEnvironmentOrder {
				if oo.ServiceEnvironment == e.Arn {
					return model.Invalidf(f, "service environment %s is already connected to job queue %s; a quota management environment serves one queue", e.Name, other.Name)
				}
			}
		}
	}
	return nil
}
