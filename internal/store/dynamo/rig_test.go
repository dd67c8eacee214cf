package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// rig is the engine's world over a DynamoDB Local store: a real local
// SageMaker endpoint behind httptest, reached through the real SDK client,
// as in internal/engine's tests. SageMaker's events are collected; the test
// decides when to apply them.
type rig struct {
	t     *testing.T
	store *dynamo.Store
	meter *dynamo.Meter
	sm    *sagemaker.Client
	seq   atomic.Int64

	mu     sync.Mutex
	events []events.TrainingJobStateChange
}

func newRig(t *testing.T) *rig {
	t.Helper()
	s, meter := newStore(t)
	r := &rig{t: t, store: s, meter: meter}
	local, err := localsm.New(localsm.Config{
		Dir: filepath.Join(t.TempDir(), "jobs"), StopGrace: 2 * time.Second,
		Emit: func(_ context.Context, ev events.TrainingJobStateChange) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, ev)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(local)
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		local.Shutdown(sctx)
	})
	r.sm = sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(srv.URL), Region: "local", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	return r
}

// engine returns an engine of holder over st (the rig's store when nil).
func (r *rig) engine(holder string, st store.Store) *engine.Engine {
	r.t.Helper()
	if st == nil {
		st = r.store
	}
	e, err := engine.New(engine.Config{Store: st, SageMaker: r.sm, Holder: holder, LocalDefaults: true, LeaseTTL: 10 * time.Second})
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// configure creates an environment "env" of capacity instances and a FIFO
// queue "fifo" on it.
func (r *rig) configure(capacity int64) {
	r.t.Helper()
	env := sim.Env("env", capacity)
	fifo := sim.Queue("fifo", 10, "", "env")
	if _, err := r.store.CreateEnvironment(ctx, &env); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.store.CreateQueue(ctx, &fifo); err != nil {
		r.t.Fatal(err)
	}
}

var fifoArn = model.LocalAccount.ARN(model.KindJobQueue, "fifo")

// trainingPayload is a CreateTrainingJob request running script with sh, of
// about the size of a real one.
func trainingPayload(script string) string {
	return fmt.Sprintf(`{"AlgorithmSpecification":{"TrainingImage":"763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3.0-gpu-py311","TrainingInputMode":"File","ContainerEntrypoint":["sh","-c"],"ContainerArguments":[%q]},`+
		`"HyperParameters":{"epochs":"10","lr":"0.001","batch-size":"64"},`+
		`"OutputDataConfig":{"S3OutputPath":"s3://example-bucket/sagequeue/output/"},"RoleArn":"arn:aws:iam::123456789012:role/SageMakerTraining",`+
		`"ResourceConfig":{"InstanceType":"ml.g5.xlarge","InstanceCount":1,"VolumeSizeInGB":30},"StoppingCondition":{"MaxRuntimeInSeconds":86400}}`, script)
}

// newJob returns a SUBMITTED job of the FIFO queue as the API would store
// it; ids are fixed-width so that all jobs have the same size.
func (r *rig) newJob(script string) *model.ServiceJob {
	n := r.seq.Add(1)
	id := fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", n)
	now := time.Now().UnixMilli()
	return &model.ServiceJob{
		JobID: id, JobArn: model.LocalAccount.ARN(model.KindServiceJob, id), JobName: fmt.Sprintf("job-%08d", n),
		JobQueue: fifoArn, ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		ServiceRequestPayload: trainingPayload(script), Status: model.StatusSubmitted,
		CreatedAt: now, UpdatedAt: now, Instances: 1, InstanceType: "ml.g5.xlarge",
	}
}

func (r *rig) job(id string) *model.ServiceJob {
	r.t.Helper()
	j, err := r.store.GetJob(ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

// takeEvents returns and forgets the SageMaker events emitted so far.
func (r *rig) takeEvents() []events.TrainingJobStateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

// active lists the jobs holding capacity, as the scheduler reads them.
func (r *rig) active() []*model.ServiceJob {
	r.t.Helper()
	jobs, err := store.ListAll(ctx, r.store, store.JobQuery{Statuses: []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}})
	if err != nil {
		r.t.Fatal(err)
	}
	return jobs
}

// jsonSize is the size of a job's JSON without its payload, as the store
// keeps it.
func jsonSize(j *model.ServiceJob) (int, error) {
	c := *j
	c.ServiceRequestPayload = ""
	data, err := json.Marshal(&c)
	return len(data), err
}
