package api

import (
	"cmp"
	"context"
	"slices"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/store"
)

// frontSize is how many RUNNABLE jobs GetJobQueueSnapshot shows, as in Batch.
const frontSize = 100

func (h *Handler) getJobQueueSnapshot(ctx context.Context, r *request) (any, error) {
	var in getJobQueueSnapshotRequest
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
	snap := &sched.Snapshot{Queues: []model.JobQueue{*q}}
	if q.FairShare() {
		if p, err := h.cfg.Store.GetPolicy(ctx, policyName(q.SchedulingPolicyArn)); err == nil {
			snap.Policies = []model.SchedulingPolicy{*p}
		}
		if snap.Usage, err = h.cfg.Store.ListUsage(ctx, q.Arn); err != nil {
			return nil, err
		}
	}
	active, err := h.activeJobs(ctx, q.Arn)
	if err != nil {
		return nil, err
	}
	for _, j := range active {
		snap.Active = append(snap.Active, sched.AllocationOf(j))
	}
	// The first 100 in dispatch order are among the first 100 of each line.
	lines, err := h.cfg.Store.Lines(ctx, q.Arn)
	if err != nil {
		return nil, err
	}
	runnableAt := map[string]int64{}
	arns := map[string]string{}
	for _, l := range lines {
		jobs, more, err := h.cfg.Store.Heads(ctx, q.Arn, l.Share, frontSize)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			snap.Runnable = append(snap.Runnable, sched.CandidateOf(j))
			runnableAt[j.JobID], arns[j.JobID] = j.RunnableAt, j.JobArn
		}
		if more {
			snap.Truncated = append(snap.Truncated, sched.ShareKey{Queue: q.Arn, Share: l.Share})
		}
	}

	now := r.nowMs()
	out := getJobQueueSnapshotResponse{
		FrontOfQueue:     frontOfQueue{Jobs: []frontOfQueueJob{}, LastUpdatedAt: now},
		QueueUtilization: queueUtilization{LastUpdatedAt: now, TotalCapacityUsage: []capacityUsage{}},
	}
	for _, c := range sched.DispatchOrder(snap, q.Arn, now, frontSize) {
		out.FrontOfQueue.Jobs = append(out.FrontOfQueue.Jobs, frontOfQueueJob{JobArn: arns[c.JobID], EarliestTimeAtPosition: runnableAt[c.JobID]})
	}
	out.QueueUtilization.TotalCapacityUsage = byInstanceType(active)
	if q.QuotaShares() {
		quotaSnapshot(&out, snap, q, active, arns, runnableAt, now)
	}
	if q.FairShare() {
		shares := map[string][]*model.ServiceJob{}
		for _, j := range active {
			shares[j.ShareIdentifier] = append(shares[j.ShareIdentifier], j)
		}
		activeShares := map[string]bool{}
		for s := range shares {
			activeShares[s] = true
		}
		for _, l := range lines {
			activeShares[l.Share] = true
		}
		fu := &fairshareUtilization{ActiveShareCount: int64(len(activeShares)), TopCapacityUtilization: []shareUtilization{}}
		for s, jobs := range shares {
			fu.TopCapacityUtilization = append(fu.TopCapacityUtilization, shareUtilization{ShareIdentifier: s, CapacityUsage: byInstanceType(jobs)})
		}
		slices.SortFunc(fu.TopCapacityUtilization, func(a, b shareUtilization) int {
			if c := cmp.Compare(total(b.CapacityUsage), total(a.CapacityUsage)); c != 0 {
				return c
			}
			return cmp.Compare(a.ShareIdentifier, b.ShareIdentifier)
		})
		out.QueueUtilization.FairshareUtilization = fu
	}
	return out, nil
}

func policyName(arn string) string {
	_, name, _ := model.ParseARN(arn)
	return name
}

// activeJobs lists the jobs of a queue that hold capacity.
func (h *Handler) activeJobs(ctx context.Context, queue string) ([]*model.ServiceJob, error) {
	return store.ListAll(ctx, h.cfg.Store, store.JobQuery{Queue: queue, Statuses: []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}})
}

// byInstanceType sums the instances of jobs per instance type, the capacity
// unit Batch reports for service jobs in queue snapshots.
func byInstanceType(jobs []*model.ServiceJob) []capacityUsage {
	sum := map[string]float64{}
	for _, j := range jobs {
		unit := j.InstanceType
		if unit == "" {
			unit = model.CapacityUnitInstances
		}
		sum[unit] += float64(j.Instances)
	}
	out := []capacityUsage{}
	for unit, n := range sum {
		out = append(out, capacityUsage{CapacityUnit: unit, Quantity: n})
	}
	slices.SortFunc(out, func(a, b capacityUsage) int { return cmp.Compare(a.CapacityUnit, b.CapacityUnit) })
	return out
}

func total(c []capacityUsage) float64 {
	var t float64
	for _, u := range c {
		t += u.Quantity
	}
	return t
}

// quotaSnapshot fills in what a quota management queue's snapshot has more:
// the front of each quota share and each share's capacity in use.
func quotaSnapshot(out *getJobQueueSnapshotResponse, snap *sched.Snapshot, q *model.JobQueue, active []*model.ServiceJob, arns map[string]string, runnableAt map[string]int64, now int64) {
	front := &frontOfQuotaShares{LastUpdatedAt: now, QuotaShares: map[string][]frontOfQueueJob{}}
	for share, jobs := range sched.QuotaFront(snap, q.Arn, frontSize) {
		for _, c := range jobs {
			front.QuotaShares[share] = append(front.QuotaShares[share], frontOfQueueJob{JobArn: arns[c.JobID], EarliestTimeAtPosition: runnableAt[c.JobID]})
		}
	}
	out.FrontOfQuotaShares = front
	byShare := map[string][]*model.ServiceJob{}
	for _, j := range active {
		byShare[j.QuotaShareName] = append(byShare[j.QuotaShareName], j)
	}
	u := &quotaShareUtilizationDetail{TopCapacityUtilization: []quotaShareUtilization{}}
	for share, jobs := range byShare {
		u.TopCapacityUtilization = append(u.TopCapacityUtilization, quotaShareUtilization{QuotaShareName: share, CapacityUsage: byInstanceType(jobs)})
	}
	slices.SortFunc(u.TopCapacityUtilization, func(a, b quotaShareUtilization) int {
		if c := cmp.Compare(total(b.CapacityUsage), total(a.CapacityUsage)); c != 0 {
			return c
		}
		return cmp.Compare(a.QuotaShareName, b.QuotaShareName)
	})
	out.QueueUtilization.QuotaShareUtilization = u
}
