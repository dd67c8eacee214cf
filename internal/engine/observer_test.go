package engine_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
)

// observed records what an engine.Observer is told.
type observed struct {
	mu          sync.Mutex
	passes      []engine.PassResult
	passErrs    int
	transitions map[string][]string // job id -> "FROM>TO"
	jobs        map[string]model.ServiceJob
	calls       []string // "Op" or "Op:ErrorCode"
}

func newObserved() *observed {
	return &observed{transitions: map[string][]string{}, jobs: map[string]model.ServiceJob{}}
}

func (o *observed) PassFinished(res engine.PassResult, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.passes = append(o.passes, res)
	if err != nil {
		o.passErrs++
	}
}

func (o *observed) JobTransition(from model.JobStatus, j *model.ServiceJob) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.transitions[j.JobID] = append(o.transitions[j.JobID], string(from)+">"+string(j.Status))
	o.jobs[j.JobID] = *j
}

func (o *observed) SageMakerCall(op string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took < 0 {
		op += ":negative"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		op += ":" + ae.ErrorCode()
	} else if err != nil {
		op += ":error"
	}
	o.calls = append(o.calls, op)
}

func (o *observed) transitionsOf(id string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.transitions[id]...)
}

func (o *observed) callCount(call string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.calls {
		if c == call {
			n++
		}
	}
	return n
}

// observedRig is a rig whose engine has an observer.
func observedRig(t *testing.T, o rigOptions) (*rig, *observed) {
	r := newRig(t, o)
	obs := newObserved()
	e, err := engine.New(engine.Config{
		Store: r.store, SageMaker: r.sm, Bus: r.bus, Holder: "test", LocalDefaults: true,
		LeaseTTL: 10 * time.Second, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.engine = e
	return r, obs
}

func TestObserverSeesAJobsLife(t *testing.T) {
	r, obs := observedRig(t, rigOptions{})
	r.configure(2)
	id := r.submit("fifo", "", "sleep 0.2; echo hi", nil)
	r.drive(10*time.Second, r.status(id))

	want := []string{"SUBMITTED>RUNNABLE", "RUNNABLE>SCHEDULED", "SCHEDULED>STARTING", "STARTING>RUNNING", "RUNNING>SUCCEEDED"}
	if got := obs.transitionsOf(id); !reflect.DeepEqual(got, want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	// The job given with the last transition has the times a metric needs.
	obs.mu.Lock()
	last := obs.jobs[id]
	passes := append([]engine.PassResult(nil), obs.passes...)
	obs.mu.Unlock()
	if last.CreatedAt == 0 || last.ScheduledAt < last.CreatedAt || last.StartedAt < last.ScheduledAt || last.StoppedAt < last.StartedAt {
		t.Fatalf("times of the finished job: created %d scheduled %d started %d stopped %d", last.CreatedAt, last.ScheduledAt, last.StartedAt, last.StoppedAt)
	}
	if len(passes) == 0 || passes[0].Promoted != 1 || passes[0].Launched != 1 {
		t.Fatalf("passes %+v", passes)
	}
	if obs.callCount("CreateTrainingJob") != 1 {
		t.Fatalf("calls %v", obs.calls)
	}
}

func TestObserverSeesSageMakerErrorsAndBusyPasses(t *testing.T) {
	// The endpoint's quota is 1 instance: the second launch is refused with
	// ResourceLimitExceeded, which the job survives as a capacity failure.
	r, obs := observedRig(t, rigOptions{instanceLimit: 1})
	r.configure(2)
	a := r.submit("fifo", "", "sleep 0.3", nil)
	b := r.submit("fifo", "", "echo done", nil)
	r.pass()
	if n := obs.callCount("CreateTrainingJob:ResourceLimitExceeded"); n != 1 {
		t.Fatalf("ResourceLimitExceeded calls %d: %v", n, obs.calls)
	}
	refused := b
	if r.job(a).Status == model.StatusRunnable {
		refused = a
	}
	if got := obs.transitionsOf(refused); !reflect.DeepEqual(got, []string{"SUBMITTED>RUNNABLE", "RUNNABLE>SCHEDULED", "SCHEDULED>RUNNABLE"}) {
		t.Fatalf("refused job's transitions %v", got)
	}

	// A second engine finds the lease held: its pass is reported busy.
	other, err := engine.New(engine.Config{Store: r.store, SageMaker: r.sm, Holder: "other", LocalDefaults: true, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := other.Schedule(ctx); err != nil || !res.Busy {
		t.Fatalf("other scheduler's pass %+v %v", res, err)
	}
	obs.mu.Lock()
	lastBusy := obs.passes[len(obs.passes)-1].Busy
	obs.mu.Unlock()
	if !lastBusy {
		t.Fatal("the busy pass was not reported as busy")
	}

	// Both end well; nothing was stopped.
	r.drive(15*time.Second, func() bool { return r.status(a)() && r.status(b)() })
	if obs.callCount("StopTrainingJob") != 0 {
		t.Fatalf("unexpected stops: %v", obs.calls)
	}
}

// TestNoObserver: the hook is optional; an engine without one runs as before
// (every other test of the package runs without one too).
func TestNoObserver(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(1)
	id := r.submit("fifo", "", "echo hi", nil)
	r.drive(10*time.Second, r.status(id))
	if r.job(id).Status != model.StatusSucceeded {
		t.Fatal("job did not succeed")
	}
}

// TestRunnerReportsAPITransitions: changes the API makes (a new job, a
// waiting job terminated) reach the observer through the Runner's hooks.
func TestRunnerReportsAPITransitions(t *testing.T) {
	r, obs := observedRig(t, rigOptions{})
	runner := engine.NewRunner(r.engine, time.Hour)
	j := &model.ServiceJob{JobID: "j1", JobQueue: model.LocalAccount.ARN(model.KindJobQueue, "fifo"), Status: model.StatusSubmitted}
	runner.JobChanged(ctx, j, "")
	j.Status = model.StatusFailed
	runner.JobChanged(ctx, j, model.StatusSubmitted)
	runner.JobChanged(ctx, j, model.StatusFailed) // no change of status: not a transition
	if got := obs.transitionsOf("j1"); !reflect.DeepEqual(got, []string{">SUBMITTED", "SUBMITTED>FAILED"}) {
		t.Fatalf("transitions %v", got)
	}
}
