package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/model"
)

func TestSubmitAndDescribe(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	out, err := h.client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
		JobName: aws.String("resnet-1"), JobQueue: aws.String(arn(model.KindJobQueue, "fair")),
		ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(payload),
		ShareIdentifier: aws.String("research"), SchedulingPriority: aws.Int32(42),
		RetryStrategy: &types.ServiceJobRetryStrategy{Attempts: aws.Int32(3), EvaluateOnExit: []types.ServiceJobEvaluateOnExit{
			{Action: types.ServiceJobRetryActionExit, OnStatusReason: aws.String("Received status from SageMaker: ClientError*")},
			{Action: "retry", OnStatusReason: aws.String("*")},
		}},
		TimeoutConfig: &types.ServiceJobTimeout{AttemptDurationSeconds: aws.Int32(7200)},
		Tags:          map[string]string{"team": "vision"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *out.JobName != "resnet-1" || *out.JobArn != arn(model.KindServiceJob, *out.JobId) {
		t.Fatalf("submit output %+v", out)
	}
	d, err := h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: out.JobId})
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"jobId":              {*d.JobId, *out.JobId},
		"jobArn":             {*d.JobArn, *out.JobArn},
		"jobName":            {*d.JobName, "resnet-1"},
		"jobQueue":           {*d.JobQueue, arn(model.KindJobQueue, "fair")},
		"status":             {d.Status, types.ServiceJobStatusSubmitted},
		"serviceJobType":     {d.ServiceJobType, types.ServiceJobTypeSagemakerTraining},
		"payload":            {*d.ServiceRequestPayload, payload},
		"shareIdentifier":    {*d.ShareIdentifier, "research"},
		"schedulingPriority": {*d.SchedulingPriority, int32(42)},
		"attempts":           {*d.RetryStrategy.Attempts, int32(3)},
		"rule 0":             {d.RetryStrategy.EvaluateOnExit[0].Action, types.ServiceJobRetryActionExit},
		"rule 1 normalized":  {d.RetryStrategy.EvaluateOnExit[1].Action, types.ServiceJobRetryActionRetry},
		"rule 0 pattern":     {*d.RetryStrategy.EvaluateOnExit[0].OnStatusReason, "Received status from SageMaker: ClientError*"},
		"timeout":            {*d.TimeoutConfig.AttemptDurationSeconds, int32(7200)},
		"tags":               {d.Tags["team"], "vision"},
		"isTerminated":       {*d.IsTerminated, false},
		"createdAt":          {*d.CreatedAt > 0, true},
		"capacity unit":      {*d.CapacityUsage[0].CapacityUnit, "NUM_INSTANCES"},
		"capacity quantity":  {*d.CapacityUsage[0].Quantity, 2.0},
		"no attempts yet":    {len(d.Attempts), 0},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s: got %v, want %v", name, c[0], c[1])
		}
	}
	if got := h.hooks.seen(); !reflect.DeepEqual(got, []string{*out.JobId + ":->SUBMITTED"}) {
		t.Errorf("hooks saw %v", got)
	}
	// A queue may be named by name as well as by ARN.
	id := h.submit("fifo", "by-name", "", 0)
	if d, _ := h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &id}); *d.JobQueue != arn(model.KindJobQueue, "fifo") {
		t.Errorf("queue by name stored as %s", *d.JobQueue)
	}
	// Attempts are reported with their training job ARN.
	h.set(id, model.StatusFailed, func(j *model.ServiceJob) {
		j.Attempts = []model.Attempt{{TrainingJobName: "tj", TrainingJobArn: "arn:aws:sagemaker:local:000000000000:training-job/tj", StartedAt: 5, StoppedAt: 9, StatusReason: "Received status from SageMaker: boom"}}
	})
	d, _ = h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &id})
	if len(d.Attempts) != 1 || d.Attempts[0].ServiceResourceId.Name != types.ServiceResourceIdNameSagemakerTrainingJobArn ||
		*d.Attempts[0].ServiceResourceId.Value != "arn:aws:sagemaker:local:000000000000:training-job/tj" ||
		*d.Attempts[0].StartedAt != 5 || *d.Attempts[0].StoppedAt != 9 || *d.LatestAttempt.ServiceResourceId.Value == "" {
		t.Errorf("attempts %+v latest %+v", d.Attempts, d.LatestAttempt)
	}
}

func TestSubmitRefusals(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	fair, fifo := arn(model.KindJobQueue, "fair"), arn(model.KindJobQueue, "fifo")
	base := func() *batch.SubmitServiceJobInput {
		return &batch.SubmitServiceJobInput{
			JobName: aws.String("j"), JobQueue: aws.String(fifo), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
			ServiceRequestPayload: aws.String(payload),
		}
	}
	tests := map[string]struct {
		mutate func(in *batch.SubmitServiceJobInput)
		want   string
	}{
		"name too long": {func(in *batch.SubmitServiceJobInput) { in.JobName = aws.String(strings.Repeat("n", 129)) }, "jobName: must be at most 128 characters"},
		"bad name":      {func(in *batch.SubmitServiceJobInput) { in.JobName = aws.String("a b") }, "jobName: may contain only"},
		"unknown queue": {func(in *batch.SubmitServiceJobInput) { in.JobQueue = aws.String("nope") }, "jobQueue: job queue nope not found"},
		"queue ARN of elsewhere": {func(in *batch.SubmitServiceJobInput) {
			in.JobQueue = aws.String("arn:aws:batch:us-east-1:1:job-queue/fifo")
		}, "not found"},
		"environment as queue": {func(in *batch.SubmitServiceJobInput) {
			in.JobQueue = aws.String(arn(model.KindServiceEnvironment, "plan"))
		}, "jobQueue: must name a job-queue"},
		"wrong job type":         {func(in *batch.SubmitServiceJobInput) { in.ServiceJobType = "ECS" }, "serviceJobType: must be SAGEMAKER_TRAINING"},
		"share on FIFO":          {func(in *batch.SubmitServiceJobInput) { in.ShareIdentifier = aws.String("x") }, "shareIdentifier: must not be set"},
		"no share on fair share": {func(in *batch.SubmitServiceJobInput) { in.JobQueue = aws.String(fair) }, "shareIdentifier: is required"},
		"priority too high":      {func(in *batch.SubmitServiceJobInput) { in.SchedulingPriority = aws.Int32(10000) }, "schedulingPriority: must be between 0 and 9999"},
		"attempts 11": {func(in *batch.SubmitServiceJobInput) {
			in.RetryStrategy = &types.ServiceJobRetryStrategy{Attempts: aws.Int32(11)}
		}, "retryStrategy.attempts: must be between 1 and 10"},
		"bad payload": {func(in *batch.SubmitServiceJobInput) {
			in.ServiceRequestPayload = aws.String(`{"ResourceConfig":{"InstanceCount":0}}`)
		}, "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1"},
		"payload not JSON": {func(in *batch.SubmitServiceJobInput) { in.ServiceRequestPayload = aws.String(`nope`) }, "serviceRequestPayload: is not valid JSON"},
		"quota share":      {func(in *batch.SubmitServiceJobInput) { in.QuotaShareName = aws.String("q") }, "quotaShareName"},
		"timeout zero": {func(in *batch.SubmitServiceJobInput) {
			in.TimeoutConfig = &types.ServiceJobTimeout{AttemptDurationSeconds: aws.Int32(0)}
		}, "timeoutConfig.attemptDurationSeconds: must be at least 1"},
		"reserved tag":             {func(in *batch.SubmitServiceJobInput) { in.Tags = map[string]string{"aws:x": "y"} }, "reserved"},
		"tag with an escape":       {func(in *batch.SubmitServiceJobInput) { in.Tags = map[string]string{"team": "\x1b[2Jx"} }, "tags.team: tag value must not contain control"},
		"tag key with NUL":         {func(in *batch.SubmitServiceJobInput) { in.Tags = map[string]string{"a\x00": "y"} }, `tags["a\x00"]: tag key must not contain control`},
		"tag with a bidi override": {func(in *batch.SubmitServiceJobInput) { in.Tags = map[string]string{"owner": "a\u202eb"} }, "found U+202E"},
		"misspelled payload member": {func(in *batch.SubmitServiceJobInput) {
			in.ServiceRequestPayload = aws.String(`{"AlgorithmSpec":{"ContainerEntrypoint":["true"]}}`)
		}, "serviceRequestPayload.AlgorithmSpec: is not a member of SageMaker's CreateTrainingJobRequest; did you mean AlgorithmSpecification?"},
		"payload member of the wrong type": {func(in *batch.SubmitServiceJobInput) {
			in.ServiceRequestPayload = aws.String(`{"HyperParameters":{"epochs":3}}`)
		}, "serviceRequestPayload.HyperParameters.epochs: must be a string, got the number 3"},
		"runtime past int32": {func(in *batch.SubmitServiceJobInput) {
			in.ServiceRequestPayload = aws.String(`{"StoppingCondition":{"MaxRuntimeInSeconds":2147483648}}`)
		}, "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be an integer from -2147483648 to 2147483647"},
		"channel outside its directory": {func(in *batch.SubmitServiceJobInput) {
			in.ServiceRequestPayload = aws.String(`{"InputDataConfig":[{"ChannelName":"../../etc/passwd"}]}`)
		}, "serviceRequestPayload.InputDataConfig[0].ChannelName: may contain only"},
		"six rules":             {func(in *batch.SubmitServiceJobInput) { in.RetryStrategy = sixRules() }, "retryStrategy.evaluateOnExit: must have at most 5 rules"},
		"foreign training plan": {func(in *batch.SubmitServiceJobInput) { in.ServiceRequestPayload = aws.String(planPayload("other")) }, "is not the training plan of job queue fifo"},
	}
	// The environment stands for a training plan, so a payload naming another is refused.
	must[*batch.UpdateServiceEnvironmentOutput](t)(h.client.UpdateServiceEnvironment(ctx, &batch.UpdateServiceEnvironmentInput{ServiceEnvironment: aws.String("plan")}, withMember("trainingPlanArn", planArn("p20"))))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			tc.mutate(in)
			_, err := h.client.SubmitServiceJob(ctx, in)
			clientError(t, err, tc.want)
		})
	}
	if n := h.jobCount(); n != 0 {
		t.Fatalf("%d jobs stored by refused requests", n)
	}
	// The environment's own plan, or none, is fine.
	for _, p := range []string{planPayload("p20"), payload} {
		in := base()
		in.ServiceRequestPayload = aws.String(p)
		if _, err := h.client.SubmitServiceJob(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// A disabled queue takes no new jobs.
	must[*batch.UpdateJobQueueOutput](t)(h.client.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("fifo"), State: types.JQStateDisabled}))
	_, err := h.client.SubmitServiceJob(ctx, base())
	clientError(t, err, "jobQueue: job queue fifo is DISABLED")
}

func sixRules() *types.ServiceJobRetryStrategy {
	rs := &types.ServiceJobRetryStrategy{Attempts: aws.Int32(2)}
	for range 6 {
		rs.EvaluateOnExit = append(rs.EvaluateOnExit, types.ServiceJobEvaluateOnExit{Action: types.ServiceJobRetryActionRetry, OnStatusReason: aws.String("x")})
	}
	return rs
}

func planArn(name string) string {
	return "arn:aws:sagemaker:us-east-1:123456789012:training-plan/" + name
}

func planPayload(name string) string {
	return `{"ResourceConfig":{"InstanceType":"ml.p5.48xlarge","InstanceCount":1,"TrainingPlanArn":"` + planArn(name) + `"}}`
}

func TestClientTokenIdempotency(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	in := &batch.SubmitServiceJobInput{
		JobName: aws.String("once"), JobQueue: aws.String("fifo"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
		ServiceRequestPayload: aws.String(payload), ClientToken: aws.String("token-1"),
	}
	first := must[*batch.SubmitServiceJobOutput](t)(h.client.SubmitServiceJob(ctx, in))
	second := must[*batch.SubmitServiceJobOutput](t)(h.client.SubmitServiceJob(ctx, in))
	if *first.JobId != *second.JobId {
		t.Fatalf("a repeated request made a second job: %s and %s", *first.JobId, *second.JobId)
	}
	other := *in
	other.JobName = aws.String("different")
	_, err := h.client.SubmitServiceJob(ctx, &other)
	clientError(t, err, `clientToken: "token-1" was already used by job `+*first.JobId)
	if n := h.jobCount(); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
	if got := h.hooks.seen(); len(got) != 1 {
		t.Fatalf("hooks told of %d new jobs, want 1: %v", len(got), got)
	}
}

func TestListServiceJobs(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	var ids []string
	for i := range 6 {
		ids = append(ids, h.submit("fair", fmt.Sprintf("Train-%d", i), []string{"research", "prod"}[i%2], 0))
	}
	evalID := h.submit("fair", "eval", "research", 0)
	fifoID := h.submit("fifo", "train-fifo", "", 0)
	h.set(ids[0], model.StatusRunnable, nil)
	h.set(ids[1], model.StatusRunning, nil)
	h.set(ids[2], model.StatusRunning, nil)
	h.set(ids[3], model.StatusSucceeded, nil)
	list := func(in *batch.ListServiceJobsInput) []string {
		t.Helper()
		out, err := h.client.ListServiceJobs(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, s := range out.JobSummaryList {
			got = append(got, *s.JobId)
		}
		return got
	}
	filter := func(name string, v string) []types.KeyValuesPair {
		return []types.KeyValuesPair{{Name: aws.String(name), Values: []string{v}}}
	}
	d, _ := h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &ids[3]})
	created3 := strconv.FormatInt(*d.CreatedAt, 10)
	tests := map[string]struct {
		in   *batch.ListServiceJobsInput
		want []string
	}{
		"no status, no filter: RUNNING, newest first": {&batch.ListServiceJobsInput{JobQueue: aws.String("fair")}, []string{ids[2], ids[1]}},
		"a status":                       {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), JobStatus: types.ServiceJobStatusSubmitted}, []string{evalID, ids[5], ids[4]}},
		"queue by ARN":                   {&batch.ListServiceJobsInput{JobQueue: aws.String(arn(model.KindJobQueue, "fair")), JobStatus: types.ServiceJobStatusRunnable}, []string{ids[0]}},
		"JOB_NAME, any case, any status": {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), JobStatus: types.ServiceJobStatusRunning, Filters: filter("JOB_NAME", "TRAIN-3")}, []string{ids[3]}},
		"JOB_NAME prefix":                {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), Filters: filter("JOB_NAME", "train-*")}, []string{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		"BEFORE_CREATED_AT":              {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), Filters: filter("BEFORE_CREATED_AT", created3)}, []string{ids[2], ids[1], ids[0]}},
		"AFTER_CREATED_AT":               {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), Filters: filter("AFTER_CREATED_AT", created3)}, []string{evalID, ids[5], ids[4]}},
		"SHARE_IDENTIFIER with status":   {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), JobStatus: types.ServiceJobStatusRunning, Filters: filter("SHARE_IDENTIFIER", "prod")}, []string{ids[1]}},
		"SHARE_IDENTIFIER alone":         {&batch.ListServiceJobsInput{JobQueue: aws.String("fair"), Filters: filter("SHARE_IDENTIFIER", "research")}, []string{evalID, ids[4], ids[2], ids[0]}},
		"another queue":                  {&batch.ListServiceJobsInput{JobQueue: aws.String("fifo"), JobStatus: types.ServiceJobStatusSubmitted}, []string{fifoID}},
		"every queue":                    {&batch.ListServiceJobsInput{JobStatus: types.ServiceJobStatusSubmitted}, []string{fifoID, evalID, ids[5], ids[4]}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := list(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	refusals := map[string]struct {
		in   *batch.ListServiceJobsInput
		want string
	}{
		"two filters":       {&batch.ListServiceJobsInput{Filters: append(filter("JOB_NAME", "a"), filter("SHARE_IDENTIFIER", "b")...)}, "filters: only one filter"},
		"unknown filter":    {&batch.ListServiceJobsInput{Filters: filter("COLOR", "red")}, "filters[0].name: must be JOB_NAME"},
		"bad time":          {&batch.ListServiceJobsInput{Filters: filter("AFTER_CREATED_AT", "yesterday")}, "AFTER_CREATED_AT must be a time in epoch milliseconds"},
		"bad status":        {&batch.ListServiceJobsInput{JobStatus: "DONE"}, "jobStatus: must be one of"},
		"maxResults 101":    {&batch.ListServiceJobsInput{MaxResults: aws.Int32(101)}, "maxResults: must be between 1 and 100"},
		"maxResults 0":      {&batch.ListServiceJobsInput{MaxResults: aws.Int32(0)}, "maxResults: must be between 1 and 100"},
		"unknown queue":     {&batch.ListServiceJobsInput{JobQueue: aws.String("ghost")}, "jobQueue: job queue ghost not found"},
		"garbage nextToken": {&batch.ListServiceJobsInput{NextToken: aws.String("garbage")}, "nextToken: is not a token"},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			_, err := h.client.ListServiceJobs(ctx, tc.in)
			clientError(t, err, tc.want)
		})
	}
}

func TestListServiceJobsPaginator(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	want := map[string]bool{}
	for i := range 120 {
		want[h.submit("fifo", fmt.Sprintf("j%03d", i), "", 0)] = true
	}
	p := batch.NewListServiceJobsPaginator(h.client, &batch.ListServiceJobsInput{
		JobQueue: aws.String("fifo"), JobStatus: types.ServiceJobStatusSubmitted, MaxResults: aws.Int32(50),
	})
	var got []string
	var created []int64
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.JobSummaryList {
			got = append(got, *s.JobId)
			created = append(created, *s.CreatedAt)
		}
	}
	if pages != 3 || len(got) != 120 {
		t.Fatalf("%d jobs in %d pages, want 120 in 3", len(got), pages)
	}
	seen := map[string]bool{}
	for i, id := range got {
		if !want[id] || seen[id] {
			t.Fatalf("job %s unexpected or repeated", id)
		}
		seen[id] = true
		if i > 0 && created[i] > created[i-1] {
			t.Fatalf("not newest first at %d", i)
		}
	}
	// A token only continues the listing it came from.
	first, _ := h.client.ListServiceJobs(ctx, &batch.ListServiceJobsInput{JobQueue: aws.String("fifo"), JobStatus: types.ServiceJobStatusSubmitted, MaxResults: aws.Int32(10)})
	_, err := h.client.ListServiceJobs(ctx, &batch.ListServiceJobsInput{JobQueue: aws.String("fifo"), JobStatus: types.ServiceJobStatusRunnable, NextToken: first.NextToken})
	clientError(t, err, "nextToken: is not a token returned by an earlier call with the same parameters")
}

func TestTerminateServiceJob(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	waiting := h.submit("fifo", "waiting", "", 0)
	running := h.submit("fifo", "running", "", 0)
	done := h.submit("fifo", "done", "", 0)
	h.set(running, model.StatusRunning, nil)
	h.set(done, model.StatusSucceeded, nil)

	must[*batch.TerminateServiceJobOutput](t)(h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &waiting, Reason: aws.String("not needed")}))
	d := must[*batch.DescribeServiceJobOutput](t)(h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &waiting}))
	if d.Status != types.ServiceJobStatusFailed || !*d.IsTerminated || *d.StatusReason != "not needed" || d.StoppedAt == nil {
		t.Fatalf("terminated waiting job: status %s terminated %v reason %q", d.Status, *d.IsTerminated, aws.ToString(d.StatusReason))
	}

	// A job in flight is handed to the engine to stop.
	must[*batch.TerminateServiceJobOutput](t)(h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &running, Reason: aws.String("wrong data")}))
	j, _ := h.store.GetJob(ctx, running)
	if j.Status != model.StatusRunning || j.TerminateReason != "wrong data" {
		t.Fatalf("in-flight job after terminate: %s %q", j.Status, j.TerminateReason)
	}
	// Terminating a finished job changes nothing.
	must[*batch.TerminateServiceJobOutput](t)(h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &done, Reason: aws.String("late")}))
	if j, _ := h.store.GetJob(ctx, done); j.Status != model.StatusSucceeded || j.IsTerminated {
		t.Fatalf("terminate changed a finished job: %+v", j)
	}
	seen := h.hooks.seen()
	if !contains(seen, waiting+":SUBMITTED->FAILED") || !contains(seen, running+":RUNNING->RUNNING") {
		t.Fatalf("hooks saw %v", seen)
	}
	_, err := h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: aws.String("0190aaaa-0000-7000-8000-000000000000"), Reason: aws.String("x")})
	clientError(t, err, "jobId: job 0190aaaa-0000-7000-8000-000000000000 not found")
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestUpdateServiceJob(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	id := h.submit("fair", "j", "research", 1)
	out := must[*batch.UpdateServiceJobOutput](t)(h.client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &id, SchedulingPriority: aws.Int32(500)}))
	if *out.JobId != id || *out.JobName != "j" || *out.JobArn != arn(model.KindServiceJob, id) {
		t.Fatalf("update output %+v", out)
	}
	d := must[*batch.DescribeServiceJobOutput](t)(h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &id}))
	if *d.SchedulingPriority != 500 {
		t.Fatalf("priority %d", *d.SchedulingPriority)
	}
	_, err := h.client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &id, SchedulingPriority: aws.Int32(-1)})
	clientError(t, err, "schedulingPriority: must be between 0 and 9999")
	h.set(id, model.StatusSucceeded, nil)
	_, err = h.client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &id, SchedulingPriority: aws.Int32(5)})
	clientError(t, err, "is SUCCEEDED; only jobs that have not finished can be updated")
	_, err = h.client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: aws.String("nope"), SchedulingPriority: aws.Int32(5)})
	clientError(t, err, "jobId: job nope not found")
}

func TestGetJobQueueSnapshot(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	// FIFO: submission order.
	var fifo []string
	for i := range 3 {
		id := h.submit("fifo", fmt.Sprintf("f%d", i), "", int32(10-i))
		h.set(id, model.StatusRunnable, func(j *model.ServiceJob) { j.RunnableAt = 1000 + int64(i) })
		fifo = append(fifo, arn(model.KindServiceJob, id))
	}
	snap := must[*batch.GetJobQueueSnapshotOutput](t)(h.client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String("fifo")}))
	var got []string
	for _, j := range snap.FrontOfQueue.Jobs {
		got = append(got, *j.JobArn)
	}
	if !reflect.DeepEqual(got, fifo) || *snap.FrontOfQueue.Jobs[0].EarliestTimeAtPosition != 1000 {
		t.Fatalf("fifo front %v, want %v", got, fifo)
	}
	if snap.QueueUtilization.FairshareUtilization != nil {
		t.Fatal("a FIFO queue has no fair-share utilization")
	}

	// Fair share: prod (weight 0.25) holds 2 instances, research none;
	// research's 2-instance jobs come first until its score passes prod's.
	p1 := h.submit("fair", "p-running", "prod", 0)
	h.set(p1, model.StatusRunning, func(j *model.ServiceJob) { j.ServiceEnvironment = arn(model.KindServiceEnvironment, "plan") })
	r1 := h.submit("fair", "r1", "research", 0)
	r2 := h.submit("fair", "r2", "research", 9)
	p2 := h.submit("fair", "p2", "prod", 0)
	for _, id := range []string{r1, r2, p2} {
		h.set(id, model.StatusRunnable, nil)
	}
	snap = must[*batch.GetJobQueueSnapshotOutput](t)(h.client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String(arn(model.KindJobQueue, "fair"))}))
	got = nil
	for _, j := range snap.FrontOfQueue.Jobs {
		got = append(got, *j.JobArn)
	}
	// scores: prod (2)*0.25 = 0.5, research 0 -> r2 (priority 9) -> research 2 > 0.5 -> p2 -> prod 1.0 < 2 -> r1
	want := []string{arn(model.KindServiceJob, r2), arn(model.KindServiceJob, p2), arn(model.KindServiceJob, r1)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fair front %v, want %v", got, want)
	}
	fu := snap.QueueUtilization.FairshareUtilization
	if *fu.ActiveShareCount != 2 || len(fu.TopCapacityUtilization) != 1 || *fu.TopCapacityUtilization[0].ShareIdentifier != "prod" ||
		*fu.TopCapacityUtilization[0].CapacityUsage[0].CapacityUnit != "ml.g5.xlarge" || *fu.TopCapacityUtilization[0].CapacityUsage[0].Quantity != 2 {
		b, _ := json.Marshal(fu)
		t.Fatalf("fair-share utilization %s", b)
	}
	if tot := snap.QueueUtilization.TotalCapacityUsage; len(tot) != 1 || *tot[0].Quantity != 2 {
		t.Fatalf("total usage %+v", tot)
	}
	_, err := h.client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String("ghost")})
	clientError(t, err, "jobQueue: job queue ghost not found")
}

// TestSubmittedByAndRequestID: the caller's identity is recorded on the job
// and returned by DescribeServiceJob as the extension member submittedBy;
// a request id given by the front (API Gateway) is the one answered with.
func TestSubmittedByAndRequestID(t *testing.T) {
	h := newHarnessWith(t, func(c *api.Config) {
		c.Identity = func(r *http.Request) string { return r.Header.Get("X-Test-Caller") }
		c.RequestID = func(r *http.Request) string { return r.Header.Get("X-Test-Request") }
	})
	h.setup(4)
	body, _ := json.Marshal(map[string]any{
		"jobName": "audited", "jobQueue": "fifo", "serviceJobType": "SAGEMAKER_TRAINING", "serviceRequestPayload": payload,
	})
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/submitservicejob", bytes.NewReader(body))
	req.Header.Set("X-Test-Caller", "arn:aws:iam::123456789012:user/alice")
	req.Header.Set("X-Test-Request", "req-from-the-front")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: HTTP %d", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Amzn-Requestid"); got != "req-from-the-front" {
		t.Errorf("X-Amzn-Requestid %q, want the front's id", got)
	}
	var ref struct{ JobID string }
	json.NewDecoder(resp.Body).Decode(&ref)

	status, _, m := h.raw("describeservicejob", []byte(`{"jobId":"`+ref.JobID+`"}`))
	if status != http.StatusOK || m["submittedBy"] != "arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("describe: HTTP %d, submittedBy %v", status, m["submittedBy"])
	}
	// The SDK client ignores the extension member.
	d := must[*batch.DescribeServiceJobOutput](t)(h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(ref.JobID)}))
	if aws.ToString(d.JobName) != "audited" {
		t.Errorf("SDK describe: job name %q", aws.ToString(d.JobName))
	}
	// Without an identity nothing is recorded, and the member is left out;
	// without a request id from the front, one is minted.
	id := h.submit("fifo", "anonymous", "", 0)
	resp2, err := http.Post(h.srv.URL+"/v1/describeservicejob", "application/json", strings.NewReader(`{"jobId":"`+id+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b, _ := io.ReadAll(resp2.Body)
	if strings.Contains(string(b), "submittedBy") {
		t.Errorf("a job without identity has submittedBy: %s", b)
	}
	if resp2.Header.Get("X-Amzn-Requestid") == "" {
		t.Error("no request id minted")
	}
}

func TestExecutionRolesAreEnforced(t *testing.T) {
	h := newHarness(t)
	h.setup(4)
	srv := httptest.NewServer(api.New(api.Config{Store: h.store, Account: model.LocalAccount, ExecutionRoles: []string{"arn:aws:iam::123456789012:role/train"}}))
	defer srv.Close()
	client := batch.New(batch.Options{BaseEndpoint: aws.String(srv.URL), Region: "local", Credentials: h.client.Options().Credentials})
	submit := func(role string) error {
		_, err := client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String("j"), JobQueue: aws.String("fifo"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
			ServiceRequestPayload: aws.String(`{"RoleArn":"` + role + `","ResourceConfig":{"InstanceCount":1}}`),
		})
		return err
	}
	clientError(t, submit("arn:aws:iam::123456789012:role/admin"), "serviceRequestPayload.RoleArn: arn:aws:iam::123456789012:role/admin is not one of the execution roles this deployment may pass to SageMaker (arn:aws:iam::123456789012:role/train)")
	if err := submit("arn:aws:iam::123456789012:role/train"); err != nil {
		t.Fatal(err)
	}
}
