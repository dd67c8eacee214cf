// Package setup applies a declarative configuration — service environments,
// scheduling policies and job queues — through the Batch API, creating what is
// missing and updating what differs. `sagequeue serve --config` uses it at
// start, and the cloud deployment runs it from a custom resource, so a
// configuration means the same thing everywhere and passes the same
// validation as a request.
package setup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"sigs.k8s.io/yaml"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Config is the file format (YAML or JSON).
type Config struct {
	Environments []Environment `json:"environments"`
	Policies     []Policy      `json:"policies"`
	Queues       []Queue       `json:"queues"`
	// TrainingPlans are training plans for the local SageMaker endpoint of
	// `sagequeue serve` to emulate (localplans.go). A deployment refuses
	// them: its plans are SageMaker's.
	TrainingPlans []LocalPlan `json:"trainingPlans,omitempty"`
}

// Environment is a service environment.
type Environment struct {
	Name string `json:"name"`
	// MaxCapacity is the environment's capacity in instances. It may be left
	// out for an environment on a training plan: the environment then has
	// the whole plan (see Capacity; Apply reads the plan's size with
	// DescribeTrainingPlan unless TrainingPlan.InstanceCount gives it).
	MaxCapacity int32 `json:"maxCapacity"`
	// TrainingPlanArn makes the environment stand for a SageMaker training
	// plan: payloads without a plan get this one.
	TrainingPlanArn string `json:"trainingPlanArn,omitempty"`
	// TrainingPlan is the longer form of TrainingPlanArn, which also says
	// how many instances the plan has. Give one form or the other (or both
	// naming the same plan).
	TrainingPlan *TrainingPlan `json:"trainingPlan,omitempty"`
	// PartialWindows lets jobs start on the environment's plan in a window
	// that ends before their runtime bound (jobs that checkpoint).
	PartialWindows bool              `json:"partialWindows,omitempty"`
	State          string            `json:"state,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	// Limits, instead of MaxCapacity, make a quota management environment:
	// instances per instance type (see quota.go).
	Limits map[string]int32 `json:"limits,omitempty"`
}

// TrainingPlan is a SageMaker training plan as an environment names it.
type TrainingPlan struct {
	Arn string `json:"arn"`
	// InstanceCount overrides the plan's instance count that
	// DescribeTrainingPlan reports: the capacity of an environment that
	// gives no maxCapacity, and the most that the environments sharing the
	// plan may hold together (to leave some of the plan to others).
	InstanceCount int32 `json:"instanceCount,omitempty"`
}

// PlanArn is the environment's training plan ARN, from either form; "" when
// it names none.
func (e Environment) PlanArn() string {
	if e.TrainingPlanArn != "" {
		return e.TrainingPlanArn
	}
	if e.TrainingPlan != nil {
		return e.TrainingPlan.Arn
	}
	return ""
}

// Capacity is the environment's capacity: MaxCapacity, or the training
// plan's instance count when MaxCapacity is left out.
func (e Environment) Capacity() int32 {
	if e.MaxCapacity == 0 && e.TrainingPlan != nil {
		return e.TrainingPlan.InstanceCount
	}
	return e.MaxCapacity
}

// TrainingPlanArns are the distinct training plans the environments name,
// in the order they first appear: the plans a deployment must be allowed
// to use.
func (c *Config) TrainingPlanArns() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range c.Environments {
		if arn := e.PlanArn(); arn != "" && !seen[arn] {
			seen[arn] = true
			out = append(out, arn)
		}
	}
	return out
}

// Validate checks what only the file can get wrong: the two forms of a
// training plan disagreeing, an environment without a capacity, and
// environments that share a plan holding more instances together than the
// plan has (their jobs would wait on SageMaker, outside the queue's view).
// Everything else is checked by the API, as for any request.
func (c *Config) Validate() error {
	type plan struct {
		instances int32
		by        string // the environment that gave instances
		total     int32
		envs      []string
	}
	plans := map[string]*plan{}
	var order []string
	for _, e := range c.Environments {
		if tp := e.TrainingPlan; tp != nil {
			switch {
			case tp.Arn == "":
				return fmt.Errorf("environment %s: trainingPlan.arn is required", e.Name)
			case e.TrainingPlanArn != "" && e.TrainingPlanArn != tp.Arn:
				return fmt.Errorf("environment %s: trainingPlanArn %s and trainingPlan.arn %s name different plans", e.Name, e.TrainingPlanArn, tp.Arn)
			case tp.InstanceCount < 0:
				return fmt.Errorf("environment %s: trainingPlan.instanceCount must be positive, got %d", e.Name, tp.InstanceCount)
			}
		}
		if len(e.Limits) > 0 {
			if e.MaxCapacity != 0 || e.TrainingPlan != nil {
				return fmt.Errorf("environment %s: limits (per instance type, quota management) cannot be combined with maxCapacity or trainingPlan", e.Name)
			}
			continue
		}
		arn := e.PlanArn()
		if e.Capacity() <= 0 && (arn == "" || e.MaxCapacity < 0) {
			return fmt.Errorf("environment %s: maxCapacity is required (or a training plan, to give the environment the whole plan)", e.Name)
		}
		if arn == "" {
			continue
		}
		p := plans[arn]
		if p == nil {
			p = &plan{}
			plans[arn] = p
			order = append(order, arn)
		}
		if tp := e.TrainingPlan; tp != nil && tp.InstanceCount > 0 {
			if p.instances > 0 && p.instances != tp.InstanceCount {
				return fmt.Errorf("environments %s and %s give training plan %s different instance counts (%d and %d)", p.by, e.Name, arn, p.instances, tp.InstanceCount)
			}
			p.instances, p.by = tp.InstanceCount, e.Name
		}
		p.total += e.Capacity()
		p.envs = append(p.envs, fmt.Sprintf("%s %d", e.Name, e.Capacity()))
	}
	for _, arn := range order {
		if p := plans[arn]; p.instances > 0 && p.total > p.instances {
			return fmt.Errorf("training plan %s has %d instances, but its environments hold %d together (%s)", arn, p.instances, p.total, strings.Join(p.envs, ", "))
		}
	}
	return c.validateLocalPlans()
}

// Policy is a fair-share scheduling policy.
type Policy struct {
	Name               string  `json:"name"`
	ShareDecaySeconds  int32   `json:"shareDecaySeconds,omitempty"`
	ComputeReservation int32   `json:"computeReservation,omitempty"`
	Shares             []Share `json:"shares,omitempty"`
	// Quota makes a quota management policy (quotaSharePolicy, FIFO).
	Quota bool `json:"quota,omitempty"`
}

// Share gives a share identifier (or a prefix ending in '*') a weight.
type Share struct {
	ShareIdentifier string  `json:"shareIdentifier"`
	WeightFactor    float32 `json:"weightFactor"`
}

// Queue is a job queue.
type Queue struct {
	Name     string `json:"name"`
	Priority int32  `json:"priority"`
	// Environments are tried in the order listed.
	Environments []string `json:"environments"`
	// Policy names a fair-share policy; none makes a FIFO queue.
	Policy     string      `json:"policy,omitempty"`
	State      string      `json:"state,omitempty"`
	TimeLimits []TimeLimit `json:"timeLimits,omitempty"`
	// PartialWindows lets the queue's jobs start on a training plan in a
	// window that ends before their runtime bound (jobs that checkpoint).
	PartialWindows bool `json:"partialWindows,omitempty"`
	// Backfill lets later jobs start around a job that does not fit, without
	// delaying it (a sagequeue extension; off by default).
	Backfill bool `json:"backfill,omitempty"`
	// QuotaShares are the shares of a quota management queue.
	QuotaShares []QuotaShare `json:"quotaShares,omitempty"`
}

// TimeLimit ends a head job that has been blocked for Reason for
// MaxTimeSeconds.
type TimeLimit struct {
	Reason         string `json:"reason"`
	MaxTimeSeconds int32  `json:"maxTimeSeconds"`
	Action         string `json:"action,omitempty"` // CANCEL (default) or TERMINATE
}

// Load reads a configuration file; unknown keys are errors, since a typo in a
// file would otherwise be silently ignored.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Apply creates what in c is missing and updates what differs, environments
// first, then policies, then queues (with their quota shares), and returns
// what it changed: nothing when the server already holds what c says.
// Nothing absent from c is deleted. On an error it returns the changes made
// before it.
func Apply(ctx context.Context, client *batch.Client, c *Config) ([]Change, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var changes []Change
	record := func(chs ...*Change) {
		for _, ch := range chs {
			if ch != nil {
				changes = append(changes, *ch)
			}
		}
	}
	// The plans first: a plan that cannot be described stops the apply
	// before anything is changed.
	capacity, err := planCapacities(ctx, client, c)
	if err != nil {
		return nil, err
	}
	for _, e := range c.Environments {
		if e.Capacity() == 0 {
			e.MaxCapacity = capacity[e.PlanArn()]
		}
		ch, err := applyEnvironment(ctx, client, e)
		if err != nil {
			return changes, fmt.Errorf("environment %s: %w", e.Name, err)
		}
		record(ch)
	}
	arns := map[string]string{}
	for _, p := range c.Policies {
		arn, ch, err := applyPolicy(ctx, client, p)
		if err != nil {
			return changes, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		record(ch)
		arns[p.Name] = arn
	}
	for _, q := range c.Queues {
		ch, err := applyQueue(ctx, client, q, arns)
		if err != nil {
			return changes, fmt.Errorf("queue %s: %w", q.Name, err)
		}
		record(ch)
		chs, err := applyQuotaShares(ctx, client, q)
		record(chs...)
		if err != nil {
			return changes, fmt.Errorf("queue %s: %w", q.Name, err)
		}
	}
	return changes, nil
}

func applyEnvironment(ctx context.Context, client *batch.Client, e Environment) (*Change, error) {
	limits := environmentLimits(e)
	state := types.ServiceEnvironmentState(orDefault(e.State, model.StateEnabled))
	plan := e.PlanArn()
	var raw []byte
	out, err := client.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: []string{e.Name}}, WithRawBody(&raw))
	if err != nil {
		return nil, err
	}
	if len(out.ServiceEnvironments) == 0 {
		var opts []func(*batch.Options)
		if plan != "" {
			opts = append(opts, WithMember("trainingPlanArn", plan))
		}
		if e.PartialWindows {
			opts = append(opts, WithMember("partialWindows", true))
		}
		_, err = client.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
			ServiceEnvironmentName: aws.String(e.Name), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
			CapacityLimits: limits, State: state, Tags: e.Tags,
		}, opts...)
		return created(kindEnvironment, e.Name), err
	}
	cur := out.ServiceEnvironments[0]
	var d diff
	if len(e.Limits) == 0 && len(cur.CapacityLimits) == 1 && aws.ToString(cur.CapacityLimits[0].CapacityUnit) == model.CapacityUnitInstances {
		d.field("maxCapacity", aws.ToInt32(cur.CapacityLimits[0].MaxCapacity), e.Capacity())
	} else {
		d.field("limits", limitsText(cur.CapacityLimits), limitsText(limits))
	}
	d.field("state", cur.State, state)
	d.field("trainingPlanArn", environmentPlan(raw), plan)
	d.field("partialWindows", partialWindowsOf(raw, "serviceEnvironments"), e.PartialWindows)
	if d.empty() {
		return nil, nil
	}
	// The plan is always sent on update, "" included, so that a plan taken
	// out of the file is taken off the environment too: a deployment's IAM
	// allows only the plans its file names, and launches on a plan it no
	// longer allows would fail.
	_, err = client.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{
		ServiceEnvironment: aws.String(e.Name), CapacityLimits: limits, State: state,
	}, WithMembers(map[string]any{"trainingPlanArn": plan, "partialWindows": e.PartialWindows}))
	return d.updated(kindEnvironment, e.Name), err
}

func applyPolicy(ctx context.Context, client *batch.Client, p Policy) (string, *Change, error) {
	if p.Quota {
		return applyQuotaPolicy(ctx, client, p)
	}
	fp := &types.FairsharePolicy{ShareDecaySeconds: aws.Int32(p.ShareDecaySeconds), ComputeReservation: aws.Int32(p.ComputeReservation)}
	for _, s := range p.Shares {
		w := s.WeightFactor
		if w == 0 {
			w = 1
		}
		fp.ShareDistribution = append(fp.ShareDistribution, types.ShareAttributes{ShareIdentifier: aws.String(s.ShareIdentifier), WeightFactor: aws.Float32(w)})
	}
	arn, err := policyArn(ctx, client, p.Name)
	if err != nil {
		return "", nil, err
	}
	if arn == "" {
		out, err := client.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{Name: aws.String(p.Name), FairsharePolicy: fp})
		if err != nil {
			return "", nil, err
		}
		return aws.ToString(out.Arn), created(kindPolicy, p.Name), nil
	}
	out, err := client.DescribeSchedulingPolicies(ctx, &batch.DescribeSchedulingPoliciesInput{Arns: []string{arn}})
	if err != nil {
		return "", nil, err
	}
	cur := &types.FairsharePolicy{}
	if len(out.SchedulingPolicies) == 1 && out.SchedulingPolicies[0].FairsharePolicy != nil {
		cur = out.SchedulingPolicies[0].FairsharePolicy
	}
	var d diff
	d.field("shareDecaySeconds", aws.ToInt32(cur.ShareDecaySeconds), p.ShareDecaySeconds)
	d.field("computeReservation", aws.ToInt32(cur.ComputeReservation), p.ComputeReservation)
	d.field("shares", sharesText(cur.ShareDistribution), sharesText(fp.ShareDistribution))
	if d.empty() {
		return arn, nil, nil
	}
	_, err = client.UpdateSchedulingPolicy(ctx, &batch.UpdateSchedulingPolicyInput{Arn: aws.String(arn), FairsharePolicy: fp})
	return arn, d.updated(kindPolicy, p.Name), err
}

// policyArn finds a policy's ARN by name ("" when there is none).
func policyArn(ctx context.Context, client *batch.Client, name string) (string, error) {
	p := batch.NewListSchedulingPoliciesPaginator(client, &batch.ListSchedulingPoliciesInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return "", err
		}
		for _, x := range out.SchedulingPolicies {
			if strings.HasSuffix(aws.ToString(x.Arn), ":"+model.KindSchedulingPolicy+"/"+name) {
				return aws.ToString(x.Arn), nil
			}
		}
	}
	return "", nil
}

func applyQueue(ctx context.Context, client *batch.Client, q Queue, policies map[string]string) (*Change, error) {
	var order []types.ServiceEnvironmentOrder
	for i, e := range q.Environments {
		order = append(order, types.ServiceEnvironmentOrder{Order: aws.Int32(int32(i + 1)), ServiceEnvironment: aws.String(e)})
	}
	limits := []types.JobStateTimeLimitAction{}
	for _, l := range q.TimeLimits {
		limits = append(limits, types.JobStateTimeLimitAction{
			Action: types.JobStateTimeLimitActionsAction(orDefault(l.Action, model.TimeLimitActionCancel)), MaxTimeSeconds: aws.Int32(l.MaxTimeSeconds),
			Reason: aws.String(l.Reason), State: types.JobStateTimeLimitActionsStateRunnable,
		})
	}
	var policy *string
	if q.Policy != "" {
		arn := policies[q.Policy]
		if arn == "" {
			found, err := policyArn(ctx, client, q.Policy)
			if err != nil {
				return nil, err
			}
			if found == "" {
				return nil, fmt.Errorf("scheduling policy %s is not defined", q.Policy)
			}
			arn = found
		}
		policy = aws.String(arn)
	}
	state := types.JQState(orDefault(q.State, model.StateEnabled))
	var raw []byte
	out, err := client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{q.Name}}, WithRawBody(&raw))
	if err != nil {
		return nil, err
	}
	if len(out.JobQueues) == 0 {
		members := map[string]any{}
		if q.Backfill {
			members["backfill"] = true
		}
		if q.PartialWindows {
			members["partialWindows"] = true
		}
		var opts []func(*batch.Options)
		if len(members) > 0 {
			opts = append(opts, WithMembers(members))
		}
		_, err = client.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
			JobQueueName: aws.String(q.Name), Priority: aws.Int32(q.Priority), JobQueueType: types.JobQueueTypeSagemakerTraining,
			SchedulingPolicyArn: policy, ServiceEnvironmentOrder: order, JobStateTimeLimitActions: limits, State: state,
		}, opts...)
		return created(kindQueue, q.Name), err
	}
	cur := out.JobQueues[0]
	if existing := aws.ToString(cur.SchedulingPolicyArn); (existing == "") != (policy == nil) {
		return nil, errors.New("a queue can't change between FIFO and fair share; delete it and create it again")
	}
	var d diff
	d.field("priority", aws.ToInt32(cur.Priority), q.Priority)
	d.field("state", cur.State, state)
	d.field("environments", environmentsText(cur.ServiceEnvironmentOrder), environmentsText(order))
	d.field("policy", nameOf(aws.ToString(cur.SchedulingPolicyArn)), nameOf(aws.ToString(policy)))
	d.field("timeLimits", timeLimitsText(cur.JobStateTimeLimitActions), timeLimitsText(limits))
	d.field("backfill", queueBackfill(raw), q.Backfill)
	d.field("partialWindows", partialWindowsOf(raw, "jobQueues"), q.PartialWindows)
	if d.empty() {
		return nil, nil
	}
	// Backfill and partialWindows are always sent, so that taking them out
	// of the file turns them off.
	_, err = client.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{
		JobQueue: aws.String(q.Name), Priority: aws.Int32(q.Priority), SchedulingPolicyArn: policy,
		ServiceEnvironmentOrder: order, JobStateTimeLimitActions: limits, State: state,
	}, WithMembers(map[string]any{"backfill": q.Backfill, "partialWindows": q.PartialWindows}))
	return d.updated(kindQueue, q.Name), err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
