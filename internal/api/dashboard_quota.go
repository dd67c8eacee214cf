package api

import (
	"context"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// dashboardQuota is what getdashboard shows of a quota management queue:
// each share's quota, use, borrowing and lending per instance type.
type dashboardQuota struct {
	Shares []dashboardQuotaShare `json:"shares"`
}

type dashboardQuotaShare struct {
	QuotaShareName    string                  `json:"quotaShareName"`
	State             string                  `json:"state"`
	Strategy          string                  `json:"strategy"`
	BorrowLimit       int32                   `json:"borrowLimit"`
	InSharePreemption string                  `json:"inSharePreemption"`
	Runnable          int64                   `json:"runnable"`
	Types             []dashboardQuotaCapUnit `json:"capacity"`
}

// dashboardQuotaCapUnit is one instance type of a share. Borrowed is what
// the share holds beyond its quota; Lent is how much of its idle quota other
// shares' borrowing uses. Borrowing is counted against capacity no share owns
// first, then against lenders' idle quota, lenders in name order.
type dashboardQuotaCapUnit struct {
	CapacityUnit   string `json:"capacityUnit"`
	Quota          int64  `json:"quota"`
	InstancesInUse int64  `json:"instancesInUse"`
	Borrowed       int64  `json:"borrowed"`
	Lent           int64  `json:"lent"`
}

func (h *Handler) dashboardQuota(ctx context.Context, q *model.JobQueue, active []*model.ServiceJob, lines []store.Line) (*dashboardQuota, error) {
	shares, err := h.cfg.Store.ListQuotaShares(ctx, q.Name)
	if err != nil {
		return nil, err
	}
	env, err := h.quotaEnvironment(ctx, q)
	if err != nil {
		return nil, err
	}
	inUse := map[[2]string]int64{}
	for _, j := range active {
		inUse[[2]string{j.QuotaShareName, j.InstanceType}] += j.Instances
	}
	runnable := map[string]int64{}
	for _, l := range lines {
		runnable[l.Share] += l.Runnable
	}
	out := &dashboardQuota{Shares: []dashboardQuotaShare{}}
	borrowed, owned := map[string]int64{}, map[string]int64{}
	for _, s := range shares {
		ds := dashboardQuotaShare{
			QuotaShareName: s.Name, State: s.State, Strategy: s.ResourceSharingConfiguration.Strategy,
			BorrowLimit: s.ResourceSharingConfiguration.BorrowLimit, InSharePreemption: s.PreemptionConfiguration.InSharePreemption,
			Runnable: runnable[s.Name], Types: []dashboardQuotaCapUnit{},
		}
		for _, l := range s.CapacityLimits {
			n := inUse[[2]string{s.Name, l.CapacityUnit}]
			u := dashboardQuotaCapUnit{CapacityUnit: l.CapacityUnit, Quota: l.MaxCapacity, InstancesInUse: n, Borrowed: max(n-l.MaxCapacity, 0)}
			borrowed[l.CapacityUnit] += u.Borrowed
			owned[l.CapacityUnit] += l.MaxCapacity
			ds.Types = append(ds.Types, u)
		}
		out.Shares = append(out.Shares, ds)
	}
	// What borrowers hold beyond the capacity no share owns comes out of
	// lenders' idle quota.
	toLend := map[string]int64{}
	for t, b := range borrowed {
		unowned := int64(0)
		if env != nil {
			unowned = max(env.Limit(t)-owned[t], 0)
		}
		toLend[t] = max(b-unowned, 0)
	}
	for i := range out.Shares {
		s := &out.Shares[i]
		if s.Strategy == model.SharingReserve {
			continue
		}
		for k := range s.Types {
			u := &s.Types[k]
			idle := max(u.Quota-u.InstancesInUse, 0)
			u.Lent = min(idle, toLend[u.CapacityUnit])
			toLend[u.CapacityUnit] -= u.Lent
		}
	}
	return out, nil
}
