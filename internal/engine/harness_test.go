package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

var ctx = context.Background()

// rig is an engine over a bbolt store and a real local SageMaker endpoint,
// reached through the real SDK client. SageMaker's events are collected, not
// applied, so each test decides when (and in which order) they arrive.
type rig struct {
	t      *testing.T
	store  store.Store
	local  *localsm.Server
	sm     *sagemaker.Client
	engine *engine.Engine
	bus    *events.LocalBus
	dir    string

	mu        sync.Mutex
	sagemaker []events.TrainingJobStateChange // every event the endpoint emitted
	published []string                        // "jobId:STATUS" of job state change events
	seq       atomic.Int64
}

type rigOptions struct {
	// sageMaker, if set, wraps the engine's SageMaker client.
	sageMaker      func(engine.SageMaker) engine.SageMaker
	instanceLimit  int64
	reconcileAfter time.Duration
	dropEvents     bool
	holder         string
	plans          []localsm.Plan // training plans the endpoint emulates
	planEndMargin  time.Duration
	observer       engine.Observer
	// failCreates is how many CreateTrainingJob requests fail with HTTP
	// 500 before the endpoint sees one (the client then does not retry).
	failCreates int32
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{t: t, store: st, dir: dir, bus: &events.LocalBus{}}
	emit := func(_ context.Context, ev events.TrainingJobStateChange) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sagemaker = append(r.sagemaker, ev)
	}
	if o.dropEvents {
		emit = nil
	}
	r.local, err = localsm.New(localsm.Config{Dir: filepath.Join(dir, "jobs"), Emit: emit, StopGrace: 2 * time.Second, InstanceLimit: o.instanceLimit,
		Plans: o.plans, PlanEndMargin: o.planEndMargin})
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler = r.local
	var retryer aws.Retryer
	if o.failCreates > 0 {
		left := o.failCreates
		handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Header.Get("X-Amz-Target") == "SageMaker.CreateTrainingJob" && atomic.AddInt32(&left, -1) >= 0 {
				w.Header().Set("X-Amzn-ErrorType", "InternalFailure")
				http.Error(w, `{"__type":"InternalFailure","message":"injected: the endpoint failed"}`, http.StatusInternalServerError)
				return
			}
			r.local.ServeHTTP(w, req)
		})
		retryer = aws.NopRetryer{}
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.local.Shutdown(sctx)
	})
	r.sm = sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(srv.URL), Region: "local", Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), Retryer: retryer})
	r.bus.Subscribe(func(ev events.Event) {
		d := ev.Detail.(events.JobDetail)
		r.mu.Lock()
		r.published = append(r.published, d.JobID+":"+d.Status)
		r.mu.Unlock()
	})
	r.engine = r.newEngine(o)
	return r
}

func (r *rig) newEngine(o rigOptions) *engine.Engine {
	holder := o.holder
	if holder == "" {
		holder = "test"
	}
	var sm engine.SageMaker = r.sm
	if o.sageMaker != nil {
		sm = o.sageMaker(sm)
	}
	e, err := engine.New(engine.Config{
		Store: r.store, SageMaker: sm, Bus: r.bus, Holder: holder, ReconcileAfter: o.reconcileAfter,
		LocalDefaults: true, LeaseTTL: 10 * time.Second, PlanEndMargin: o.planEndMargin, Observer: o.observer,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// configure creates an environment "env" of capacity instances, a FIFO
// queue "fifo" and a fair-share queue "fair" (policy "fp", weights b=0.25).
func (r *rig) configure(capacity int64, fifoLimits ...model.JobStateTimeLimitAction) {
	r.t.Helper()
	env := sim.Env("env", capacity)
	pol := sim.Policy("fp", 600, 0, model.ShareAttributes{ShareIdentifier: "b", WeightFactor: 0.25})
	fifo := sim.Queue("fifo", 10, "", "env")
	fifo.JobStateTimeLimitActions = fifoLimits
	fair := sim.Queue("fair", 1, "fp", "env")
	for _, err := range []error{
		func() error { _, err := r.store.CreateEnvironment(ctx, &env); return err }(),
		func() error { _, err := r.store.CreatePolicy(ctx, &pol); return err }(),
		func() error { _, err := r.store.CreateQueue(ctx, &fifo); return err }(),
		func() error { _, err := r.store.CreateQueue(ctx, &fair); return err }(),
	} {
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

// submit stores a SUBMITTED job running script with sh, as the API would.
func (r *rig) submit(queue, share, script string, mutate func(j *model.ServiceJob)) string {
	r.t.Helper()
	n := r.seq.Add(1)
	id := fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", n)
	payload := fmt.Sprintf(`{"AlgorithmSpecification":{"TrainingImage":"local","TrainingInputMode":"File","ContainerEntrypoint":["sh","-c"],"ContainerArguments":[%q]},"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":1,"VolumeSizeInGB":1}}`, script)
	now := time.Now().UnixMilli() + n // distinct createdAt keeps FIFO order obvious
	j := &model.ServiceJob{
		JobID: id, JobArn: model.LocalAccount.ARN(model.KindServiceJob, id), JobName: fmt.Sprintf("job-%d", n),
		JobQueue: model.LocalAccount.ARN(model.KindJobQueue, queue), ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		ServiceRequestPayload: payload, Status: model.StatusSubmitted, ShareIdentifier: share,
		CreatedAt: now, UpdatedAt: now, Instances: 1,
	}
	if mutate != nil {
		mutate(j)
	}
	if _, err := r.store.PutJob(ctx, j); err != nil {
		r.t.Fatal(err)
	}
	return id
}

func (r *rig) job(id string) *model.ServiceJob {
	r.t.Helper()
	j, err := r.store.GetJob(ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

func (r *rig) pass() engine.PassResult {
	r.t.Helper()
	res, err := r.engine.Schedule(ctx)
	if err != nil {
		r.t.Fatalf("pass: %v", err)
	}
	return res
}

// takeEvents returns and forgets the SageMaker events emitted so far.
func (r *rig) takeEvents() []events.TrainingJobStateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.sagemaker
	r.sagemaker = nil
	return evs
}

// drive applies SageMaker's events and runs passes until done(job) or the
// deadline.
func (r *rig) drive(timeout time.Duration, done func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			r.t.Fatalf("not done after %v", timeout)
		}
		for _, ev := range r.takeEvents() {
			if _, err := r.engine.ApplyTrainingJobEvent(ctx, ev); err != nil {
				r.t.Fatal(err)
			}
		}
		r.pass()
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) status(id string) func() bool {
	return func() bool { return r.job(id).Status.Terminal() }
}

func (r *rig) publishedFor(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.published {
		if len(p) > len(id) && p[:len(id)] == id {
			out = append(out, p[len(id)+1:])
		}
	}
	return out
}
