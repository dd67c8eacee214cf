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
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// TestMachineFaultDoesNotUseAttempt: an attempt that the machine failed
// (the local endpoint's InfrastructureError) sends the job back to its
// queue as a capacity failure does: no attempt used, a backoff, and a
// reason that names the fault.
func TestMachineFaultDoesNotUseAttempt(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	id := r.submit("fifo", "", "sleep 0.2", nil) // one attempt
	r.pass()
	first := r.job(id).LatestAttempt().TrainingJobName
	out, err := r.engine.ApplyTrainingJobEvent(ctx, events.TrainingJobStateChange{Detail: events.TrainingJob{
		TrainingJobName: first, TrainingJobStatus: events.TrainingFailed,
		FailureReason: "InfrastructureError: DISK_FULL - cannot prepare the job directory: write x: no space left on device",
	}})
	if err != nil || !out.Released || out.To != model.StatusRunnable {
		t.Fatalf("outcome %+v %v", out, err)
	}
	j := r.job(id)
	const want = model.ReasonInfrastructure + ":DISK_FULL - cannot prepare the job directory: write x: no space left on device"
	if j.StatusReason != want || j.Attempts[0].StatusReason != want || j.Placements != 1 || j.CapacityFailures != 1 || j.NotBefore <= time.Now().UnixMilli() {
		t.Fatalf("after a machine fault: %s %q placements %d failures %d notBefore %d", j.Status, j.StatusReason, j.Placements, j.CapacityFailures, j.NotBefore)
	}
	r.drive(15*time.Second, r.status(id))
	if j := r.job(id); j.Status != model.StatusSucceeded || len(j.Attempts) != 2 || j.Placements != 1 {
		t.Fatalf("job %s, %d attempts, placements %d", j.Status, len(j.Attempts), j.Placements)
	}
}

// TestLaunchRefusedForAMachineFault: a CreateTrainingJob refused with
// InfrastructureError is a refusal like one for capacity: the job goes back
// unlaunched, with the fault as its reason, and the FIFO jobs behind it
// wait with it.
func TestLaunchRefusedForAMachineFault(t *testing.T) {
	var refusals atomic.Int32
	refusals.Store(1)
	r := newRig(t, rigOptions{sageMaker: func(sm engine.SageMaker) engine.SageMaker {
		return &faultySageMaker{SageMaker: sm, refusals: &refusals}
	}})
	r.configure(2)
	first := r.submit("fifo", "", "echo one", nil)
	second := r.submit("fifo", "", "echo two", nil)
	res := r.pass()
	if res.Launched != 0 || res.Requeued != 2 {
		t.Fatalf("pass %+v", res)
	}
	j := r.job(first)
	if j.Status != model.StatusRunnable || j.Placements != 1 || !strings.HasPrefix(j.StatusReason, model.ReasonInfrastructure+":FILE_DESCRIPTORS_EXHAUSTED - cannot create") {
		t.Fatalf("refused job: %s placements %d %q", j.Status, j.Placements, j.StatusReason)
	}
	if behind := r.job(second); behind.Status != model.StatusRunnable || len(behind.Attempts) != 0 {
		t.Fatalf("the job behind it: %s, %d attempts", behind.Status, len(behind.Attempts))
	}
	r.drive(15*time.Second, func() bool { return r.status(first)() && r.status(second)() })
	for _, id := range []string{first, second} {
		if j := r.job(id); j.Status != model.StatusSucceeded || j.Placements != 1 {
			t.Fatalf("job %s: %s placements %d", id, j.Status, j.Placements)
		}
	}
}

// faultySageMaker refuses CreateTrainingJob as the local endpoint does
// when the machine has no file descriptors left, as many times as told.
type faultySageMaker struct {
	engine.SageMaker
	refusals *atomic.Int32
}

func (f *faultySageMaker) CreateTrainingJob(ctx context.Context, in *sagemaker.CreateTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.CreateTrainingJobOutput, error) {
	if f.refusals.Add(-1) >= 0 {
		return nil, &smithy.GenericAPIError{Code: "InfrastructureError", Message: "FILE_DESCRIPTORS_EXHAUSTED - cannot create the training job's directory: open x: too many open files", Fault: smithy.FaultServer}
	}
	return f.SageMaker.CreateTrainingJob(ctx, in, opts...)
}
