package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// The quota share operations: CreateQuotaShare, UpdateQuotaShare,
// DescribeQuotaShare, ListQuotaShares and DeleteQuotaShare.

func (h *Handler) createQuotaShare(ctx context.Context, r *request) (any, error) {
	var in createQuotaShareRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	name, err := required("quotaShareName", in.QuotaShareName)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateName("quotaShareName", name); err != nil {
		return nil, err
	}
	qref, err := required("jobQueue", in.JobQueue)
	if err != nil {
		return nil, err
	}
	q, err := h.quotaQueue(ctx, "jobQueue", qref)
	if err != nil {
		return nil, err
	}
	if len(in.CapacityLimits) == 0 {
		return nil, model.Invalid("capacityLimits", "is required: the share's quota of 1 to 5 instance types")
	}
	if in.ResourceSharingConfiguration == nil {
		return nil, model.Invalid("resourceSharingConfiguration", "is required (strategy RESERVE, LEND or LEND_AND_BORROW)")
	}
	if in.PreemptionConfiguration == nil {
		return nil, model.Invalid("preemptionConfiguration", "is required (inSharePreemption ENABLED or DISABLED)")
	}
	s := &model.QuotaShare{
		Name: name, Arn: model.QuotaShareARN(q.Arn, name), JobQueue: q.Arn,
		ResourceSharingConfiguration: model.ResourceSharing{BorrowLimit: model.UnlimitedBorrow},
		State:                        model.StateEnabled, Status: model.StatusValid, Tags: in.Tags,
	}
	if err := applyQuotaShare(s, in.CapacityLimits, in.ResourceSharingConfiguration, in.PreemptionConfiguration, in.State); err != nil {
		return nil, err
	}
	if err := h.checkQuotaShare(ctx, q, s); err != nil {
		return nil, err
	}
	shares, err := h.cfg.Store.ListQuotaShares(ctx, q.Name)
	if err != nil {
		return nil, err
	}
	if len(shares) >= model.MaxQuotaSharesPerQueue {
		return nil, model.Invalidf("jobQueue", "job queue %s already has %d quota shares, the most a queue may have", q.Name, len(shares))
	}
	stored, err := h.cfg.Store.CreateQuotaShare(ctx, s)
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, model.Invalidf("quotaShareName", "quota share %s already exists in job queue %s", name, q.Name)
	}
	if err != nil {
		return nil, err
	}
	h.configChanged(ctx)
	return quotaShareRef{QuotaShareArn: stored.Arn, QuotaShareName: stored.Name}, nil
}

// applyQuotaShare sets the members of a create or update request that are
// present on s.
func applyQuotaShare(s *model.QuotaShare, limits []quotaShareLimit, rs *quotaShareSharing, pc *quotaSharePreemption, state *string) error {
	if limits != nil {
		s.CapacityLimits = nil
		for i, l := range limits {
			f := fmt.Sprintf("capacityLimits[%d]", i)
			unit, err := required(f+".capacityUnit", l.CapacityUnit)
			if err != nil {
				return err
			}
			if l.MaxCapacity == nil {
				return model.Invalid(f+".maxCapacity", "is required")
			}
			s.CapacityLimits = append(s.CapacityLimits, model.CapacityLimit{CapacityUnit: unit, MaxCapacity: *l.MaxCapacity})
		}
	}
	if rs != nil {
		strategy, err := required("resourceSharingConfiguration.strategy", rs.Strategy)
		if err != nil {
			return err
		}
		s.ResourceSharingConfiguration = model.ResourceSharing{Strategy: strategy, BorrowLimit: model.UnlimitedBorrow}
		if rs.BorrowLimit != nil {
			s.ResourceSharingConfiguration.BorrowLimit = *rs.BorrowLimit
		}
	}
	if pc != nil {
		p, err := required("preemptionConfiguration.inSharePreemption", pc.InSharePreemption)
		if err != nil {
			return err
		}
		s.PreemptionConfiguration.InSharePreemption = p
	}
	if state != nil {
		s.State = *state
	}
	return s.Validate()
}

// checkQuotaShare refuses instance types the queue's environment has no
// capacity limit for: jobs of such a type could never run.
func (h *Handler) checkQuotaShare(ctx context.Context, q *model.JobQueue, s *model.QuotaShare) error {
	env, err := h.quotaEnvironment(ctx, q)
	if err != nil || env == nil {
		return err
	}
	for i, l := range s.CapacityLimits {
		if env.Limit(l.CapacityUnit) == 0 && !hasUnit(env.CapacityLimits, l.CapacityUnit) {
			var units []string
			for _, el := range env.CapacityLimits {
				units = append(units, el.CapacityUnit)
			}
			return model.Invalidf(fmt.Sprintf("capacityLimits[%d].capacityUnit", i), "%s is not an instance type of service environment %s (it has %s)",
				l.CapacityUnit, env.Name, strings.Join(units, ", "))
		}
	}
	return nil
}

func hasUnit(limits []model.CapacityLimit, unit string) bool {
	for _, l := range limits {
		if l.CapacityUnit == unit {
			return true
		}
	}
	return false
}

// quotaEnvironment returns the service environment of a quota-management
// queue (nil if it is gone).
func (h *Handler) quotaEnvironment(ctx context.Context, q *model.JobQueue) (*model.ServiceEnvironment, error) {
	envs := q.Environments()
	if len(envs) == 0 {
		return nil, nil
	}
	e, err := h.cfg.Store.GetEnvironment(ctx, arnName(envs[0]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return e, err
}

// quotaQueue reads a queue that must be a quota-management queue.
func (h *Handler) quotaQueue(ctx context.Context, field, ref string) (*model.JobQueue, error) {
	q, err := h.queue(ctx, field, ref)
	if err != nil {
		return nil, err
	}
	if !q.QuotaShares() {
		return nil, model.Invalidf(field, "job queue %s is not a quota management queue: quota shares need a queue whose scheduling policy has a quotaSharePolicy", q.Name)
	}
	return q, nil
}

// quotaShare reads the quota share an ARN names.
func (h *Handler) quotaShare(ctx context.Context, field string, ref *string) (*model.QuotaShare, error) {
	arn, err := required(field, ref)
	if err != nil {
		return nil, err
	}
	queueArn, name, err := model.ParseQuotaShareARN(field, arn)
	if err != nil {
		return nil, err
	}
	s, err := h.cfg.Store.GetQuotaShare(ctx, arnName(queueArn), name)
	if errors.Is(err, store.ErrNotFound) || err == nil && s.Arn != arn {
		return nil, model.Invalidf(field, "quota share %s not found", arn)
	}
	return s, err
}

func (h *Handler) updateQuotaShare(ctx context.Context, r *request) (any, error) {
	var in updateQuotaShareRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	for range retries {
		s, err := h.quotaShare(ctx, "quotaShareArn", in.QuotaShareArn)
		if err != nil {
			return nil, err
		}
		if err := applyQuotaShare(s, in.CapacityLimits, in.ResourceSharingConfiguration, in.PreemptionConfiguration, in.State); err != nil {
			return nil, err
		}
		q, err := h.quotaQueue(ctx, "quotaShareArn", s.JobQueue)
		if err != nil {
			return nil, err
		}
		if err := h.checkQuotaShare(ctx, q, s); err != nil {
			return nil, err
		}
		stored, err := h.cfg.Store.UpdateQuotaShare(ctx, s)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Lowered limits may preempt: a pass applies them now.
		h.configChanged(ctx)
		return quotaShareRef{QuotaShareArn: stored.Arn, QuotaShareName: stored.Name}, nil
	}
	return nil, errBusy
}

func quotaShareDetailOf(s *model.QuotaShare) quotaShareDetail {
	d := quotaShareDetail{
		CapacityLimits: []quotaShareLimitOut{}, JobQueueArn: s.JobQueue,
		PreemptionConfiguration: quotaSharePreemptionOut{InSharePreemption: s.PreemptionConfiguration.InSharePreemption},
		QuotaShareArn:           s.Arn, QuotaShareName: s.Name,
		ResourceSharingConfiguration: quotaShareSharingOut{Strategy: s.ResourceSharingConfiguration.Strategy, BorrowLimit: s.ResourceSharingConfiguration.BorrowLimit},
		State:                        s.State, Status: s.Status, Tags: s.Tags,
	}
	for _, l := range s.CapacityLimits {
		d.CapacityLimits = append(d.CapacityLimits, quotaShareLimitOut{CapacityUnit: l.CapacityUnit, MaxCapacity: l.MaxCapacity})
	}
	return d
}

func (h *Handler) describeQuotaShare(ctx context.Context, r *request) (any, error) {
	var in quotaShareArnRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	s, err := h.quotaShare(ctx, "quotaShareArn", in.QuotaShareArn)
	if err != nil {
		return nil, err
	}
	return quotaShareDetailOf(s), nil
}

func (h *Handler) listQuotaShares(ctx context.Context, r *request) (any, error) {
	var in listQuotaSharesRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	qref, err := required("jobQueue", in.JobQueue)
	if err != nil {
		return nil, err
	}
	q, err := h.queue(ctx, "jobQueue", qref)
	if err != nil {
		return nil, err
	}
	all, err := h.cfg.Store.ListQuotaShares(ctx, q.Name)
	if err != nil {
		return nil, err
	}
	items, next, err := page(all, func(s *model.QuotaShare) string { return s.Name }, limit, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := listQuotaSharesResponse{QuotaShares: []quotaShareDetail{}, NextToken: next}
	for _, s := range items {
		out.QuotaShares = append(out.QuotaShares, quotaShareDetailOf(s))
	}
	return out, nil
}

func (h *Handler) deleteQuotaShare(ctx context.Context, r *request) (any, error) {
	var in quotaShareArnRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	s, err := h.quotaShare(ctx, "quotaShareArn", in.QuotaShareArn)
	if err != nil {
		return nil, err
	}
	page, err := h.cfg.Store.ListJobs(ctx, store.JobQuery{Queue: s.JobQueue, Share: s.Name, Statuses: unfinished, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Jobs) > 0 {
		return nil, model.Invalidf("quotaShareArn", "quota share %s still has unfinished jobs (for example %s, %s); terminate them or let them finish before deleting the share",
			s.Name, page.Jobs[0].JobID, page.Jobs[0].Status)
	}
	if err := h.cfg.Store.DeleteQuotaShare(ctx, arnName(s.JobQueue), s.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	h.configChanged(ctx)
	return empty{}, nil
}

// arnName is the resource name at the end of a Batch ARN.
func arnName(arn string) string {
	_, name, _ := model.ParseARN(arn)
	return name
}
