package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
)

// throttling is a SageMaker client whose first calls of CreateTrainingJob
// SageMaker refuses for their rate, as it does past the API's limit.
type throttling struct {
	engine.SageMaker
	left  atomic.Int64
	calls atomic.Int64
}

func (t *throttling) CreateTrainingJob(ctx context.Context, in *sagemaker.CreateTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.CreateTrainingJobOutput, error) {
	t.calls.Add(1)
	if t.left.Add(-1) >= 0 {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
	}
	return t.SageMaker.CreateTrainingJob(ctx, in, opts...)
}

// TestThrottledLaunchIsNotCapacity: a throttled CreateTrainingJob is a
// retry, not a capacity event. The job goes back to its line as if it had
// not been admitted (no attempt, no reason, no backoff), the pass launches
// nothing more, and the next pass launches it all.
func TestThrottledLaunchIsNotCapacity(t *testing.T) {
	sm := &throttling{}
	sm.left.Store(1)
	r := newRig(t, rigOptions{sageMaker: func(c engine.SageMaker) engine.SageMaker { sm.SageMaker = c; return sm }})
	r.configure(4)
	ids := []string{r.submit("fifo", "", "sleep 0.2", nil), r.submit("fifo", "", "sleep 0.2", nil), r.submit("fifo", "", "sleep 0.2", nil)}
	res := r.pass()
	if res.Admitted != 3 || res.Launched != 0 || res.Requeued != 3 || sm.calls.Load() != 1 {
		t.Fatalf("pass %+v after %d CreateTrainingJob calls, want 3 admitted, none launched, one call", res, sm.calls.Load())
	}
	for _, id := range ids {
		j := r.job(id)
		if j.Status != model.StatusRunnable || len(j.Attempts) != 0 || j.Placements != 1 || j.StatusReason != "" || j.NotBefore != 0 || j.CapacityFailures != 0 {
			t.Fatalf("a job put back after throttling: %s attempts %d placements %d reason %q notBefore %d", j.Status, len(j.Attempts), j.Placements, j.StatusReason, j.NotBefore)
		}
	}
	res = r.pass()
	if res.Admitted != 3 || res.Launched != 3 {
		t.Fatalf("the pass after throttling: %+v", res)
	}
	r.drive(20*time.Second, func() bool { return r.status(ids[0])() && r.status(ids[1])() && r.status(ids[2])() })
	for _, id := range ids {
		if j := r.job(id); j.Status != model.StatusSucceeded || len(j.Attempts) != 1 {
			t.Fatalf("job %s: %s after %d attempts", id, j.Status, len(j.Attempts))
		}
	}
}

// TestResourceLimitTimeLimit ends a job that a quota keeps refusing with
// the queue's time limit action for the quota's reason, so that the FIFO
// queue behind it moves.
func TestResourceLimitTimeLimit(t *testing.T) {
	r := newRig(t, rigOptions{instanceLimit: 1})
	r.configure(2, model.JobStateTimeLimitAction{
		Action: model.TimeLimitActionTerminate, State: string(model.StatusRunnable), Reason: model.ReasonResourceLimit, MaxTimeSeconds: 1,
	})
	long := r.submit("fifo", "", "sleep 30", nil)
	quota := r.submit("fifo", "", "echo never", nil)
	r.drive(20*time.Second, r.status(quota))
	j := r.job(quota)
	want := "Terminated by JobStateTimeLimit action due to reason: " + model.ReasonResourceLimit
	if j.Status != model.StatusFailed || !j.IsTerminated || j.StatusReason != want {
		t.Fatalf("the job refused for a quota: %s terminated=%v %q, want FAILED by the time limit", j.Status, j.IsTerminated, j.StatusReason)
	}
	for _, a := range j.Attempts {
		if !strings.HasPrefix(a.StatusReason, model.ReasonResourceLimit) {
			t.Fatalf("attempt %+v", a)
		}
	}
	if got := r.job(long); got.Status != model.StatusRunning && got.Status != model.StatusStarting && got.Status != model.StatusScheduled {
		t.Fatalf("the running job: %s", got.Status)
	}
}
