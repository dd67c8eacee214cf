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
	"github.com/aws/smithy-go/middleware"
	"sigs.k8s.io/yaml"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Config is the file format (YAML or JSON).
type Config struct {
	Environments []Environment `json:"environments"`
	Policies     []Policy      `json:"policies"`
	Queues       []Queue       `json:"queues"`
}

// Environment is a service environment.
type Environment struct {
	Name        string `json:"name"`
	MaxCapacity int32  `json:"maxCapacity"`
	// TrainingPlanArn makes the environment stand for a SageMaker training
	// plan: payloads without a plan get this one.
	TrainingPlanArn string            `json:"trainingPlanArn,omitempty"`
	State           string            `json:"state,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// Policy is a fair-share scheduling policy.
type Policy struct {
	Name               string  `json:"name"`
	ShareDecaySeconds  int32   `json:"shareDecaySeconds,omitempty"`
	ComputeReservation int32   `json:"computeReservation,omitempty"`
	Shares             []Share `json:"shares,omitempty"`
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

// Apply creates or updates everything in c through client, environments
// first, then policies, then queues. Nothing absent from c is deleted.
func Apply(ctx context.Context, client *batch.Client, c *Config) error {
	for _, e := range c.Environments {
		if err := applyEnvironment(ctx, client, e); err != nil {
			return fmt.Errorf("environment %s: %w", e.Name, err)
		}
	}
	arns := map[string]string{}
	for _, p := range c.Policies {
		arn, err := applyPolicy(ctx, client, p)
		if err != nil {
			return fmt.Errorf("policy %s: %w", p.Name, err)
		}
		arns[p.Name] = arn
	}
	for _, q := range c.Queues {
		if err := applyQueue(ctx, client, q, arns); err != nil {
			return fmt.Errorf("queue %s: %w", q.Name, err)
		}
	}
	return nil
}

func applyEnvironment(ctx context.Context, client *batch.Client, e Environment) error {
	limits := []types.CapacityLimit{{CapacityUnit: aws.String(model.CapacityUnitInstances), MaxCapacity: aws.Int32(e.MaxCapacity)}}
	state := types.ServiceEnvironmentState(orDefault(e.State, model.StateEnabled))
	var opts []func(*batch.Options)
	if e.TrainingPlanArn != "" {
		opts = append(opts, WithMember("trainingPlanArn", e.TrainingPlanArn))
	}
	out, err := client.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: []string{e.Name}})
	if err != nil {
		return err
	}
	if len(out.ServiceEnvironments) == 0 {
		_, err = client.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
			ServiceEnvironmentName: aws.String(e.Name), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
			CapacityLimits: limits, State: state, Tags: e.Tags,
		}, opts...)
		return err
	}
	_, err = client.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{
		ServiceEnvironment: aws.String(e.Name), CapacityLimits: limits, State: state,
	}, opts...)
	return err
}

func applyPolicy(ctx context.Context, client *batch.Client, p Policy) (string, error) {
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
		return "", err
	}
	if arn == "" {
		out, err := client.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{Name: aws.String(p.Name), FairsharePolicy: fp})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.Arn), nil
	}
	_, err = client.UpdateSchedulingPolicy(ctx, &batch.UpdateSchedulingPolicyInput{Arn: aws.String(arn), FairsharePolicy: fp})
	return arn, err
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

func applyQueue(ctx context.Context, client *batch.Client, q Queue, policies map[string]string) error {
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
				return err
			}
			if found == "" {
				return fmt.Errorf("scheduling policy %s is not defined", q.Policy)
			}
			arn = found
		}
		policy = aws.String(arn)
	}
	state := types.JQState(orDefault(q.State, model.StateEnabled))
	out, err := client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{q.Name}})
	if err != nil {
		return err
	}
	if len(out.JobQueues) == 0 {
		_, err = client.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
			JobQueueName: aws.String(q.Name), Priority: aws.Int32(q.Priority), JobQueueType: types.JobQueueTypeSagemakerTraining,
			SchedulingPolicyArn: policy, ServiceEnvironmentOrder: order, JobStateTimeLimitActions: limits, State: state,
		})
		return err
	}
	if existing := aws.ToString(out.JobQueues[0].SchedulingPolicyArn); (existing == "") != (policy == nil) {
		return errors.New("a queue can't change between FIFO and fair share; delete it and create it again")
	}
	_, err = client.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{
		JobQueue: aws.String(q.Name), Priority: aws.Int32(q.Priority), SchedulingPolicyArn: policy,
		ServiceEnvironmentOrder: order, JobStateTimeLimitActions: limits, State: state,
	})
	return err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// WithMember adds a sagequeue extension member, which the SDK does not know,
// to an operation's JSON body.
func WithMember(name string, value any) func(*batch.Options) {
	return func(o *batch.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(addMember(name, value), middleware.After)
		})
	}
}
