package api_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/model"
)

func TestServiceEnvironments(t *testing.T) {
	h := newHarness(t)
	c := h.client
	for i := range 5 {
		out := must[*batch.CreateServiceEnvironmentOutput](t)(c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
			ServiceEnvironmentName: aws.String(fmt.Sprintf("env-%d", i)), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
			CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(int32(10 + i))}},
			Tags:           map[string]string{"owner": "infra"},
		}))
		if *out.ServiceEnvironmentArn != arn(model.KindServiceEnvironment, fmt.Sprintf("env-%d", i)) {
			t.Fatalf("arn %s", *out.ServiceEnvironmentArn)
		}
	}
	_, err := c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("env-0"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{MaxCapacity: aws.Int32(1)}},
	})
	clientError(t, err, "serviceEnvironmentName: service environment env-0 already exists")
	_, err = c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("bad"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{MaxCapacity: aws.Int32(0)}},
	})
	clientError(t, err, "capacityLimits[0].maxCapacity: must be between 1")

	// Every environment, two at a time, through the paginator.
	var names []string
	p := batch.NewDescribeServiceEnvironmentsPaginator(c, &batch.DescribeServiceEnvironmentsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.ServiceEnvironments {
			names = append(names, *e.ServiceEnvironmentName)
		}
	}
	if !reflect.DeepEqual(names, []string{"env-0", "env-1", "env-2", "env-3", "env-4"}) {
		t.Fatalf("environments %v", names)
	}
	// By name and by ARN; unknown references are left out.
	out := must[*batch.DescribeServiceEnvironmentsOutput](t)(c.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{
		ServiceEnvironments: []string{"env-1", arn(model.KindServiceEnvironment, "env-3"), "ghost"},
	}))
	if len(out.ServiceEnvironments) != 2 {
		t.Fatalf("described %d", len(out.ServiceEnvironments))
	}
	e := out.ServiceEnvironments[0]
	if *e.ServiceEnvironmentName != "env-1" || e.State != types.ServiceEnvironmentStateEnabled || e.Status != types.ServiceEnvironmentStatusValid ||
		*e.CapacityLimits[0].MaxCapacity != 11 || *e.CapacityLimits[0].CapacityUnit != "NUM_INSTANCES" || e.Tags["owner"] != "infra" ||
		e.ServiceEnvironmentType != types.ServiceEnvironmentTypeSagemakerTraining {
		t.Fatalf("detail %+v", e)
	}

	// Update capacity, state and the training plan extension.
	must[*batch.UpdateServiceEnvironmentOutput](t)(c.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{
		ServiceEnvironment: aws.String("env-1"), CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(20)}},
		State: types.ServiceEnvironmentStateDisabled,
	}, withMember("trainingPlanArn", planArn("p20"))))
	stored, _ := h.store.GetEnvironment(ctx, "env-1")
	if stored.MaxInstances() != 20 || stored.State != model.StateDisabled || stored.TrainingPlanArn != planArn("p20") || stored.Version != 2 {
		t.Fatalf("after update %+v", stored)
	}
	if h.hooks.configs != 1 {
		t.Fatalf("ConfigChanged called %d times", h.hooks.configs)
	}
	_, err = c.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{ServiceEnvironment: aws.String("env-1")}, withMember("trainingPlanArn", "not-an-arn"))
	clientError(t, err, "trainingPlanArn: must be a SageMaker training plan ARN")
	_, err = c.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{ServiceEnvironment: aws.String("ghost")})
	clientError(t, err, "serviceEnvironment: service environment ghost not found")

	// Delete: refused while ENABLED or used by a queue.
	_, err = c.DeleteServiceEnvironment(ctx, &batch.DeleteServiceEnvironmentInput{ServiceEnvironment: aws.String("env-0")})
	clientError(t, err, "service environment env-0 is ENABLED; set its state to DISABLED before deleting it")
	must[*batch.CreateJobQueueOutput](t)(c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("q"), Priority: aws.Int32(1),
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("env-1")}},
	}))
	_, err = c.DeleteServiceEnvironment(ctx, &batch.DeleteServiceEnvironmentInput{ServiceEnvironment: aws.String("env-1")})
	clientError(t, err, "service environment env-1 is used by job queue(s) q")
	must[*batch.UpdateServiceEnvironmentOutput](t)(c.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{ServiceEnvironment: aws.String("env-0"), State: types.ServiceEnvironmentStateDisabled}))
	must[*batch.DeleteServiceEnvironmentOutput](t)(c.DeleteServiceEnvironment(ctx, &batch.DeleteServiceEnvironmentInput{ServiceEnvironment: aws.String(arn(model.KindServiceEnvironment, "env-0"))}))
	if out := must[*batch.DescribeServiceEnvironmentsOutput](t)(c.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: []string{"env-0"}})); len(out.ServiceEnvironments) != 0 {
		t.Fatal("deleted environment still described")
	}
}

func TestSchedulingPolicies(t *testing.T) {
	h := newHarness(t)
	c := h.client
	for i := range 3 {
		out := must[*batch.CreateSchedulingPolicyOutput](t)(c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{
			Name: aws.String(fmt.Sprintf("p%d", i)),
			FairsharePolicy: &types.FairsharePolicy{ShareDecaySeconds: aws.Int32(3600), ComputeReservation: aws.Int32(25),
				ShareDistribution: []types.ShareAttributes{{ShareIdentifier: aws.String("research"), WeightFactor: aws.Float32(0.5)}, {ShareIdentifier: aws.String("team-*")}}},
		}))
		if *out.Arn != arn(model.KindSchedulingPolicy, fmt.Sprintf("p%d", i)) || *out.Name != fmt.Sprintf("p%d", i) {
			t.Fatalf("create output %+v", out)
		}
	}
	_, err := c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{
		Name: aws.String("overlap"), FairsharePolicy: &types.FairsharePolicy{ShareDistribution: []types.ShareAttributes{
			{ShareIdentifier: aws.String("UserA*")}, {ShareIdentifier: aws.String("UserA1")}}},
	})
	clientError(t, err, `fairsharePolicy.shareDistribution[1].shareIdentifier: "UserA1" overlaps "UserA*"`)
	_, err = c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{Name: aws.String("r"), FairsharePolicy: &types.FairsharePolicy{ComputeReservation: aws.Int32(100)}})
	clientError(t, err, "fairsharePolicy.computeReservation: must be between 0 and 99")
	_, err = c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{Name: aws.String("q"),
		QuotaSharePolicy: &types.QuotaSharePolicy{IdleResourceAssignmentStrategy: types.QuotaShareIdleResourceAssignmentStrategyFifo},
		FairsharePolicy:  &types.FairsharePolicy{}})
	clientError(t, err, "quotaSharePolicy: cannot be combined with fairsharePolicy")

	var arns []string
	p := batch.NewListSchedulingPoliciesPaginator(c, &batch.ListSchedulingPoliciesInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range out.SchedulingPolicies {
			arns = append(arns, *x.Arn)
		}
	}
	if len(arns) != 3 || arns[0] != arn(model.KindSchedulingPolicy, "p0") {
		t.Fatalf("listed %v", arns)
	}
	d := must[*batch.DescribeSchedulingPoliciesOutput](t)(c.DescribeSchedulingPolicies(ctx, &batch.DescribeSchedulingPoliciesInput{Arns: []string{arns[1], "arn:aws:batch:local:000000000000:scheduling-policy/ghost"}}))
	if len(d.SchedulingPolicies) != 1 {
		t.Fatalf("described %d", len(d.SchedulingPolicies))
	}
	fp := d.SchedulingPolicies[0].FairsharePolicy
	if *d.SchedulingPolicies[0].Name != "p1" || *fp.ShareDecaySeconds != 3600 || *fp.ComputeReservation != 25 ||
		*fp.ShareDistribution[0].WeightFactor != 0.5 || *fp.ShareDistribution[1].WeightFactor != 1 || *fp.ShareDistribution[1].ShareIdentifier != "team-*" {
		t.Fatalf("described %+v", d.SchedulingPolicies[0])
	}
	must[*batch.UpdateSchedulingPolicyOutput](t)(c.UpdateSchedulingPolicy(ctx, &batch.UpdateSchedulingPolicyInput{
		Arn: aws.String(arns[1]), FairsharePolicy: &types.FairsharePolicy{ComputeReservation: aws.Int32(50)},
	}))
	if got, _ := h.store.GetPolicy(ctx, "p1"); got.FairsharePolicy.ComputeReservation != 50 || got.Version != 2 {
		t.Fatalf("after update %+v", got)
	}
	_, err = c.UpdateSchedulingPolicy(ctx, &batch.UpdateSchedulingPolicyInput{Arn: aws.String("arn:aws:batch:local:000000000000:scheduling-policy/ghost")})
	clientError(t, err, "arn: scheduling policy arn:aws:batch:local:000000000000:scheduling-policy/ghost not found")

	// A policy in use can't be deleted.
	must[*batch.CreateServiceEnvironmentOutput](t)(c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("e"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{MaxCapacity: aws.Int32(1)}},
	}))
	must[*batch.CreateJobQueueOutput](t)(c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("fq"), Priority: aws.Int32(1), SchedulingPolicyArn: aws.String(arns[0]),
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("e")}},
	}))
	_, err = c.DeleteSchedulingPolicy(ctx, &batch.DeleteSchedulingPolicyInput{Arn: aws.String(arns[0])})
	clientError(t, err, "scheduling policy p0 is used by job queue(s) fq")
	must[*batch.DeleteSchedulingPolicyOutput](t)(c.DeleteSchedulingPolicy(ctx, &batch.DeleteSchedulingPolicyInput{Arn: aws.String(arns[2])}))
	if _, err := h.store.GetPolicy(ctx, "p2"); err == nil {
		t.Fatal("deleted policy still stored")
	}
}

func TestJobQueues(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	c := h.client
	d := must[*batch.DescribeJobQueuesOutput](t)(c.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{"fair"}}))
	if len(d.JobQueues) != 1 {
		t.Fatalf("described %d", len(d.JobQueues))
	}
	q := d.JobQueues[0]
	if *q.JobQueueName != "fair" || *q.JobQueueArn != arn(model.KindJobQueue, "fair") || q.JobQueueType != types.JobQueueTypeSagemakerTraining ||
		*q.SchedulingPolicyArn != arn(model.KindSchedulingPolicy, "fp") || q.State != types.JQStateEnabled || q.Status != types.JQStatusValid ||
		*q.ServiceEnvironmentOrder[0].ServiceEnvironment != arn(model.KindServiceEnvironment, "plan") || *q.Priority != 1 {
		t.Fatalf("queue %+v", q)
	}
	all := must[*batch.DescribeJobQueuesOutput](t)(c.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{}))
	if len(all.JobQueues) != 2 || *all.JobQueues[0].JobQueueName != "fair" {
		t.Fatalf("all queues %d", len(all.JobQueues))
	}

	must[*batch.UpdateJobQueueOutput](t)(c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{
		JobQueue: aws.String("fifo"), Priority: aws.Int32(100),
		JobStateTimeLimitActions: []types.JobStateTimeLimitAction{{
			Action: types.JobStateTimeLimitActionsActionTerminate, MaxTimeSeconds: aws.Int32(30),
			Reason: aws.String(model.ReasonMisconfiguration), State: types.JobStateTimeLimitActionsStateRunnable,
		}},
	}))
	fifo, _ := h.store.GetQueue(ctx, "fifo")
	if fifo.Priority != 100 || len(fifo.JobStateTimeLimitActions) != 1 || fifo.JobStateTimeLimitActions[0].MaxTimeSeconds != 30 {
		t.Fatalf("after update %+v", fifo)
	}
	refusals := map[string]struct {
		call func() error
		want string
	}{
		"duplicate": {func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("fifo"), Priority: aws.Int32(1),
				ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("plan")}}})
			return err
		}, "jobQueueName: job queue fifo already exists"},
		"unknown environment": {func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("x"), Priority: aws.Int32(1),
				ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("ghost")}}})
			return err
		}, "serviceEnvironmentOrder[0].serviceEnvironment: service environment ghost not found"},
		"no environment": {func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("x"), Priority: aws.Int32(1)})
			return err
		}, "serviceEnvironmentOrder: must name between 1 and 3"},
		"compute environments": {func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("x"), Priority: aws.Int32(1),
				ComputeEnvironmentOrder: []types.ComputeEnvironmentOrder{{Order: aws.Int32(1), ComputeEnvironment: aws.String("ce")}}})
			return err
		}, "computeEnvironmentOrder: sagequeue runs service jobs only"},
		"ECS queue": {func() error {
			_, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{JobQueueName: aws.String("x"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeEcs,
				ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("plan")}}})
			return err
		}, "jobQueueType: must be SAGEMAKER_TRAINING"},
		"priority 1001": {func() error {
			_, err := c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("fifo"), Priority: aws.Int32(1001)})
			return err
		}, "priority: must be between 0 and 1000"},
		"policy onto a FIFO queue": {func() error {
			_, err := c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("fifo"), SchedulingPolicyArn: aws.String(arn(model.KindSchedulingPolicy, "fp"))})
			return err
		}, "job queue fifo is a FIFO queue; a scheduling policy can't be added"},
		"time limit of 0": {func() error {
			_, err := c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("fifo"), JobStateTimeLimitActions: []types.JobStateTimeLimitAction{{
				Action: types.JobStateTimeLimitActionsActionCancel, MaxTimeSeconds: aws.Int32(0), Reason: aws.String("X"), State: types.JobStateTimeLimitActionsStateRunnable}}})
			return err
		}, "jobStateTimeLimitActions[0].maxTimeSeconds: must be between 1 and 86400"},
		"delete while ENABLED": {func() error {
			_, err := c.DeleteJobQueue(ctx, &batch.DeleteJobQueueInput{JobQueue: aws.String("fifo")})
			return err
		}, "job queue fifo is ENABLED; set its state to DISABLED"},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) { clientError(t, tc.call(), tc.want) })
	}

	// A queue with unfinished jobs can't be deleted; once they are done it can.
	id := h.submit("fifo", "j", "", 0)
	must[*batch.UpdateJobQueueOutput](t)(c.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("fifo"), State: types.JQStateDisabled}))
	_, err := c.DeleteJobQueue(ctx, &batch.DeleteJobQueueInput{JobQueue: aws.String("fifo")})
	clientError(t, err, "job queue fifo still has unfinished jobs (for example "+id+", SUBMITTED)")
	must[*batch.TerminateServiceJobOutput](t)(c.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &id, Reason: aws.String("cleanup")}))
	must[*batch.DeleteJobQueueOutput](t)(c.DeleteJobQueue(ctx, &batch.DeleteJobQueueInput{JobQueue: aws.String(arn(model.KindJobQueue, "fifo"))}))
	if out := must[*batch.DescribeJobQueuesOutput](t)(c.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})); len(out.JobQueues) != 1 {
		t.Fatalf("%d queues after delete", len(out.JobQueues))
	}
}
