package setup

import (
	"fmt"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Resources are a configuration as the scheduler sees it: what Apply would
// create, with the ARNs of an account, checked by the rules the API
// applies to the same requests. `sagequeue simulate` runs the scheduler on
// them without a server.
type Resources struct {
	Environments []model.ServiceEnvironment
	Policies     []model.SchedulingPolicy
	Queues       []model.JobQueue
}

// Resources returns the configuration's resources in account a. Quota
// management (limits per instance type, quota shares) is not among them
// yet: it is refused by name.
func (c *Config) Resources(a model.Account) (*Resources, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	const noQuota = "quota management is not simulated (only FIFO and fair-share queues are)"
	for _, e := range c.Environments {
		if len(e.Limits) > 0 {
			return nil, fmt.Errorf("environment %s: limits per instance type: %s", e.Name, noQuota)
		}
	}
	for _, p := range c.Policies {
		if p.Quota {
			return nil, fmt.Errorf("policy %s: %s", p.Name, noQuota)
		}
	}
	r := &Resources{}
	envs := map[string]string{} // name -> ARN
	for _, e := range c.Environments {
		env := model.ServiceEnvironment{
			Name: e.Name, Arn: a.ARN(model.KindServiceEnvironment, e.Name), Type: model.ServiceJobTypeSageMakerTraining,
			State: orDefault(e.State, model.StateEnabled), Status: model.StatusValid, Tags: e.Tags, TrainingPlanArn: e.PlanArn(), PartialWindows: e.PartialWindows,
			CapacityLimits: []model.CapacityLimit{{CapacityUnit: model.CapacityUnitInstances, MaxCapacity: int64(e.Capacity())}},
		}
		if err := env.Validate(); err != nil {
			return nil, fmt.Errorf("environment %s: %w", e.Name, err)
		}
		if envs[e.Name] != "" {
			return nil, fmt.Errorf("environment %s is defined twice", e.Name)
		}
		envs[e.Name] = env.Arn
		r.Environments = append(r.Environments, env)
	}
	policies := map[string]string{}
	for _, p := range c.Policies {
		fp := &model.FairsharePolicy{ShareDecaySeconds: p.ShareDecaySeconds, ComputeReservation: p.ComputeReservation}
		for _, s := range p.Shares {
			w := float64(s.WeightFactor)
			if w == 0 {
				w = 1
			}
			fp.ShareDistribution = append(fp.ShareDistribution, model.ShareAttributes{ShareIdentifier: s.ShareIdentifier, WeightFactor: w})
		}
		pol := model.SchedulingPolicy{Name: p.Name, Arn: a.ARN(model.KindSchedulingPolicy, p.Name), FairsharePolicy: fp}
		if err := pol.Validate(); err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		if policies[p.Name] != "" {
			return nil, fmt.Errorf("policy %s is defined twice", p.Name)
		}
		policies[p.Name] = pol.Arn
		r.Policies = append(r.Policies, pol)
	}
	seen := map[string]bool{}
	for _, q := range c.Queues {
		jq := model.JobQueue{
			Name: q.Name, Arn: a.ARN(model.KindJobQueue, q.Name), Type: model.ServiceJobTypeSageMakerTraining,
			State: orDefault(q.State, model.StateEnabled), Status: model.StatusValid, Priority: q.Priority, Backfill: q.Backfill, PartialWindows: q.PartialWindows,
		}
		if q.Policy != "" {
			if jq.SchedulingPolicyArn = policies[q.Policy]; jq.SchedulingPolicyArn == "" {
				return nil, fmt.Errorf("queue %s: scheduling policy %s is not defined", q.Name, q.Policy)
			}
		}
		for i, e := range q.Environments {
			arn := envs[e]
			if arn == "" {
				return nil, fmt.Errorf("queue %s: service environment %s is not defined", q.Name, e)
			}
			jq.ServiceEnvironmentOrder = append(jq.ServiceEnvironmentOrder, model.ServiceEnvironmentOrder{Order: int32(i + 1), ServiceEnvironment: arn})
		}
		for _, l := range q.TimeLimits {
			jq.JobStateTimeLimitActions = append(jq.JobStateTimeLimitActions, model.JobStateTimeLimitAction{
				Action: orDefault(l.Action, model.TimeLimitActionCancel), MaxTimeSeconds: l.MaxTimeSeconds, Reason: l.Reason,
				State: string(model.StatusRunnable),
			})
		}
		if err := jq.Validate(); err != nil {
			return nil, fmt.Errorf("queue %s: %w", q.Name, err)
		}
		if seen[q.Name] {
			return nil, fmt.Errorf("queue %s is defined twice", q.Name)
		}
		seen[q.Name] = true
		r.Queues = append(r.Queues, jq)
	}
	return r, nil
}
