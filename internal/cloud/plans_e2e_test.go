package cloud_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagequeue/sagequeue/internal/ddbfault"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/setup"
)

// TestCloudTrainingPlan runs jobs on a training plan through the cloud
// shape (the Lambda handlers on DynamoDB Local, the local SageMaker
// endpoint emulating the plan). A job submitted before the plan's window
// opens waits with the plan's reason and starts once it opens. Then a
// training job sagequeue does not own takes the plan's one instance:
// sagequeue, which counts only its own jobs, launches onto the plan, the
// training job waits Pending at SageMaker until SageMaker gives up on it
// (InsufficientCapacityError), and the job goes back to its queue without
// using its one attempt, the plan read again, until the instance is free
// and it runs.
func TestCloudTrainingPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	// Long enough for the stack to come up on a loaded machine.
	opens := time.Now().Add(15 * time.Second)
	plan := "arn:aws:sagemaker:eu-west-1:123456789012:training-plan/p1"
	s := newStack(t, stackOptions{faults: ddbfault.Realistic, localsm: func(c *localsm.Config) {
		// The window's usable part is 15 minutes, enough for the jobs'
		// runtime bound of 10: SageMaker takes a plan's instances back from
		// 30 minutes before its end, and so does the schedule function.
		c.Plans = []localsm.Plan{{Name: "p1", InstanceType: "ml.m5.xlarge", InstanceCount: 1,
			Windows: []localsm.Window{{Start: opens, End: opens.Add(45 * time.Minute)}}}}
		c.PlanPendingTimeout = 2 * time.Second
	}})
	if _, err := s.batch.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("plan"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(1)}},
	}, setup.WithMember("trainingPlanArn", plan)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.batch.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("qp"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("plan")}},
	}); err != nil {
		t.Fatal(err)
	}

	early := s.submit(ctx, "qp", "early", "echo early", 1)
	if time.Now().After(opens) {
		t.Fatalf("the stack took too long to come up: the window opened before the first job was submitted")
	}
	s.waitFor(ctx, early, 30*time.Second, "held for the plan's window", func(d *batch.DescribeServiceJobOutput) bool {
		return strings.HasPrefix(aws.ToString(d.StatusReason), model.ReasonPlanNotActive+" - Training plan p1 is not in a window; its next window opens at")
	})
	d := s.waitFor(ctx, early, 60*time.Second, "done", done)
	if d.Status != types.ServiceJobStatusSucceeded || aws.ToInt64(d.StartedAt) < opens.UnixMilli() {
		t.Fatalf("early: %s, started at %d, the window opens at %d", d.Status, aws.ToInt64(d.StartedAt), opens.UnixMilli())
	}

	// Someone else's training job on the plan holds its instance.
	sm := sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(s.smURL), Region: e2eRegion, Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if _, err := sm.CreateTrainingJob(ctx, &sagemaker.CreateTrainingJobInput{
		TrainingJobName: aws.String("someone-else"), RoleArn: aws.String("arn:aws:iam::123456789012:role/x"),
		AlgorithmSpecification: &smtypes.AlgorithmSpecification{TrainingInputMode: smtypes.TrainingInputModeFile, ContainerEntrypoint: []string{"sleep", "6"}},
		OutputDataConfig:       &smtypes.OutputDataConfig{S3OutputPath: aws.String("s3://x/y")},
		ResourceConfig: &smtypes.ResourceConfig{InstanceType: smtypes.TrainingInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1),
			VolumeSizeInGB: aws.Int32(1), TrainingPlanArn: aws.String(plan)},
		StoppingCondition: &smtypes.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(60)},
	}); err != nil {
		t.Fatal(err)
	}
	described := s.calls("DescribeTrainingPlan")
	patient := s.submit(ctx, "qp", "patient", "echo patient", 1)
	d = s.waitFor(ctx, patient, 90*time.Second, "done", done)
	if d.Status != types.ServiceJobStatusSucceeded {
		t.Fatalf("patient: %s %q", d.Status, aws.ToString(d.StatusReason))
	}
	var lost int
	for _, a := range d.Attempts[:len(d.Attempts)-1] {
		r := aws.ToString(a.StatusReason)
		if !strings.HasPrefix(r, model.ReasonCapacity+" - Unable to provision requested compute resources (InsufficientCapacityError") {
			t.Errorf("an attempt before the last ended with %q", r)
		}
		lost++
	}
	if lost == 0 {
		t.Errorf("no attempt waited Pending until SageMaker gave up on it: %d attempts", len(d.Attempts))
	}
	// The functions keep a plan a minute; the capacity failures made the
	// schedule function read it again before that.
	if n := s.calls("DescribeTrainingPlan"); n <= described {
		t.Errorf("the plan was not described again after the capacity failures (%d describes before, %d after)", described, n)
	}
}

// calls is how many requests of an operation the local SageMaker endpoint
// has had.
func (s *stack) calls(op string) int64 {
	if n, ok := s.smCalls.Load(op); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}
