package dynamo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// tally is a store.Store that records what each call consumed, under the
// name of the step the test is in. Calls are serialized, so that each
// reading of the meter belongs to one call.
type tally struct {
	store.Store
	meter *dynamo.Meter

	mu   sync.Mutex
	step string
	rows []costRow
}

type costRow struct {
	step, op string
	c        dynamo.Consumed
}

func (t *tally) setStep(step string) {
	t.mu.Lock()
	t.step = step
	t.mu.Unlock()
}

func (t *tally) rec(op string, call func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	before := t.meter.Read()
	call()
	t.rows = append(t.rows, costRow{step: t.step, op: op, c: t.meter.Read().Sub(before)})
}

func statuses(sts []model.JobStatus) string {
	var out []string
	for _, s := range sts {
		out = append(out, string(s))
	}
	if len(out) == 0 {
		return "all"
	}
	return strings.Join(out, ",")
}

func (t *tally) PutJob(ctx context.Context, j *model.ServiceJob) (out *model.ServiceJob, err error) {
	t.rec("PutJob", func() { out, err = t.Store.PutJob(ctx, j) })
	return
}

func (t *tally) GetJob(ctx context.Context, id string) (out *model.ServiceJob, err error) {
	t.rec("GetJob", func() { out, err = t.Store.GetJob(ctx, id) })
	return
}

func (t *tally) UpdateJob(ctx context.Context, j *model.ServiceJob, fence *store.Lease) (out *model.ServiceJob, err error) {
	op := "UpdateJob -> " + string(j.Status)
	if fence != nil {
		op += " (fenced)"
	}
	t.rec(op, func() { out, err = t.Store.UpdateJob(ctx, j, fence) })
	return
}

func (t *tally) UpdateJobs(ctx context.Context, jobs []*model.ServiceJob, fence *store.Lease) (out []*model.ServiceJob, errs []error) {
	op := fmt.Sprintf("UpdateJobs (%d jobs)", len(jobs))
	if len(jobs) > 0 {
		op = fmt.Sprintf("UpdateJobs -> %s (%d jobs)", jobs[0].Status, len(jobs))
	}
	if fence != nil {
		op += " (fenced)"
	}
	t.rec(op, func() { out, errs = t.Store.UpdateJobs(ctx, jobs, fence) })
	return
}

func (t *tally) Submitted(ctx context.Context, limit int) (out []*model.ServiceJob, more bool, err error) {
	t.rec("Submitted", func() { out, more, err = t.Store.Submitted(ctx, limit) })
	return
}

func (t *tally) ListJobs(ctx context.Context, q store.JobQuery) (out store.JobPage, err error) {
	t.rec("ListJobs "+statuses(q.Statuses), func() { out, err = t.Store.ListJobs(ctx, q) })
	return
}

func (t *tally) Lines(ctx context.Context, queue string) (out []store.Line, err error) {
	t.rec("Lines", func() { out, err = t.Store.Lines(ctx, queue) })
	return
}

func (t *tally) Heads(ctx context.Context, queue, share string, limit int) (out []*model.ServiceJob, more bool, err error) {
	t.rec("Heads", func() { out, more, err = t.Store.Heads(ctx, queue, share, limit) })
	return
}

func (t *tally) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (out store.Lease, err error) {
	t.rec("AcquireLease", func() { out, err = t.Store.AcquireLease(ctx, name, holder, now, ttl) })
	return
}

func (t *tally) ListEnvironments(ctx context.Context) (out []*model.ServiceEnvironment, err error) {
	t.rec("ListEnvironments", func() { out, err = t.Store.ListEnvironments(ctx) })
	return
}

func (t *tally) ListQueues(ctx context.Context) (out []*model.JobQueue, err error) {
	t.rec("ListQueues", func() { out, err = t.Store.ListQueues(ctx) })
	return
}

func (t *tally) ListPolicies(ctx context.Context) (out []*model.SchedulingPolicy, err error) {
	t.rec("ListPolicies", func() { out, err = t.Store.ListPolicies(ctx) })
	return
}

func (t *tally) GetQueue(ctx context.Context, name string) (out *model.JobQueue, err error) {
	t.rec("GetQueue", func() { out, err = t.Store.GetQueue(ctx, name) })
	return
}

func (t *tally) GetEnvironment(ctx context.Context, name string) (out *model.ServiceEnvironment, err error) {
	t.rec("GetEnvironment", func() { out, err = t.Store.GetEnvironment(ctx, name) })
	return
}

// TestJobLifecycleCost submits one job through the API, runs it to
// SUCCEEDED through the engine, and reports the capacity units each step
// consumed (the figures of docs/dynamodb.md and docs/benchmarks.md):
//
//	go test -run TestJobLifecycleCost -v ./internal/store/dynamo/
func TestJobLifecycleCost(t *testing.T) {
	r := newRig(t)
	r.configure(2)
	tl := &tally{Store: r.store, meter: r.meter}
	eng := r.engine("cost", tl)
	handler := api.New(api.Config{Store: tl, Account: model.LocalAccount})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	client := batch.New(batch.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})

	// A first pass with nothing to do takes the lease: what follows renews it.
	tl.setStep("idle pass")
	if _, err := eng.Schedule(ctx); err != nil {
		t.Fatal(err)
	}
	tl.setStep("submit")
	out, err := client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
		JobName: aws.String("resnet-50-lr-0001"), JobQueue: aws.String("fifo"),
		ServiceJobType: batchtypes.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(trainingPayload("echo training; sleep 0.2")),
		RetryStrategy: &batchtypes.ServiceJobRetryStrategy{Attempts: aws.Int32(2)},
		Tags:          map[string]string{"team": "vision", "project": "resnet"},
		ClientToken:   aws.String("submit-0001"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.JobId)
	tl.setStep("pass: promote, admit, launch")
	res, err := eng.Schedule(ctx)
	if err != nil || res.Promoted != 1 || res.Admitted != 1 || res.Launched != 1 {
		t.Fatalf("pass %+v %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, ev := range r.takeEvents() {
			tl.setStep(fmt.Sprintf("event %s/%s", ev.Detail.TrainingJobStatus, ev.Detail.SecondaryStatus))
			if _, err := eng.ApplyTrainingJobEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if j := r.job(id); j.Status == model.StatusSucceeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not done: %s", id, r.job(id).Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tl.setStep("idle pass")
	if _, err := eng.Schedule(ctx); err != nil {
		t.Fatal(err)
	}
	j := r.job(id)
	if meta, err := r.store.GetJob(ctx, id); err != nil || meta.Status != model.StatusSucceeded {
		t.Fatalf("final job %+v %v", meta, err)
	}
	doc, _ := jsonSize(j)
	t.Logf("job document without payload: %d bytes; payload: %d bytes", doc, len(j.ServiceRequestPayload))

	// Report: every call, then the job's own calls (what each further job
	// costs) apart from the passes' fixed reads.
	tl.mu.Lock()
	rows := append([]costRow(nil), tl.rows...)
	tl.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-32s %-36s %7s %7s\n", "step", "store call", "RCU", "WCU")
	var jobR, jobW, idleR, idleW float64
	idlePasses := 0
	perStep := map[string][2]float64{}
	var order []string
	for _, row := range rows {
		fmt.Fprintf(&b, "%-32s %-36s %7.1f %7.1f  %s\n", row.step, row.op, row.c.RCU, row.c.WCU, parts(row.c))
		if row.step == "idle pass" {
			idleR, idleW = idleR+row.c.RCU, idleW+row.c.WCU
			if row.op == "AcquireLease" {
				idlePasses++
			}
			continue
		}
		if _, ok := perStep[row.step]; !ok {
			order = append(order, row.step)
		}
		v := perStep[row.step]
		perStep[row.step] = [2]float64{v[0] + row.c.RCU, v[1] + row.c.WCU}
		if jobCall(row.op) {
			jobR, jobW = jobR+row.c.RCU, jobW+row.c.WCU
		}
	}
	fmt.Fprintf(&b, "\nby step:\n")
	for _, s := range order {
		fmt.Fprintf(&b, "%-60s %7.1f RCU %7.1f WCU\n", s, perStep[s][0], perStep[s][1])
	}
	fmt.Fprintf(&b, "%-60s %7.1f RCU %7.1f WCU\n", "the job's own calls (PutJob, GetJob, UpdateJob), in all", jobR, jobW)
	fmt.Fprintf(&b, "%-60s %7.1f RCU %7.1f WCU\n", "a pass with nothing to do (fixed reads, lease renewal)", idleR/float64(idlePasses), idleW/float64(idlePasses))
	t.Log(b.String())
	// A guard against a change that makes every job dearer: 40 WCU when
	// this test was written (DynamoDB Local's accounting).
	if jobW > 48 {
		t.Errorf("one job's lifecycle cost %.1f WCU, up from 40", jobW)
	}
}

// jobCall reports whether a store call is about one job rather than a
// pass's fixed reads.
func jobCall(op string) bool {
	for _, p := range []string{"PutJob", "GetJob", "UpdateJob"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// parts formats where a call's units went: the table and each index.
func parts(c dynamo.Consumed) string {
	var names []string
	for k := range c.Parts {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []string
	for _, k := range names {
		u := c.Parts[k]
		out = append(out, fmt.Sprintf("%s %g", k, u.RCU+u.WCU))
	}
	return strings.Join(out, ", ")
}
