package cloud_test

// The cloud-shape end-to-end test: the three Lambda handlers, invoked with
// JSON events exactly as Lambda delivers them (lambda.NewHandler(h).Invoke),
// built by cloud.Connect from their environment variables as in Lambda, on
// the DynamoDB store over DynamoDB Local, with the local SageMaker endpoint
// (real processes) standing in for SageMaker and small fakes of API Gateway
// and EventBridge around them:
//
//	Batch SDK client --HTTP--> fake API Gateway --v2 event--> submit
//	submit, schedule, statechange --PutEvents (ebus, real SDK)--> fake EventBridge --> router
//	localsm --state change events (JSON)--> router
//	router (the EventBridge rules):
//	    Schedule Requested, ticks, SageMaker state changes --> schedule (one at a time)
//	    SageMaker state changes --> statechange (in order, one at a time; or
//	        each twice, shuffled in batches, concurrently)
//	    Service Job State Change --> recorded
//
// Nothing of ours is faked: the fakes stand in for AWS services.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/google/uuid"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/localsm"
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

// router plays the EventBridge rules of the stack.
type router struct {
	t       *testing.T
	shuffle bool
	rnd     *rand.Rand

	schedule, statechange lambda.Handler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	schedQ chan []byte // the schedule function: reserved concurrency 1
	smQ    chan []byte // in order: SageMaker events to statechange, one at a time

	mu          sync.Mutex
	smBuf       [][]byte // shuffled: SageMaker events waiting for the next batch
	jobEvents   []recordedEvent
	invocations map[string]int
	errors      []string // invocations that failed (Lambda would retry them)
	lost        []string // invocations that failed every retry
}

func newRouter(t *testing.T, shuffle bool, seed uint64) *router {
	ctx, cancel := context.WithCancel(context.Background())
	return &router{
		t: t, shuffle: shuffle, rnd: rand.New(rand.NewPCG(seed, seed)), ctx: ctx, cancel: cancel,
		schedQ: make(chan []byte, 1<<16), smQ: make(chan []byte, 1<<16), invocations: map[string]int{},
	}
}

func (r *router) start(tick time.Duration) {
	r.wg.Add(3)
	go func() { // the schedule function, one invocation at a time
		defer r.wg.Done()
		for {
			select {
			case <-r.ctx.Done():
				return
			case raw := <-r.schedQ:
				r.invoke("schedule", r.schedule, raw)
			}
		}
	}()
	go func() { // the one-minute tick, faster
		defer r.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case now := <-t.C:
				r.route(tickEvent(now))
			}
		}
	}()
	go func() { // statechange
		defer r.wg.Done()
		if !r.shuffle {
			for {
				select {
				case <-r.ctx.Done():
					return
				case raw := <-r.smQ:
					r.invoke("statechange", r.statechange, raw)
				}
			}
		}
		// Every 150ms, the SageMaker events of the last 150ms, each twice,
		// in a random order, all at once.
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
			}
			r.mu.Lock()
			batch := r.smBuf
			r.smBuf = nil
			r.rnd.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
			r.mu.Unlock()
			var wg sync.WaitGroup
			for _, raw := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.invoke("statechange", r.statechange, raw)
				}()
			}
			wg.Wait()
		}
	}()
}

func (r *router) stop() {
	r.cancel()
	r.wg.Wait()
}

func tickEvent(now time.Time) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": uuid.NewString(), "detail-type": "Scheduled Event", "source": "aws.events",
		"account": e2eAccount, "time": now.UTC().Format(time.RFC3339), "region": e2eRegion,
		"resources": []string{"arn:aws:events:eu-west-1:123456789012:rule/sagequeue-tick"}, "detail": map[string]any{},
	})
	return b
}

// route delivers an event as the stack's rules do.
func (r *router) route(raw []byte) {
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Time       time.Time       `json:"time"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		r.t.Errorf("router: an event that is not JSON: %v: %s", err, raw)
		return
	}
	if r.ctx.Err() != nil {
		return
	}
	switch {
	case ev.Source == events.Source && ev.DetailType == events.DetailTypeScheduleRequested,
		ev.Source == "aws.events" && ev.DetailType == "Scheduled Event":
		r.schedQ <- raw
	case ev.Source == events.SourceSageMaker && ev.DetailType == events.DetailTypeTrainingJobStateChange:
		r.schedQ <- raw
		if r.shuffle {
			r.mu.Lock()
			r.smBuf = append(r.smBuf, raw, raw)
			r.mu.Unlock()
		} else {
			r.smQ <- raw
		}
	case ev.Source == events.Source && ev.DetailType == events.DetailTypeJobStateChange:
		var d events.JobDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			r.t.Errorf("router: a job state change whose detail is not a job: %v", err)
			return
		}
		r.mu.Lock()
		r.jobEvents = append(r.jobEvents, recordedEvent{time: ev.Time, detail: d})
		r.mu.Unlock()
	default:
		r.t.Errorf("router: no rule matches %s / %s", ev.Source, ev.DetailType)
	}
}

// invoke calls a function as Lambda's asynchronous invocation does: with a
// Lambda context, and again (twice at most) when it fails.
func (r *router) invoke(name string, h lambda.Handler, raw []byte) {
	for attempt := 1; ; attempt++ {
		ctx := lambdacontext.NewContext(r.ctx, &lambdacontext.LambdaContext{
			AwsRequestID: uuid.NewString(), InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:sagequeue-" + name,
		})
		_, err := h.Invoke(ctx, raw)
		r.mu.Lock()
		r.invocations[name]++
		if err != nil && r.ctx.Err() == nil {
			r.errors = append(r.errors, fmt.Sprintf("%s (attempt %d): %v", name, attempt, err))
			if attempt == 3 {
				r.lost = append(r.lost, fmt.Sprintf("%s: %v: %s", name, err, raw))
			}
		}
		r.mu.Unlock()
		if err == nil || attempt == 3 || r.ctx.Err() != nil {
			return
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
}

func (r *router) recorded() []recordedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.jobEvents)
}

// ---- a fake of EventBridge's PutEvents ----

// eventBridge accepts PutEvents calls, refuses some entries once (so the
// bus's retries run), and hands every accepted entry to the router in the
// envelope EventBridge gives it.
type eventBridge struct {
	r       *router
	refuse  atomic.Int64 // every refuse-th entry fails once, if > 0
	entries atomic.Int64
}

func (f *eventBridge) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
		http.Error(w, "unexpected operation", http.StatusBadRequest)
		return
	}
	var in struct {
		Entries []struct {
			Source, DetailType, Detail, EventBusName string
			Resources                                []string
			Time                                     *float64
		}
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(in.Entries) > 10 {
		http.Error(w, "more than 10 entries", http.StatusBadRequest)
		return
	}
	type result struct {
		EventId, ErrorCode, ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		Entries          []result
		FailedEntryCount int
	}{}
	for _, e := range in.Entries {
		n := f.entries.Add(1)
		if k := f.refuse.Load(); k > 0 && n%k == 0 {
			out.Entries = append(out.Entries, result{ErrorCode: "InternalFailure", ErrorMessage: "try again"})
			out.FailedEntryCount++
			continue
		}
		if e.EventBusName != "sagequeue-e2e" {
			f.r.t.Errorf("an event put on bus %q", e.EventBusName)
		}
		id := uuid.NewString()
		at := time.Now()
		if e.Time != nil {
			at = time.UnixMilli(int64(*e.Time*1000 + 0.5))
		}
		resources := e.Resources
		if resources == nil {
			resources = []string{}
		}
		// The envelope's time keeps the entry's milliseconds (EventBridge's
		// has seconds), so that the test can order the events by it.
		env, _ := json.Marshal(map[string]any{
			"version": "0", "id": id, "detail-type": e.DetailType, "source": e.Source, "account": e2eAccount,
			"time": at.UTC().Format(time.RFC3339Nano), "region": e2eRegion, "resources": resources,
			"detail": json.RawMessage(e.Detail),
		})
		f.r.route(env)
		out.Entries = append(out.Entries, result{EventId: id})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

// ---- a fake of API Gateway ----

// apiGateway turns HTTP requests into HTTP API (payload 2.0) events for the
// submit function, with IAM authorization and a stage "prod", and the
// function's responses back into HTTP responses.
type apiGateway struct {
	t      *testing.T
	submit lambda.Handler
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
	ctx := lambdacontext.NewContext(req.Context(), &lambdacontext.LambdaContext{
		AwsRequestID: uuid.NewString(), InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:sagequeue-submit",
	})
	out, err := g.submit.Invoke(ctx, payload)
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
	router *router
	eb     *eventBridge
	local  *localsm.Server
	smURL  string
	// smCalls counts the requests to the local SageMaker endpoint by
	// operation.
	smCalls sync.Map // string -> *atomic.Int64
	gw      *httptest.Server
	batch   *batch.Client
	logs    *syncBuffer
	dir     string
}

// newStack builds the stack; options change the local SageMaker endpoint's
// configuration (its training plans).
func newStack(t *testing.T, shuffle bool, options ...func(*localsm.Config)) *stack {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("E2E_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("shuffle %v, seed %d (E2E_SEED)", shuffle, seed)
	s := &stack{t: t, router: newRouter(t, shuffle, seed), logs: &syncBuffer{}, dir: t.TempDir()}
	logger := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	s.eb = &eventBridge{r: s.router}
	ebSrv := httptest.NewServer(s.eb)
	t.Cleanup(ebSrv.Close)

	smCfg := localsm.Config{
		Dir: filepath.Join(s.dir, "sagemaker"), Region: e2eRegion, Account: e2eAccount, StopGrace: 2 * time.Second,
		Logger: logger.With("component", "localsm"),
		Emit: func(_ context.Context, ev events.TrainingJobStateChange) {
			raw, err := json.Marshal(ev)
			if err != nil {
				t.Errorf("marshaling a SageMaker event: %v", err)
				return
			}
			s.router.route(raw)
		},
	}
	for _, o := range options {
		o(&smCfg)
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
	s.smURL = smSrv.URL

	endpoints := endpoints{EventBridge: ebSrv.URL, SageMaker: smSrv.URL}
	build := func(fn cloud.Function) cloud.Deps {
		return stackDeps(t, fn, endpoints, logger.With("function", string(fn)))
	}
	sub, err := cloud.NewSubmit(build(cloud.FunctionSubmit))
	if err != nil {
		t.Fatal(err)
	}
	sch, err := cloud.NewSchedule(build(cloud.FunctionSchedule))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cloud.NewStateChange(build(cloud.FunctionStateChange))
	if err != nil {
		t.Fatal(err)
	}
	s.router.schedule, s.router.statechange = lambda.NewHandler(sch.Handle), lambda.NewHandler(sc.Handle)
	s.router.start(time.Second)

	s.gw = httptest.NewServer(&apiGateway{t: t, submit: lambda.NewHandler(sub.Handle)})
	t.Cleanup(s.gw.Close)
	s.batch = batch.New(batch.Options{
		BaseEndpoint: aws.String(s.gw.URL + "/prod"), Region: e2eRegion,
		Credentials: credentials.NewStaticCredentialsProvider(e2eAccessKey, "secret", ""),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.local.Shutdown(ctx); err != nil {
			t.Errorf("stopping the local SageMaker endpoint: %v", err)
		}
		s.router.stop()
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
func runScenario(t *testing.T, shuffle bool) map[string]outcome {
	start := time.Now()
	s := newStack(t, shuffle)
	if shuffle {
		s.eb.refuse.Store(7) // and EventBridge refuses every 7th entry once
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
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

	// Let the last events land, then read what EventBridge carried.
	time.Sleep(500 * time.Millisecond)
	checkEvents(t, s.router.recorded(), ids, results)

	s.router.mu.Lock()
	t.Logf("%s in %s: %d API requests, invocations %v, %d failed invocations (retried), %d bulk jobs at once at most",
		map[bool]string{false: "in order", true: "duplicated and shuffled"}[shuffle], elapsed.Round(time.Millisecond),
		s.gw.Config.Handler.(*apiGateway).n.Load(), s.router.invocations, len(s.router.errors), most)
	for _, e := range s.router.errors {
		t.Logf("failed invocation: %s", e)
	}
	for _, l := range s.router.lost {
		t.Errorf("an event was lost after Lambda's retries: %s", l)
	}
	s.router.mu.Unlock()
	return results
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

// TestCloudEndToEnd runs the scenario with SageMaker's events delivered in
// order, then duplicated and shuffled, and checks both end the same.
func TestCloudEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	var inOrder, shuffled map[string]outcome
	t.Run("in-order", func(t *testing.T) { inOrder = runScenario(t, false) })
	t.Run("duplicated-shuffled", func(t *testing.T) { shuffled = runScenario(t, true) })
	if inOrder == nil || shuffled == nil {
		return
	}
	for name, o := range inOrder {
		if shuffled[name] != o {
			t.Errorf("job %s: %+v in order, %+v with duplicated and shuffled events", name, o, shuffled[name])
		}
	}
}
