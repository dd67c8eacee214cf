package cloud_test

// The cloud-shape end-to-end test: the three Lambda handlers, invoked with
// JSON events exactly as Lambda delivers them, with Lambda's deadlines
// (internal/lambdatest), built by cloud.Connect from their environment
// variables as in Lambda, on the DynamoDB store over DynamoDB Local behind
// the fault layer (internal/ddbfault: throttling, cancelled transactions,
// latency, lagging indexes), with the local SageMaker endpoint (real
// processes) standing in for SageMaker, and doubles of API Gateway,
// EventBridge (internal/ebtest: at least once, out of order, late) and of
// the SQS queue in front of the schedule function around them:
//
//	Batch SDK client --HTTP--> API Gateway double --v2 event--> submit
//	submit, schedule, statechange --PutEvents (ebus, real SDK)--> EventBridge double
//	localsm --state change events--> EventBridge double (the default bus)
//	EventBridge double (the stack's rules):
//	    Schedule Requested, ticks --> schedule queue --event source mapping--> schedule
//	        (batching window, at most two invocations at a time)
//	    SageMaker state changes --> statechange (asynchronous invocation, retried)
//	    Service Job State Change --> recorded
//
// Nothing of ours is faked: the doubles stand in for AWS services.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/google/uuid"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/ddbfault"
	"github.com/sagequeue/sagequeue/internal/ddblocal"
	"github.com/sagequeue/sagequeue/internal/ebtest"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/lambdatest"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

const (
	e2eRegion  = "eu-west-1"
	e2eAccount = "123456789012"
	// The access key of the test's Batch client, and the IAM user API
	// Gateway's IAM authorization finds behind it.
	e2eAccessKey = "AKIAE2EALICE"
	e2eUserArn   = "arn:aws:iam::123456789012:user/alice"
)

// syncBuffer collects the functions' logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recordedEvent is a "Service Job State Change" as it reached EventBridge.
type recordedEvent struct {
	time   time.Time // the entry's Time: the job's updatedAt, to the millisecond
	detail events.JobDetail
}

func tickEvent(now time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": uuid.NewString(), "detail-type": "Scheduled Event", "source": "aws.events",
		"account": e2eAccount, "time": now.UTC().Format(time.RFC3339), "region": e2eRegion,
		"resources": []string{"arn:aws:events:eu-west-1:123456789012:rule/sagequeue-tick"}, "detail": map[string]any{},
	})
	return b
}

// ---- a fake of API Gateway ----

// apiGateway turns HTTP requests into HTTP API (payload 2.0) events for the
// submit function, with IAM authorization and a stage "prod", and the
// function's responses back into HTTP responses.
type apiGateway struct {
	t      *testing.T
	submit *lambdatest.Function
	n      atomic.Int64
}

var credentialRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (g *apiGateway) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := g.n.Add(1)
	body, _ := io.ReadAll(req.Body)
	reqID := fmt.Sprintf("E2eReq%dId=", n)
	headers := map[string]string{}
	for k, vs := range req.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	headers["host"] = req.Host
	ev := lambdaevents.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: req.URL.EscapedPath(), RawQueryString: req.URL.RawQuery,
		Headers: headers,
		RequestContext: lambdaevents.APIGatewayV2HTTPRequestContext{
			RouteKey: "$default", AccountID: e2eAccount, Stage: "prod", RequestID: reqID, APIID: "e2eapi",
			DomainName: req.Host, DomainPrefix: "e2eapi", Time: time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: time.Now().UnixMilli(),
			HTTP: lambdaevents.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: req.Method, Path: req.URL.Path, Protocol: req.Proto, SourceIP: "127.0.0.1", UserAgent: req.UserAgent(),
			},
		},
	}
	if m := credentialRE.FindStringSubmatch(req.Header.Get("Authorization")); m != nil && m[1] == e2eAccessKey {
		ev.RequestContext.Authorizer = &lambdaevents.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &lambdaevents.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
				AccessKey: m[1], AccountID: e2eAccount, CallerID: "AIDAE2EALICE", UserARN: e2eUserArn, UserID: "AIDAE2EALICE",
			},
		}
	}
	// API Gateway sends some bodies base64-encoded: every other one here.
	if n%2 == 0 {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	} else {
		ev.Body = string(body)
	}
	payload, _ := json.Marshal(ev)
	out, err := g.submit.Invoke(req.Context(), payload)
	if err != nil {
		g.t.Errorf("submit failed: %v", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"message":"Internal Server Error"}`)
		return
	}
	var resp lambdaevents.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		g.t.Errorf("submit answered %s: %v", out, err)
		return
	}
	if got := resp.Headers["X-Amzn-Requestid"]; got != reqID {
		g.t.Errorf("X-Amzn-Requestid %q, want API Gateway's %q", got, reqID)
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	b := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			g.t.Errorf("submit answered a body that is not base64: %v", err)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}

// ---- the stack ----

type stack struct {
	t      *testing.T
	rt     *lambdatest.Runtime
	bus    *ebtest.Bus
	queue  *lambdatest.Queue // in front of schedule
	faults *ddbfault.Proxy
	local  *localsm.Server // nil with a SageMaker double
	smURL  string
	// smCalls counts the requests to the local SageMaker endpoint by
	// operation.
	smCalls sync.Map // string -> *atomic.Int64

	submitFn, scheduleFn *lambdatest.Function
	gw                   *httptest.Server
	batch                *batch.Client
	logs                 *syncBuffer
	dir                  string

	mu        sync.Mutex
	jobEvents []recordedEvent
	lost      []string // events that failed every retry
}

// stackOptions vary the stack.
type stackOptions struct {
	// faults are the fault layer's in front of DynamoDB Local (set after
	// the tables are made).
	faults ddbfault.Faults
	// delivery is EventBridge's.
	delivery ebtest.Delivery
	// sagemaker is the endpoint of a SageMaker double; empty: the local
	// SageMaker endpoint, running the training jobs as processes.
	sagemaker string
	// tick is the period of the tick (the stack's is a minute).
	tick time.Duration
	// localsm changes the local SageMaker endpoint's configuration (its
	// training plans).
	localsm func(*localsm.Config)
}

// The schedule queue's event source mapping, as the stack has it, with a
// shorter batching window (the stack's is a second) to keep tests quick.
const (
	e2eBatchSize      = 100
	e2eBatchWindow    = 250 * time.Millisecond
	e2eMaxConcurrency = 2
)

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("E2E_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("faults %+v, delivery %+v, seed %d (E2E_SEED)", o.faults, o.delivery, seed)
	s := &stack{t: t, logs: &syncBuffer{}, dir: t.TempDir(), rt: &lambdatest.Runtime{Account: e2eAccount, Region: e2eRegion}}
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())

	o.delivery.Refuse = max(o.delivery.Refuse, 0)
	s.bus = ebtest.New(t, ebtest.Config{Account: e2eAccount, Region: e2eRegion, BusName: "sagequeue-e2e", Delivery: o.delivery, Seed: seed})
	s.faults = ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Faults{})

	endpoints := endpoints{EventBridge: s.bus.URL(), SageMaker: o.sagemaker, DynamoDB: s.faults.URL()}
	if o.sagemaker == "" {
		smCfg := localsm.Config{
			Dir: filepath.Join(s.dir, "sagemaker"), Region: e2eRegion, Account: e2eAccount, StopGrace: 2 * time.Second,
			Logger: logger.With("component", "localsm"),
			Emit: func(_ context.Context, ev events.TrainingJobStateChange) {
				raw, err := json.Marshal(ev)
				if err != nil {
					t.Errorf("marshaling a SageMaker event: %v", err)
					return
				}
				s.bus.Put(raw) // SageMaker's events reach the default bus
			},
		}
		if o.localsm != nil {
			o.localsm(&smCfg)
		}
		local, err := localsm.New(smCfg)
		if err != nil {
			t.Fatal(err)
		}
		s.local = local
		smSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := s.smCalls.LoadOrStore(strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "SageMaker."), new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			local.ServeHTTP(w, r)
		}))
		t.Cleanup(smSrv.Close)
		endpoints.SageMaker = smSrv.URL
	}
	s.smURL = endpoints.SageMaker
	// Each function as Lambda runs it: every execution environment built
	// at its cold start, as the function's main builds it.
	function := func(fn cloud.Function, handler func(cloud.Deps) (any, error)) *lambdatest.Function {
		return &lambdatest.Function{Runtime: s.rt, Name: string(fn), Timeout: cloud.Timeouts[fn], New: func() lambda.Handler {
			h, err := handler(stackDeps(t, fn, endpoints, logger.With("function", string(fn))))
			if err != nil {
				t.Errorf("cold start of %s: %v", fn, err)
				return lambda.NewHandler(func() error { return err })
			}
			return lambda.NewHandler(h)
		}}
	}
	s.submitFn = function(cloud.FunctionSubmit, func(d cloud.Deps) (any, error) {
		h, err := cloud.NewSubmit(d)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
	s.scheduleFn = function(cloud.FunctionSchedule, func(d cloud.Deps) (any, error) {
		h, err := cloud.NewSchedule(d)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
	statechangeFn := function(cloud.FunctionStateChange, func(d cloud.Deps) (any, error) {
		h, err := cloud.NewStateChange(d)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
	s.faults.Set(o.faults)

	// The stack's rules.
	s.queue = &lambdatest.Queue{
		Function: s.scheduleFn, ARN: "arn:aws:sqs:eu-west-1:123456789012:sagequeue-ScheduleRequests",
		BatchSize: e2eBatchSize, Window: e2eBatchWindow, MaxConcurrency: e2eMaxConcurrency,
		VisibilityTimeout: 6*cloud.Timeouts[cloud.FunctionSchedule] + e2eBatchWindow, MaxReceives: 5,
	}
	statechange := &lambdatest.Async{
		Function: statechangeFn, Retries: 2, Backoff: 100 * time.Millisecond,
		Dead: func(p []byte, err error) {
			s.mu.Lock()
			s.lost = append(s.lost, fmt.Sprintf("statechange: %v: %s", err, p))
			s.mu.Unlock()
		},
	}
	s.bus.Rule(events.Source, events.DetailTypeScheduleRequested, s.queue.Send)
	s.bus.Rule(events.SourceSageMaker, events.DetailTypeTrainingJobStateChange, func(raw []byte) { statechange.Invoke(ctx, raw) })
	s.bus.Rule(events.Source, events.DetailTypeJobStateChange, func(raw []byte) {
		var ev struct {
			Time   time.Time        `json:"time"`
			Detail events.JobDetail `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Errorf("a job state change whose detail is not a job: %v", err)
			return
		}
		s.mu.Lock()
		s.jobEvents = append(s.jobEvents, recordedEvent{time: ev.Time, detail: ev.Detail})
		s.mu.Unlock()
	})
	s.queue.Start(ctx)
	tick := o.tick
	if tick == 0 {
		tick = time.Second
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the tick rule, faster; its target is the schedule queue
		defer wg.Done()
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tk.C:
				s.queue.Send(tickEvent(now))
			}
		}
	}()

	s.gw = httptest.NewServer(&apiGateway{t: t, submit: s.submitFn})
	t.Cleanup(s.gw.Close)
	s.batch = batch.New(batch.Options{
		BaseEndpoint: aws.String(s.gw.URL + "/prod"), Region: e2eRegion,
		Credentials: credentials.NewStaticCredentialsProvider(e2eAccessKey, "secret", ""),
	})
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if s.local != nil {
			if err := s.local.Shutdown(sctx); err != nil {
				t.Errorf("stopping the local SageMaker endpoint: %v", err)
			}
		}
		cancel()
		wg.Wait()
		s.queue.Stop()
		s.bus.Close()
		s.checkLambda()
		if path := os.Getenv("E2E_LOGS"); path != "" {
			os.WriteFile(filepath.Join(path, strings.ReplaceAll(t.Name(), "/", "_")+".log"), []byte(s.logs.String()), 0o644)
		}
		if t.Failed() {
			logs := s.logs.String()
			if len(logs) > 200_000 {
				logs = "...\n" + logs[len(logs)-200_000:]
			}
			t.Logf("functions' logs:\n%s", logs)
		}
	})
	return s
}

// checkLambda fails the test for what Lambda would not have let pass: an
// invocation that ran past its deadline (Lambda kills it there), an event
// that failed every retry, a schedule request in the dead letters.
func (s *stack) checkLambda() {
	for _, o := range s.rt.Overruns() {
		s.t.Errorf("%s ran %v, past its deadline of %v", o.Function, o.Returned.Sub(o.Start).Round(time.Millisecond), o.Deadline.Sub(o.Start))
	}
	s.mu.Lock()
	for _, l := range s.lost {
		s.t.Errorf("an event was lost after Lambda's retries: %s", l)
	}
	s.mu.Unlock()
	for _, d := range s.queue.DeadLetters() {
		s.t.Errorf("a schedule request went to the dead letters: %s", d)
	}
}

// store reads the stack's table directly, past the fault layer.
func (s *stack) store() *dynamo.Store { return directStore(s.t) }

// directStore is a store on the test's table (made by stackDeps), past the
// fault layer and the recording of calls.
func directStore(t *testing.T) *dynamo.Store {
	t.Helper()
	tablesMu.Lock()
	table := tables[t]
	tablesMu.Unlock()
	st, err := dynamo.New(context.Background(), dynamo.Config{Client: ddblocal.Client(t), Table: table})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (s *stack) recorded() []recordedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.jobEvents)
}

// payload is a CreateTrainingJob request complete enough for the real
// SageMaker client's validation, running script with sh on the local
// endpoint.
func payload(script string) string {
	b, _ := json.Marshal(map[string]any{
		"AlgorithmSpecification": map[string]any{
			"TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/none:latest", "TrainingInputMode": "File",
			"ContainerEntrypoint": []string{"sh", "-c"}, "ContainerArguments": []string{script},
		},
		"RoleArn":           "arn:aws:iam::123456789012:role/SageMakerExecution",
		"OutputDataConfig":  map[string]any{"S3OutputPath": "s3://sagequeue-e2e/output"},
		"ResourceConfig":    map[string]any{"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
		"StoppingCondition": map[string]any{"MaxRuntimeInSeconds": 600},
	})
	return string(b)
}

func (s *stack) setup(ctx context.Context) {
	s.t.Helper()
	for _, e := range []struct {
		env, queue string
		capacity   int32
	}{{"env-a", "qa", 3}, {"env-b", "qb", 2}} {
		if _, err := s.batch.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
			ServiceEnvironmentName: aws.String(e.env), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
			CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(e.capacity)}},
		}); err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.batch.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
			JobQueueName: aws.String(e.queue), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
			ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String(e.env)}},
		}); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *stack) submit(ctx context.Context, queue, name, script string, attempts int32) string {
	s.t.Helper()
	in := &batch.SubmitServiceJobInput{
		JobName: aws.String(name), JobQueue: aws.String(queue), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
		ServiceRequestPayload: aws.String(payload(script)),
	}
	if attempts > 0 {
		in.RetryStrategy = &types.ServiceJobRetryStrategy{Attempts: aws.Int32(attempts)}
	}
	out, err := s.batch.SubmitServiceJob(ctx, in)
	if err != nil {
		s.t.Fatalf("SubmitServiceJob %s: %v", name, err)
	}
	if !strings.HasPrefix(aws.ToString(out.JobArn), "arn:aws:batch:eu-west-1:123456789012:service-job/") {
		s.t.Errorf("job ARN %s: want the account taken from the function's ARN", aws.ToString(out.JobArn))
	}
	return aws.ToString(out.JobId)
}

func (s *stack) describe(ctx context.Context, id string) *batch.DescribeServiceJobOutput {
	s.t.Helper()
	d, err := s.batch.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(id)})
	if err != nil {
		s.t.Fatalf("DescribeServiceJob %s: %v", id, err)
	}
	return d
}

func (s *stack) waitFor(ctx context.Context, id string, timeout time.Duration, what string, ok func(*batch.DescribeServiceJobOutput) bool) *batch.DescribeServiceJobOutput {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := s.describe(ctx, id)
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s (%s) is not %s after %s: %s %q", id, aws.ToString(d.JobName), what, timeout, d.Status, aws.ToString(d.StatusReason))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func done(d *batch.DescribeServiceJobOutput) bool {
	return d.Status == types.ServiceJobStatusSucceeded || d.Status == types.ServiceJobStatusFailed
}

// outcome is what must not depend on the order of SageMaker's events.
type outcome struct {
	Status       types.ServiceJobStatus
	Attempts     int
	Reason       string
	Terminated   bool
	FirstAttempt string // the first attempt's statusReason
}

func outcomeOf(d *batch.DescribeServiceJobOutput) outcome {
	o := outcome{Status: d.Status, Attempts: len(d.Attempts), Reason: aws.ToString(d.StatusReason), Terminated: aws.ToBool(d.IsTerminated)}
	if len(d.Attempts) > 0 {
		o.FirstAttempt = aws.ToString(d.Attempts[0].StatusReason)
	}
	return o
}

func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

// phase orders the states of a job over its life: the attempt a state
// belongs to (waiting states wait for the next one), then the state.
func phase(d events.JobDetail) [2]int {
	rank := map[string]int{"SUBMITTED": 0, "RUNNABLE": 1, "SCHEDULED": 2, "STARTING": 3, "RUNNING": 4, "SUCCEEDED": 5, "FAILED": 5}
	n := len(d.Attempts)
	if d.Status == "SUBMITTED" || d.Status == "RUNNABLE" {
		n++
	}
	return [2]int{n, rank[d.Status]}
}

func inFlight(status string) bool {
	return status == "SCHEDULED" || status == "STARTING" || status == "RUNNING"
}

type interval struct{ from, to int64 }

// maxOverlap is the most intervals that hold at once; an interval that ends
// when another starts does not overlap it.
func maxOverlap(ivs []interval) int {
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, iv := range ivs {
		edges = append(edges, edge{iv.from, +1}, edge{iv.to, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.delta, b.delta)) })
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// runScenario drives one stack through the scenario and checks it; it
// returns the outcome of every job by name.
func runScenario(t *testing.T, o stackOptions) map[string]outcome {
	start := time.Now()
	s := newStack(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	s.setup(ctx)

	// 20 jobs on an environment of 3 instances.
	var ids []string
	for i := range 20 {
		ids = append(ids, s.submit(ctx, "qa", fmt.Sprintf("bulk-%02d", i), "sleep 0.3; echo done", 0))
	}
	// A job that fails its first attempt and succeeds its second.
	marker := filepath.Join(s.dir, "failed-once")
	retry := s.submit(ctx, "qb", "retry", fmt.Sprintf("if [ -e %[1]s ]; then echo fine; exit 0; fi; touch %[1]s; echo 'first try fails' >&2; exit 3", marker), 2)
	// A job that runs until it is terminated.
	pidFile := filepath.Join(s.dir, "long.pid")
	long := s.submit(ctx, "qb", "long", fmt.Sprintf("echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s; exec sleep 300", pidFile), 0)

	s.waitFor(ctx, long, 60*time.Second, "RUNNING", func(d *batch.DescribeServiceJobOutput) bool { return d.Status == types.ServiceJobStatusRunning })
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if time.Now().After(deadline) {
			t.Fatal("the long job did not write its pid")
		}
	}
	const reason = "no longer needed (e2e)"
	if _, err := s.batch.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: aws.String(long), Reason: aws.String(reason)}); err != nil {
		t.Fatal(err)
	}

	results := map[string]outcome{}
	var intervals []interval
	for _, id := range append(slices.Clone(ids), retry, long) {
		d := s.waitFor(ctx, id, 60*time.Second, "finished", done)
		results[aws.ToString(d.JobName)] = outcomeOf(d)
		if slices.Contains(ids, id) {
			intervals = append(intervals, interval{aws.ToInt64(d.ScheduledAt), aws.ToInt64(d.StoppedAt)})
		}
	}
	elapsed := time.Since(start)

	// All bulk jobs succeed, never more than 3 at once.
	for i := range 20 {
		o := results[fmt.Sprintf("bulk-%02d", i)]
		if o.Status != types.ServiceJobStatusSucceeded || o.Attempts != 1 {
			t.Errorf("bulk-%02d: %+v, want SUCCEEDED after 1 attempt", i, o)
		}
	}
	most := maxOverlap(intervals)
	if most > 3 {
		t.Errorf("%d bulk jobs held capacity at once (scheduledAt/stoppedAt), capacity 3", most)
	}
	if most < 2 {
		t.Errorf("at most %d bulk job at once: the environment's capacity went unused", most)
	}
	// The retry.
	if o := results["retry"]; o.Status != types.ServiceJobStatusSucceeded || o.Attempts != 2 ||
		o.FirstAttempt != "Received status from SageMaker: AlgorithmError: exit code 3: first try fails" {
		t.Errorf("retry: %+v, want SUCCEEDED after 2 attempts, the first failed with exit code 3", o)
	}
	// The terminate.
	if o := results["long"]; o.Status != types.ServiceJobStatusFailed || !o.Terminated || o.Reason != reason {
		t.Errorf("long: %+v, want FAILED, isTerminated, reason %q", o, reason)
	}
	for deadline := time.Now().Add(10 * time.Second); !processGone(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the terminated job's process %d is still running", pid)
			break
		}
	}
	// The caller's identity is on the job (an extension member, so read
	// over plain HTTP through API Gateway).
	checkSubmittedBy(t, s, ctx, retry)

	// One training job per attempt: no launch was made twice.
	checkLaunchedOnce(t, s, ctx, append(slices.Clone(ids), retry, long))

	// Let the last events land (EventBridge delivers late), then read what
	// it carried.
	time.Sleep(o.delivery.MaxDelay + 500*time.Millisecond)
	checkEvents(t, s.recorded(), ids, results)

	invoked := map[string]int{}
	failed := 0
	for _, i := range s.rt.Invocations() {
		invoked[i.Function]++
		if i.Err != nil {
			failed++
			t.Logf("failed invocation (retried): %s: %v", i.Function, i.Err)
		}
	}
	t.Logf("done in %s: %d API requests, invocations %v, %d failed (retried), %d bulk jobs at once at most; EventBridge %+v; DynamoDB faults %+v",
		elapsed.Round(time.Millisecond), s.gw.Config.Handler.(*apiGateway).n.Load(), invoked, failed, most, s.bus.Stats(), s.faults.Stats())
	return results
}

// checkLaunchedOnce checks that SageMaker has exactly one training job for
// each attempt of the jobs, by the attempts' names.
func checkLaunchedOnce(t *testing.T, s *stack, ctx context.Context, ids []string) {
	t.Helper()
	sm := sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(s.smURL), Region: e2eRegion, Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	created := map[string]int{}
	p := sagemaker.NewListTrainingJobsPaginator(sm, &sagemaker.ListTrainingJobsInput{MaxResults: aws.Int32(100)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.TrainingJobSummaries {
			created[aws.ToString(j.TrainingJobName)]++
		}
	}
	st := s.store()
	attempts := 0
	for _, id := range ids {
		j, err := st.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range j.Attempts {
			attempts++
			if created[a.TrainingJobName] != 1 {
				t.Errorf("job %s: attempt %s has %d training jobs", id, a.TrainingJobName, created[a.TrainingJobName])
			}
		}
	}
	if len(created) != attempts {
		t.Errorf("%d training jobs for %d attempts: %v", len(created), attempts, created)
	}
}

func checkSubmittedBy(t *testing.T, s *stack, ctx context.Context, id string) {
	t.Helper()
	// DescribeServiceJob through the SDK (signed, so that API Gateway finds
	// the caller), keeping the raw response: submittedBy is an extension
	// member that the SDK's output type does not have.
	var raw []byte
	_, err := s.batch.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(id)}, func(o *batch.Options) {
		o.HTTPClient = captureBody{client: http.DefaultClient, into: &raw}
	})
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ SubmittedBy string }
	if err := json.Unmarshal(raw, &d); err != nil || d.SubmittedBy != e2eUserArn {
		t.Errorf("submittedBy %q (%v), want %s: %s", d.SubmittedBy, err, e2eUserArn, raw)
	}
}

// captureBody is an HTTP client that keeps a copy of the response body.
type captureBody struct {
	client *http.Client
	into   *[]byte
}

func (c captureBody) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	*c.into = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, err
}

// checkEvents checks the job state change events: every job's sequence only
// moves forward and ends in its final state, and the bulk jobs never held
// more than 3 instances at once by the events' times.
func checkEvents(t *testing.T, evs []recordedEvent, bulk []string, results map[string]outcome) {
	t.Helper()
	byJob := map[string][]recordedEvent{}
	for _, e := range evs {
		byJob[e.detail.JobID] = append(byJob[e.detail.JobID], e)
	}
	if len(byJob) != 22 {
		t.Errorf("state change events for %d jobs, want 22", len(byJob))
	}
	var intervals []interval
	for id, seq := range byJob {
		// EventBridge does not keep order between publishers: order by the
		// time of the change (updatedAt, to the millisecond) and, within a
		// millisecond, by phase.
		slices.SortStableFunc(seq, func(a, b recordedEvent) int {
			pa, pb := phase(a.detail), phase(b.detail)
			return cmp.Or(a.time.Compare(b.time), cmp.Compare(pa[0], pb[0]), cmp.Compare(pa[1], pb[1]))
		})
		var statuses []string
		for i, e := range seq {
			statuses = append(statuses, e.detail.Status)
			if i > 0 {
				if p, q := phase(seq[i-1].detail), phase(e.detail); q[0] < p[0] || q[0] == p[0] && q[1] < p[1] {
					t.Errorf("job %s (%s) moved backwards: %v", id, e.detail.JobName, statuses)
				}
			}
		}
		last := seq[len(seq)-1].detail
		if want := results[last.JobName]; string(want.Status) != last.Status || len(last.Attempts) != want.Attempts {
			t.Errorf("job %s: the last event says %s after %d attempts, the job is %s after %d", last.JobName, last.Status, len(last.Attempts), want.Status, want.Attempts)
		}
		if seq[0].detail.Status != "SUBMITTED" {
			t.Errorf("job %s: the first event is %s: %v", last.JobName, seq[0].detail.Status, statuses)
		}
		if !slices.Contains(bulk, id) {
			continue
		}
		var from time.Time
		for _, e := range seq {
			switch {
			case inFlight(e.detail.Status) && from.IsZero():
				from = e.time
			case !inFlight(e.detail.Status) && !from.IsZero():
				intervals = append(intervals, interval{from.UnixMilli(), e.time.UnixMilli()})
				from = time.Time{}
			}
		}
		if !from.IsZero() {
			t.Errorf("job %s: still in flight by its events: %v", last.JobName, statuses)
		}
	}
	if most := maxOverlap(intervals); most > 3 {
		t.Errorf("%d bulk jobs in flight at once by their state change events, capacity 3", most)
	}
}

// chaos is a bad day of AWS: DynamoDB throttles a tenth of the requests
// and cancels the odd transaction, its indexes lag by a second; EventBridge
// delivers a third of the events twice, late and out of order, and refuses
// entries now and then.
var chaos = stackOptions{
	faults:   ddbfault.Faults{ThrottleRate: 0.1, ConflictRate: 0.02, Latency: 2 * time.Millisecond, IndexLag: time.Second},
	delivery: ebtest.Delivery{Duplicates: 0.33, MaxDelay: 300 * time.Millisecond, Refuse: 7},
}

// TestCloudEndToEnd runs the scenario on a good day (DynamoDB's faults at
// a realistic rate, events delivered at once and once) and on a bad one
// (chaos), and checks both end the same.
func TestCloudEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	var calm, bad map[string]outcome
	t.Run("calm", func(t *testing.T) { calm = runScenario(t, stackOptions{faults: ddbfault.Realistic}) })
	t.Run("chaos", func(t *testing.T) { bad = runScenario(t, chaos) })
	if calm == nil || bad == nil {
		return
	}
	for name, o := range calm {
		if bad[name] != o {
			t.Errorf("job %s: %+v on a calm day, %+v on a bad one", name, o, bad[name])
		}
	}
}
