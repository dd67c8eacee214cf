package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/batchext"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

var ctx = context.Background()

// recorder is a Hooks that remembers what it was told.
type recorder struct {
	mu      sync.Mutex
	jobs    []string // "jobId:previous->status"
	configs int
}

func (r *recorder) JobChanged(_ context.Context, j *model.ServiceJob, prev model.JobStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, j.JobID+":"+string(prev)+"->"+string(j.Status))
}

func (r *recorder) ConfigChanged(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.configs++
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.jobs...)
}

type harness struct {
	t      *testing.T
	store  store.Store
	srv    *httptest.Server
	client *batch.Client
	hooks  *recorder
	mu     sync.Mutex
	now    time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with the handler's Config changed by adjust.
func newHarnessWith(t *testing.T, adjust func(*api.Config)) *harness {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sagequeue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, store: st, hooks: &recorder{}, now: time.UnixMilli(1_800_000_000_000)}
	cfg := api.Config{
		Store: st, Account: model.LocalAccount, Hooks: h.hooks,
		Now: func() time.Time {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.now = h.now.Add(time.Millisecond) // every request a millisecond later
			return h.now
		},
	}
	if adjust != nil {
		adjust(&cfg)
	}
	handler := api.New(cfg)
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	h.client = batch.New(batch.Options{
		BaseEndpoint: aws.String(h.srv.URL),
		Region:       "local",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
	})
	return h
}

func arn(kind, name string) string { return model.LocalAccount.ARN(kind, name) }

// clientError asserts err is a ClientException whose message contains want.
func clientError(t *testing.T, err error, want string) {
	t.Helper()
	var ce *types.ClientException
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want a ClientException containing %q", err, err, want)
	}
	if !strings.Contains(ce.ErrorMessage(), want) {
		t.Fatalf("ClientException %q, want it to contain %q", ce.ErrorMessage(), want)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// raw posts a body to an operation and returns status, error type and body.
func (h *harness) raw(op string, body []byte) (int, string, map[string]any) {
	h.t.Helper()
	resp, err := http.Post(h.srv.URL+"/v1/"+op, "application/json", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), m
}

const payload = `{"TrainingJobName":"t","AlgorithmSpecification":{"TrainingImage":"img","TrainingInputMode":"File"},"RoleArn":"arn:aws:iam::123456789012:role/sm","ResourceConfig":{"InstanceType":"ml.g5.xlarge","InstanceCount":2,"VolumeSizeInGB":30},"StoppingCondition":{"MaxRuntimeInSeconds":3600},"OutputDataConfig":{"S3OutputPath":"s3://b/o"}}`

// setup creates an environment of capacity instances, a FIFO queue "fifo" and
// a fair-share queue "fair" with policy "fp".
func (h *harness) setup(capacity int32) {
	h.t.Helper()
	c := h.client
	must[*batch.CreateServiceEnvironmentOutput](h.t)(c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("plan"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(capacity)}},
	}))
	must[*batch.CreateSchedulingPolicyOutput](h.t)(c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{
		Name: aws.String("fp"),
		FairsharePolicy: &types.FairsharePolicy{ShareDecaySeconds: aws.Int32(600), ComputeReservation: aws.Int32(0),
			ShareDistribution: []types.ShareAttributes{{ShareIdentifier: aws.String("research"), WeightFactor: aws.Float32(1)}, {ShareIdentifier: aws.String("prod"), WeightFactor: aws.Float32(0.25)}}},
	}))
	for _, q := range []struct {
		name   string
		policy *string
	}{{"fifo", nil}, {"fair", aws.String(arn(model.KindSchedulingPolicy, "fp"))}} {
		must[*batch.CreateJobQueueOutput](h.t)(c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
			JobQueueName: aws.String(q.name), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
			SchedulingPolicyArn:     q.policy,
			ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("plan")}},
		}))
	}
}

func (h *harness) submit(queue, name, share string, prio int32) string {
	h.t.Helper()
	in := &batch.SubmitServiceJobInput{
		JobName: aws.String(name), JobQueue: aws.String(queue), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
		ServiceRequestPayload: aws.String(payload), SchedulingPriority: aws.Int32(prio),
	}
	if share != "" {
		in.ShareIdentifier = aws.String(share)
	}
	out, err := h.client.SubmitServiceJob(ctx, in)
	if err != nil {
		h.t.Fatalf("submit %s: %v", name, err)
	}
	return *out.JobId
}

// set moves a job to a state directly in the store, standing in for the engine.
func (h *harness) set(id string, status model.JobStatus, mutate func(j *model.ServiceJob)) {
	h.t.Helper()
	j, err := h.store.GetJob(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	j.Status = status
	if mutate != nil {
		mutate(j)
	}
	if _, err := h.store.UpdateJob(ctx, j, nil); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) jobCount() int {
	h.t.Helper()
	page, err := h.store.ListJobs(ctx, store.JobQuery{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(page.Jobs)
}

var withMember = batchext.WithMember
