package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

// unit is the handlers over a bbolt store and the in-process bus, which
// records what they publish. SageMaker is never called by these tests.
type unit struct {
	store store.Store
	logs  *syncBuffer
	deps  cloud.Deps

	mu        sync.Mutex
	published []events.Event
}

func newUnit(t *testing.T, fn cloud.Function) *unit {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := &unit{store: st, logs: &syncBuffer{}}
	bus := &events.LocalBus{}
	bus.Subscribe(func(ev events.Event) {
		u.mu.Lock()
		u.published = append(u.published, ev)
		u.mu.Unlock()
	})
	u.deps = cloud.Deps{
		Config: cloud.Config{Function: fn, Region: "eu-west-1", NamePrefix: "sagequeue", Holder: "unit"},
		Store:  st, Bus: bus, Logger: slog.New(slog.NewJSONHandler(u.logs, nil)),
		SageMaker: sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String("http://127.0.0.1:9"), Region: "eu-west-1",
			Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}),
	}
	return u
}

func (u *unit) kinds() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, ev := range u.published {
		out = append(out, ev.DetailType)
	}
	return out
}

// invokeWithin invokes a handler as Lambda does, with a deadline.
func invokeWithin(t *testing.T, h lambda.Handler, timeout time.Duration, payload []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	_, err := h.Invoke(ctx, payload)
	if took := time.Since(start); took > timeout {
		t.Errorf("the invocation took %v, past its deadline of %v", took, timeout)
	}
	return err
}

// sqsBatch is what the event source mapping of the schedule queue hands the
// function: SQS messages whose bodies are the events the rules sent.
func sqsBatch(bodies ...[]byte) []byte {
	var recs []map[string]any
	for i, b := range bodies {
		recs = append(recs, map[string]any{
			"messageId": fmt.Sprintf("m%d", i), "receiptHandle": "r", "body": string(b), "eventSource": "aws:sqs",
			"eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:sagequeue-ScheduleRequests", "awsRegion": "eu-west-1",
			"attributes": map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	out, _ := json.Marshal(map[string]any{"Records": recs})
	return out
}

func TestScheduleLeaseHeld(t *testing.T) {
	u := newUnit(t, cloud.FunctionSchedule)
	h, err := cloud.NewSchedule(u.deps)
	if err != nil {
		t.Fatal(err)
	}
	handler := lambda.NewHandler(h.Handle)
	ctx := context.Background()
	other, err := u.store.AcquireLease(ctx, engine.LeaseName, "another", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Held throughout: the invocation waits half its time, then hands its
	// request on to the queue, and ends before its deadline.
	if err := invokeWithin(t, handler, 2*time.Second, sqsBatch(tickEvent(time.Now()))); err != nil {
		t.Fatalf("a pass that finds the lease held: %v, want nil", err)
	}
	if !strings.Contains(u.logs.String(), `"msg":"scheduling pass skipped: another scheduler held the lease throughout; the request is handed on","triggers":{"tick":1}`) {
		t.Errorf("no log line of the skipped pass:\n%s", u.logs)
	}
	u.mu.Lock()
	handed := len(u.published) == 1 && u.published[0].Detail.(events.ScheduleRequest).Reason == events.ScheduleReasonBusy
	u.mu.Unlock()
	if !handed {
		t.Errorf("published %v, want one Schedule Requested (busy)", u.kinds())
	}
	// Released while an invocation waits: it runs its pass, logs one line
	// with what triggered it, and gives the lease back so that another
	// environment can run the next one.
	go func() {
		time.Sleep(300 * time.Millisecond)
		u.store.ReleaseLease(ctx, other)
	}()
	req, _ := json.Marshal(map[string]any{"source": "sagequeue", "detail-type": "Schedule Requested", "id": "e1", "detail": map[string]any{"reason": "submitted"}})
	if err := invokeWithin(t, handler, 10*time.Second, sqsBatch(req, req, tickEvent(time.Now()))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.logs.String(), `"msg":"scheduling pass","triggers":{"schedule-requested":2,"tick":1},"eventIds":["e1","e1",`) {
		t.Errorf("no log line of the pass:\n%s", u.logs)
	}
	if _, err := u.store.AcquireLease(ctx, engine.LeaseName, "another", time.Now(), time.Minute); err != nil {
		t.Errorf("the lease was kept after the pass: %v", err)
	}
}

// TestStateChangeDecodesLeniently applies an event one of whose fields
// SageMaker sent in a shape sagequeue does not know: the rest is applied,
// and the field is logged and counted.
func TestStateChangeDecodesLeniently(t *testing.T) {
	u := newUnit(t, cloud.FunctionStateChange)
	var metrics syncBuffer
	u.deps.Metrics = &metrics
	h, err := cloud.NewStateChange(u.deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := "0190aaaa-0000-7000-8000-000000000001"
	j := &model.ServiceJob{
		JobID: id, JobName: "j", JobQueue: "arn:aws:batch:eu-west-1:123456789012:job-queue/q", ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		Status: model.StatusRunning, CreatedAt: 1, UpdatedAt: 1, Instances: 1, Launches: 1, Placements: 1,
		Attempts: []model.Attempt{{TrainingJobName: "sagequeue-" + id + "-1", StartedAt: 2}},
	}
	if _, err := u.store.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	ev := `{"version":"0","id":"odd","detail-type":"SageMaker Training Job State Change","source":"aws.sagemaker","time":"2024-01-01T00:00:00Z",` +
		`"detail":{"TrainingJobName":"sagequeue-` + id + `-1","TrainingJobStatus":"Completed","SecondaryStatus":"Completed",` +
		`"Tags":[{"Key":"team","Value":"x"}],"TrainingEndTime":"not a time"}}`
	if _, err := lambda.NewHandler(h.Handle).Invoke(ctx, []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if got, _ := u.store.GetJob(ctx, id); got.Status != model.StatusSucceeded {
		t.Fatalf("the event was not applied: %s", got.Status)
	}
	if !strings.Contains(u.logs.String(), `"fields":["detail.Tags","detail.TrainingEndTime"]`) && !strings.Contains(u.logs.String(), `"fields":["detail.TrainingEndTime","detail.Tags"]`) {
		t.Errorf("no log line of the skipped fields:\n%s", u.logs)
	}
	if m := metrics.String(); !strings.Contains(m, `"EventFieldsSkipped":1`) || !strings.Contains(m, `"Field":"detail.Tags"`) {
		t.Errorf("no metric of the skipped fields:\n%s", m)
	}
}

func TestStateChangeIgnoresOthers(t *testing.T) {
	u := newUnit(t, cloud.FunctionStateChange)
	h, err := cloud.NewStateChange(u.deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range []string{
		// Another team's training job.
		`{"version":"0","id":"1","detail-type":"SageMaker Training Job State Change","source":"aws.sagemaker","account":"123456789012","time":"2024-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{"TrainingJobName":"their-job","TrainingJobStatus":"Completed","CreationTime":1704067200000}}`,
		// Our prefix, no such job.
		`{"version":"0","id":"2","detail-type":"SageMaker Training Job State Change","source":"aws.sagemaker","detail":{"TrainingJobName":"sagequeue-0190aaaa-1","TrainingJobStatus":"Completed"}}`,
		// Not a training job state change.
		`{"version":"0","id":"3","detail-type":"SageMaker Endpoint State Change","source":"aws.sagemaker","detail":{"EndpointName":"e"}}`,
		`[1,2,3]`,
	} {
		if _, err := lambda.NewHandler(h.Handle).Invoke(ctx, []byte(ev)); err != nil {
			t.Errorf("%s: %v, want nil", ev, err)
		}
	}
	if k := u.kinds(); len(k) != 0 {
		t.Errorf("published %v for events that are not ours", k)
	}
}

func TestSubmitPublishes(t *testing.T) {
	u := newUnit(t, cloud.FunctionSubmit)
	u.deps.Config.AccountID = "123456789012"
	h, err := cloud.NewSubmit(u.deps)
	if err != nil {
		t.Fatal(err)
	}
	call := func(op string, body map[string]any) lambdaevents.APIGatewayV2HTTPResponse {
		t.Helper()
		b, _ := json.Marshal(body)
		ev, _ := json.Marshal(lambdaevents.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: "/v1/" + op, Body: string(b), Headers: map[string]string{"content-type": "application/json"},
			RequestContext: lambdaevents.APIGatewayV2HTTPRequestContext{Stage: "$default", RequestID: "r-" + op, HTTP: lambdaevents.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}},
		})
		out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var resp lambdaevents.APIGatewayV2HTTPResponse
		json.Unmarshal(out, &resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", op, resp.StatusCode, resp.Body)
		}
		return resp
	}
	call("createserviceenvironment", map[string]any{
		"serviceEnvironmentName": "env", "serviceEnvironmentType": "SAGEMAKER_TRAINING",
		"capacityLimits": []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "maxCapacity": 2}},
	})
	call("createjobqueue", map[string]any{
		"jobQueueName": "q", "priority": 1, "jobQueueType": "SAGEMAKER_TRAINING",
		"serviceEnvironmentOrder": []any{map[string]any{"order": 1, "serviceEnvironment": "env"}},
	})
	if k := u.kinds(); len(k) != 0 {
		t.Errorf("creating an environment and a queue published %v: a new queue has no jobs to schedule", k)
	}
	resp := call("submitservicejob", map[string]any{
		"jobName": "j", "jobQueue": "q", "serviceJobType": "SAGEMAKER_TRAINING",
		"serviceRequestPayload": `{"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":1,"VolumeSizeInGB":1}}`,
	})
	if !strings.Contains(resp.Body, "arn:aws:batch:eu-west-1:123456789012:service-job/") {
		t.Errorf("submit answered %s", resp.Body)
	}
	u.mu.Lock()
	got := u.published
	u.mu.Unlock()
	if len(got) != 2 || got[0].DetailType != "Service Job State Change" || got[1].DetailType != "Schedule Requested" ||
		got[1].Source != "sagequeue" || got[1].Detail.(events.ScheduleRequest).Reason != "submitted" {
		t.Fatalf("a submission published %+v, want its state change and a schedule request", got)
	}
	if d := got[0].Detail.(events.JobDetail); d.Status != "SUBMITTED" {
		t.Errorf("state change detail %+v", d)
	}
	// More capacity: a pass may place more jobs.
	call("updateserviceenvironment", map[string]any{
		"serviceEnvironment": "env", "capacityLimits": []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "maxCapacity": 4}},
	})
	if k := u.kinds(); len(k) != 3 || k[2] != "Schedule Requested" {
		t.Errorf("an environment update published %v, want a schedule request", k[2:])
	}
}

func TestSubmitAccountFromFunctionArn(t *testing.T) {
	u := newUnit(t, cloud.FunctionSubmit)
	h, err := cloud.NewSubmit(u.deps) // no account configured
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(lambdaevents.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/v1/createserviceenvironment",
		Body:           `{"serviceEnvironmentName":"env","serviceEnvironmentType":"SAGEMAKER_TRAINING","capacityLimits":[{"capacityUnit":"NUM_INSTANCES","maxCapacity":1}]}`,
		RequestContext: lambdaevents.APIGatewayV2HTTPRequestContext{Stage: "$default", HTTP: lambdaevents.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}},
	})
	// Without a Lambda context there is nothing to take it from.
	if _, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "SAGEQUEUE_ACCOUNT_ID is not set") {
		t.Errorf("without an account: %v", err)
	}
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: "arn:aws-cn:lambda:cn-north-1:210987654321:function:sq-submit"})
	out, err := lambda.NewHandler(h.Handle).Invoke(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `arn:aws-cn:batch:eu-west-1:210987654321:service-environment/env`) {
		t.Errorf("response %s: want the partition and account of the function's ARN", out)
	}
}
