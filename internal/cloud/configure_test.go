package cloud_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/lambdatest"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/setup"
)

// busRecorder is a fake of EventBridge's PutEvents that keeps the entries'
// detail types.
type busRecorder struct {
	mu    sync.Mutex
	types []string
}

func (b *busRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct{ Entries []struct{ DetailType string } }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	out := struct{ Entries []map[string]string }{}
	for _, e := range in.Entries {
		b.types = append(b.types, e.DetailType)
		out.Entries = append(out.Entries, map[string]string{"EventId": "id"})
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func (b *busRecorder) count(detailType string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, t := range b.types {
		if t == detailType {
			n++
		}
	}
	return n
}

// cloudFormation plays CloudFormation's side of a custom resource: it
// invokes the function with an event, as Lambda delivers it, and reads the
// response the function PUTs to the event's pre-signed URL.
type cloudFormation struct {
	t       *testing.T
	fn      lambda.Handler
	srv     *httptest.Server
	mu      sync.Mutex
	replies []cfn.Response
}

func newCloudFormation(t *testing.T, h *cloud.Configure) *cloudFormation {
	c := &cloudFormation{t: t, fn: lambda.NewHandler(cfn.LambdaWrap(h.Handle))}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var resp cfn.Response
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || json.Unmarshal(body, &resp) != nil {
			t.Errorf("CloudFormation got %s %s", r.Method, body)
		}
		c.mu.Lock()
		c.replies = append(c.replies, resp)
		c.mu.Unlock()
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// send delivers one event and returns the function's response.
func (c *cloudFormation) send(requestType cfn.RequestType, physicalID string, configuration any) cfn.Response {
	c.t.Helper()
	props := map[string]any{"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:sagequeue-configure"}
	switch v := configuration.(type) {
	case string:
		props[cloud.ConfigurationProperty] = v
	case nil:
	default:
		b, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		props[cloud.ConfigurationProperty] = string(b)
	}
	ev := cfn.Event{
		RequestType: requestType, RequestID: "req-" + string(requestType), ResponseURL: c.srv.URL + "/response",
		ResourceType: "Custom::SagequeueConfiguration", LogicalResourceID: "Configuration", PhysicalResourceID: physicalID,
		StackID: "arn:aws:cloudformation:eu-west-1:123456789012:stack/sagequeue/1", ResourceProperties: props,
	}
	raw, _ := json.Marshal(ev)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: "lambda-" + string(requestType), InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:sagequeue-configure",
	})
	if _, err := c.fn.Invoke(ctx, raw); err != nil {
		c.t.Fatalf("%s: the function failed: %v", requestType, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.replies) == 0 {
		c.t.Fatalf("%s: no response to CloudFormation", requestType)
	}
	r := c.replies[len(c.replies)-1]
	c.replies = nil
	return r
}

const planArn = "arn:aws:sagemaker:eu-west-1:123456789012:training-plan/p20"

// TestConfigureCustomResource applies a configuration as CloudFormation
// would ask for it, on DynamoDB Local, through the function's own
// cloud.Connect, and then uses the result through the submit function.
func TestConfigureCustomResource(t *testing.T) {
	if testing.Short() {
		t.Skip("DynamoDB Local")
	}
	ctx := context.Background()
	bus := &busRecorder{}
	busSrv := httptest.NewServer(bus)
	t.Cleanup(busSrv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// SageMaker only describes the training plans: p20 (20 instances) and
	// p20b (8).
	now := time.Now()
	window := []localsm.Window{{Start: now.Add(-time.Hour), End: now.Add(10 * time.Hour)}}
	local, err := localsm.New(localsm.Config{Dir: t.TempDir(), Region: e2eRegion, Account: e2eAccount, Logger: logger, Plans: []localsm.Plan{
		{Name: "p20", InstanceType: "ml.m5.xlarge", InstanceCount: 20, Windows: window},
		{Name: "p20b", InstanceType: "ml.m5.xlarge", InstanceCount: 8, Windows: window},
	}})
	if err != nil {
		t.Fatal(err)
	}
	smSrv := httptest.NewServer(local)
	t.Cleanup(func() { smSrv.Close(); local.Shutdown(ctx) })
	ep := endpoints{EventBridge: busSrv.URL, SageMaker: smSrv.URL}
	configure, err := cloud.NewConfigure(stackDeps(t, cloud.FunctionConfigure, ep, logger))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cloud.NewSubmit(stackDeps(t, cloud.FunctionSubmit, ep, logger))
	if err != nil {
		t.Fatal(err)
	}
	rt := &lambdatest.Runtime{Account: e2eAccount, Region: e2eRegion}
	submitFn := &lambdatest.Function{Runtime: rt, Name: "submit", Timeout: cloud.Timeouts[cloud.FunctionSubmit], New: func() lambda.Handler { return lambda.NewHandler(sub.Handle) }}
	gw := httptest.NewServer(&apiGateway{t: t, submit: submitFn})
	t.Cleanup(gw.Close)
	client := batch.New(batch.Options{
		BaseEndpoint: aws.String(gw.URL + "/prod"), Region: e2eRegion,
		Credentials: credentials.NewStaticCredentialsProvider(e2eAccessKey, "secret", ""),
	})
	cf := newCloudFormation(t, configure)

	// A plan SageMaker does not know fails the create, naming the plan,
	// and nothing is applied.
	const unknown = "arn:aws:sagemaker:eu-west-1:123456789012:training-plan/nope"
	r := cf.send(cfn.RequestCreate, "", setup.Config{
		Environments: []setup.Environment{{Name: "fine", MaxCapacity: 1}, {Name: "missing", MaxCapacity: 1, TrainingPlanArn: unknown}},
	})
	if r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, unknown) || !strings.Contains(r.Reason, "does not exist") {
		t.Fatalf("create with an unknown plan: %+v", r)
	}
	if envs, err := client.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{}); err != nil || len(envs.ServiceEnvironments) != 0 {
		t.Fatalf("half applied: %+v %v", envs, err)
	}

	// Create: the seed's split of a 20-instance plan (its size read from
	// SageMaker), and a whole plan whose capacity the file overrides.
	cfg := setup.Config{
		Environments: []setup.Environment{
			{Name: "research", MaxCapacity: 5, TrainingPlan: &setup.TrainingPlan{Arn: planArn}},
			{Name: "production", MaxCapacity: 15, TrainingPlanArn: planArn},
			{Name: "whole", TrainingPlan: &setup.TrainingPlan{Arn: planArn + "b", InstanceCount: 4}},
		},
		Policies: []setup.Policy{{Name: "teams", Shares: []setup.Share{{ShareIdentifier: "a", WeightFactor: 1}}}},
		Queues: []setup.Queue{
			{Name: "research", Priority: 1, Environments: []string{"research"}},
			{Name: "production", Priority: 1, Environments: []string{"production"}, Policy: "teams"},
		},
	}
	r = cf.send(cfn.RequestCreate, "", cfg)
	if r.Status != cfn.StatusSuccess || r.PhysicalResourceID != cloud.ConfigurationResourceID {
		t.Fatalf("create: %+v", r)
	}
	envs, err := client.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int32{}
	for _, e := range envs.ServiceEnvironments {
		got[aws.ToString(e.ServiceEnvironmentName)] = aws.ToInt32(e.CapacityLimits[0].MaxCapacity)
		if !strings.HasPrefix(aws.ToString(e.ServiceEnvironmentArn), "arn:aws:batch:eu-west-1:123456789012:service-environment/") {
			t.Errorf("environment ARN %s: want the account of the function's ARN", aws.ToString(e.ServiceEnvironmentArn))
		}
	}
	if got["research"] != 5 || got["production"] != 15 || got["whole"] != 4 {
		t.Fatalf("capacities %v", got)
	}
	// The queues work: the API the users call takes jobs on them, and the
	// environment's training plan is the one payloads must name.
	submit := func(plan string) error {
		p := strings.Replace(payload("true"), `"InstanceCount":1,`, `"InstanceCount":1,"TrainingPlanArn":"`+plan+`",`, 1)
		_, err := client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String("j"), JobQueue: aws.String("research"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
			ServiceRequestPayload: aws.String(p),
		})
		return err
	}
	if err := submit(planArn); err != nil {
		t.Fatalf("a job naming the environment's plan: %v", err)
	}
	if err := submit(planArn + "b"); err == nil || !strings.Contains(err.Error(), "is not the training plan of job queue research") {
		t.Fatalf("a job naming another plan: %v", err)
	}
	_, err = client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
		JobName: aws.String("j"), JobQueue: aws.String("research"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
		ServiceRequestPayload: aws.String(strings.Replace(payload("true"), "ml.m5.xlarge", "ml.p5.48xlarge", 1)),
	})
	if err == nil || !strings.Contains(err.Error(), "ml.p5.48xlarge is not the instance type of the training plans of job queue research (p20 reserves ml.m5.xlarge)") {
		t.Fatalf("a job of another instance type than the plan's: %v", err)
	}
	exerciseSubmitReads(t, ctx, client)

	// Update: what changed is updated in place; the physical id stays.
	cfg.Environments[2].TrainingPlan.InstanceCount = 6
	cfg.Queues[0].Priority = 7
	r = cf.send(cfn.RequestUpdate, cloud.ConfigurationResourceID, cfg)
	if r.Status != cfn.StatusSuccess || r.PhysicalResourceID != cloud.ConfigurationResourceID {
		t.Fatalf("update: %+v", r)
	}
	q, err := client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{"research"}})
	if err != nil || len(q.JobQueues) != 1 || aws.ToInt32(q.JobQueues[0].Priority) != 7 {
		t.Fatalf("after update: %+v %v", q, err)
	}
	e, err := client.DescribeServiceEnvironments(ctx, &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: []string{"whole"}})
	if err != nil || aws.ToInt32(e.ServiceEnvironments[0].CapacityLimits[0].MaxCapacity) != 6 {
		t.Fatalf("after update: %+v %v", e, err)
	}
	// A changed capacity may let waiting jobs run: the change asks for a
	// scheduling pass, as a change through the API does.
	if n := bus.count(events.DetailTypeScheduleRequested); n == 0 {
		t.Errorf("a configuration change published no schedule request")
	}

	// A configuration the API refuses fails the update with the API's
	// message (CloudFormation rolls back); one the file check refuses too.
	bad := cfg
	bad.Queues = []setup.Queue{{Name: "q", Priority: 1, Environments: []string{"research"}, Policy: "missing"}}
	if r = cf.send(cfn.RequestUpdate, cloud.ConfigurationResourceID, bad); r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "scheduling policy missing is not defined") {
		t.Fatalf("bad update: %+v", r)
	}
	over := cfg
	over.Environments = []setup.Environment{{Name: "research", MaxCapacity: 30, TrainingPlan: &setup.TrainingPlan{Arn: planArn, InstanceCount: 20}}}
	if r = cf.send(cfn.RequestUpdate, cloud.ConfigurationResourceID, over); r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, "has 20 instances") {
		t.Fatalf("oversubscribed update: %+v", r)
	}
	for _, raw := range []any{nil, `{"environments": [], "unknown": 1}`, `not json`} {
		if r = cf.send(cfn.RequestUpdate, cloud.ConfigurationResourceID, raw); r.Status != cfn.StatusFailed || !strings.Contains(r.Reason, cloud.ConfigurationProperty) {
			t.Fatalf("configuration %v: %+v", raw, r)
		}
	}

	// Delete keeps everything.
	if r = cf.send(cfn.RequestDelete, cloud.ConfigurationResourceID, cfg); r.Status != cfn.StatusSuccess || r.PhysicalResourceID != cloud.ConfigurationResourceID {
		t.Fatalf("delete: %+v", r)
	}
	if q, err := client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{}); err != nil || len(q.JobQueues) != 2 {
		t.Fatalf("after delete: %+v %v", q, err)
	}
}

// exerciseSubmitReads makes the submit function use the API's reads and
// deletes (lists on each index, a snapshot, a terminate, a delete), so that
// the call recorder of stackDeps sees them against cloud.PermissionsOf.
func exerciseSubmitReads(t *testing.T, ctx context.Context, client *batch.Client) {
	t.Helper()
	list := func(in *batch.ListServiceJobsInput) []types.ServiceJobSummary {
		t.Helper()
		out, err := client.ListServiceJobs(ctx, in)
		if err != nil {
			t.Fatalf("ListServiceJobs %+v: %v", in, err)
		}
		return out.JobSummaryList
	}
	waiting := list(&batch.ListServiceJobsInput{JobQueue: aws.String("research"), JobStatus: types.ServiceJobStatusSubmitted})
	if len(waiting) == 0 {
		t.Fatal("no SUBMITTED job on research")
	}
	for _, j := range waiting {
		if _, err := client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: j.JobId, Reason: aws.String("test")}); err != nil {
			t.Fatal(err)
		}
	}
	// Finished jobs are listed from the indexes.
	for _, in := range []*batch.ListServiceJobsInput{
		{JobQueue: aws.String("research"), JobStatus: types.ServiceJobStatusFailed},
		{JobStatus: types.ServiceJobStatusFailed},
		{JobQueue: aws.String("research"), Filters: []types.KeyValuesPair{{Name: aws.String("JOB_NAME"), Values: []string{"j"}}}},
	} {
		if got := list(in); len(got) != len(waiting) {
			t.Errorf("ListServiceJobs %+v: %d jobs, want %d", in, len(got), len(waiting))
		}
	}
	if _, err := client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String("production")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("spare"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("whole")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("spare"), State: types.JQStateDisabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteJobQueue(ctx, &batch.DeleteJobQueueInput{JobQueue: aws.String("spare")}); err != nil {
		t.Fatal(err)
	}
}
