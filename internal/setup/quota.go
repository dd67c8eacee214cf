package setup

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/model"
)

// QuotaShare is a quota share of a quota management queue.
type QuotaShare struct {
	Name string `json:"name"`
	// Limits is the share's quota per instance type.
	Limits map[string]int32 `json:"limits"`
	// Strategy is RESERVE, LEND or LEND_AND_BORROW.
	Strategy string `json:"strategy"`
	// BorrowLimit is the most a LEND_AND_BORROW share borrows, in percent of
	// its quota (-1, or left out: unlimited).
	BorrowLimit *int32 `json:"borrowLimit,omitempty"`
	// InSharePreemption lets a higher-priority job of the share preempt a
	// lower-priority one of the same share.
	InSharePreemption bool   `json:"inSharePreemption,omitempty"`
	State             string `json:"state,omitempty"`
}

// environmentLimits is an environment's capacityLimits: per instance type
// (sorted) for a quota management environment, else NUM_INSTANCES.
func environmentLimits(e Environment) []types.CapacityLimit {
	if len(e.Limits) == 0 {
		return []types.CapacityLimit{{CapacityUnit: aws.String(model.CapacityUnitInstances), MaxCapacity: aws.Int32(e.Capacity())}}
	}
	var out []types.CapacityLimit
	for _, t := range sortedTypes(e.Limits) {
		out = append(out, types.CapacityLimit{CapacityUnit: aws.String(t), MaxCapacity: aws.Int32(e.Limits[t])})
	}
	return out
}

func sortedTypes(m map[string]int32) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// applyQuotaPolicy creates a quota management policy; an existing one is
// left as it is (its only setting, FIFO, cannot differ).
func applyQuotaPolicy(ctx context.Context, client *batch.Client, p Policy) (string, *Change, error) {
	if p.ShareDecaySeconds != 0 || p.ComputeReservation != 0 || len(p.Shares) > 0 {
		return "", nil, errors.New("quota: true makes a quota management policy; shareDecaySeconds, computeReservation and shares are for fair share")
	}
	arn, err := policyArn(ctx, client, p.Name)
	if err != nil || arn != "" {
		return arn, nil, err
	}
	out, err := client.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{
		Name: aws.String(p.Name), QuotaSharePolicy: &types.QuotaSharePolicy{IdleResourceAssignmentStrategy: types.QuotaShareIdleResourceAssignmentStrategyFifo},
	})
	if err != nil {
		return "", nil, err
	}
	return aws.ToString(out.Arn), created(kindPolicy, p.Name), nil
}

// applyQuotaShares creates the queue's quota shares that are missing and
// updates the others where they differ from what the file says. Shares not
// in the file stay.
func applyQuotaShares(ctx context.Context, client *batch.Client, q Queue) ([]*Change, error) {
	if len(q.QuotaShares) == 0 {
		return nil, nil
	}
	existing := map[string]string{}
	p := batch.NewListQuotaSharesPaginator(client, &batch.ListQuotaSharesInput{JobQueue: aws.String(q.Name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range out.QuotaShares {
			existing[aws.ToString(s.QuotaShareName)] = aws.ToString(s.QuotaShareArn)
		}
	}
	var changes []*Change
	for _, s := range q.QuotaShares {
		var limits []types.QuotaShareCapacityLimit
		for _, t := range sortedTypes(s.Limits) {
			limits = append(limits, types.QuotaShareCapacityLimit{CapacityUnit: aws.String(t), MaxCapacity: aws.Int32(s.Limits[t])})
		}
		rs := &types.QuotaShareResourceSharingConfiguration{Strategy: types.QuotaShareResourceSharingStrategy(s.Strategy), BorrowLimit: s.BorrowLimit}
		if rs.BorrowLimit == nil {
			rs.BorrowLimit = aws.Int32(model.UnlimitedBorrow)
		}
		pc := &types.QuotaSharePreemptionConfiguration{InSharePreemption: types.QuotaShareInSharePreemptionStateDisabled}
		if s.InSharePreemption {
			pc.InSharePreemption = types.QuotaShareInSharePreemptionStateEnabled
		}
		state := types.QuotaShareState(orDefault(s.State, model.StateEnabled))
		name := q.Name + "/" + s.Name
		arn, ok := existing[s.Name]
		if !ok {
			_, err := client.CreateQuotaShare(ctx, &batch.CreateQuotaShareInput{
				QuotaShareName: aws.String(s.Name), JobQueue: aws.String(q.Name), CapacityLimits: limits,
				ResourceSharingConfiguration: rs, PreemptionConfiguration: pc, State: state,
			})
			if err != nil {
				return changes, fmt.Errorf("quota share %s: %w", s.Name, err)
			}
			changes = append(changes, created(kindQuotaShare, name))
			continue
		}
		cur, err := client.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: aws.String(arn)})
		if err != nil {
			return changes, fmt.Errorf("quota share %s: %w", s.Name, err)
		}
		var d diff
		d.field("limits", quotaLimitsText(cur.CapacityLimits), quotaLimitsText(limits))
		if c := cur.ResourceSharingConfiguration; c != nil {
			d.field("strategy", c.Strategy, rs.Strategy)
			d.field("borrowLimit", aws.ToInt32(c.BorrowLimit), aws.ToInt32(rs.BorrowLimit))
		} else {
			d.field("strategy", "", rs.Strategy)
		}
		if c := cur.PreemptionConfiguration; c != nil {
			d.field("inSharePreemption", c.InSharePreemption, pc.InSharePreemption)
		}
		d.field("state", cur.State, state)
		if d.empty() {
			continue
		}
		_, err = client.UpdateQuotaShare(ctx, &batch.UpdateQuotaShareInput{
			QuotaShareArn: aws.String(arn), CapacityLimits: limits, ResourceSharingConfiguration: rs, PreemptionConfiguration: pc, State: state,
		})
		if err != nil {
			return changes, fmt.Errorf("quota share %s: %w", s.Name, err)
		}
		changes = append(changes, d.updated(kindQuotaShare, name))
	}
	return changes, nil
}
