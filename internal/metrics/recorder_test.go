package metrics

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

var base = emfNow.UnixMilli()

// runJob is a job of queue that was created at base, scheduled 30s later,
// ran from 60s to 150s and is now in status.
func runJob(queue string, status model.JobStatus) *model.ServiceJob {
	return &model.ServiceJob{
		JobID: "j", JobQueue: model.LocalAccount.ARN(model.KindJobQueue, queue), Status: status,
		CreatedAt: base, ScheduledAt: base + 30_000, StartedAt: base + 60_000, StoppedAt: base + 150_000,
		Attempts: []model.Attempt{{TrainingJobName: "t-1", StartedAt: base + 60_000, StoppedAt: base + 150_000}},
	}
}

func value(t *testing.T, reg *Registry, d *Def, labels ...string) float64 {
	t.Helper()
	reg.mu.Lock()
	f := reg.families[d.Name]
	reg.mu.Unlock()
	v, _ := f.Value(labels...)
	return v
}

func TestRecorderCountsTransitions(t *testing.T) {
	reg := NewRegistry()
	rec := NewPrometheus(reg)

	submitted := &model.ServiceJob{JobID: "j", JobQueue: model.LocalAccount.ARN(model.KindJobQueue, "q"), Status: model.StatusSubmitted}
	rec.JobTransition("", submitted)
	scheduled := runJob("q", model.StatusScheduled)
	scheduled.Attempts[0] = model.Attempt{TrainingJobName: "t-1"}
	rec.JobTransition(model.StatusRunnable, scheduled)
	// A retry: the attempt failed and the job goes back to RUNNABLE.
	retried := runJob("q", model.StatusRunnable)
	retried.StatusReason = "Received status from SageMaker: AlgorithmError: boom"
	rec.JobTransition(model.StatusRunning, retried)
	// A second placement is not a wait.
	again := runJob("q", model.StatusScheduled)
	again.Attempts = append(again.Attempts, model.Attempt{TrainingJobName: "t-2"})
	again.ScheduledAt = base + 200_000
	rec.JobTransition(model.StatusRunnable, again)
	// A capacity failure of the second launch: it never ran.
	capacity := runJob("q", model.StatusRunnable)
	capacity.Attempts = append(capacity.Attempts, model.Attempt{TrainingJobName: "t-2", StoppedAt: base + 201_000})
	capacity.ScheduledAt = base + 200_000
	capacity.StatusReason = model.ReasonCapacity + " - Unable to provision"
	rec.JobTransition(model.StatusScheduled, capacity)
	// A fault of the machine, twice: not the job's attempt either.
	for range 2 {
		fault := runJob("q", model.StatusRunnable)
		fault.Attempts[0].StartedAt = 0 // it never ran
		fault.StatusReason = model.ReasonInfrastructure + ":DISK_FULL - cannot prepare the job directory"
		rec.JobTransition(model.StatusStarting, fault)
	}
	// Put back unlaunched behind a refused job: the attempt is gone, and the
	// earlier attempt is not counted again.
	putBack := runJob("q", model.StatusRunnable)
	putBack.ScheduledAt = base + 300_000
	rec.JobTransition(model.StatusScheduled, putBack)
	rec.JobTransition(model.StatusRunning, runJob("q", model.StatusSucceeded))

	for _, c := range []struct {
		d      *Def
		labels []string
		want   float64
	}{
		{JobsSubmitted, []string{"q"}, 1},
		{JobsFinished, []string{"q", "SUCCEEDED"}, 1},
		{JobTransitions, []string{"q", "RUNNABLE", "SCHEDULED"}, 2},
		{JobTransitions, []string{"q", "SCHEDULED", "RUNNABLE"}, 2},
		{JobTransitions, []string{"q", "STARTING", "RUNNABLE"}, 2},
		{JobWait, []string{"q"}, 1},    // count of observations
		{JobRun, []string{"q"}, 2},     // the failed attempt and the successful one
		{JobRetries, []string{"q"}, 1}, // the put-back has no reason: not a retry
		{CapacityFailures, []string{"q"}, 1},
		{InfrastructureFaults, []string{"q", "DISK_FULL"}, 2},
	} {
		if got := value(t, reg, c.d, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.d.Name, c.labels, got, c.want)
		}
	}
	var b bytes.Buffer
	if err := reg.WriteText(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`sagequeue_job_wait_seconds_bucket{queue="q",le="15"} 0`,
		`sagequeue_job_wait_seconds_bucket{queue="q",le="30"} 1`,
		`sagequeue_job_wait_seconds_sum{queue="q"} 30`,
		`sagequeue_job_run_seconds_sum{queue="q"} 180`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

func TestRecorderPassesAndCalls(t *testing.T) {
	reg := NewRegistry()
	rec := NewPrometheus(reg)
	rec.PassFinished(engine.PassResult{Launched: 3, Stops: 1, Reconciled: 2, Terminated: 1, Duration: 20 * time.Millisecond}, nil)
	rec.PassFinished(engine.PassResult{Busy: true}, nil)
	rec.PassFinished(engine.PassResult{}, context.DeadlineExceeded)
	rec.SageMakerCall("StopTrainingJob", time.Millisecond, context.DeadlineExceeded)
	rec.SageMakerCall("StopTrainingJob", time.Millisecond, nil)
	invalid := smithy.InvalidParamsError{Context: "CreateTrainingJobInput"}
	invalid.Add(smithy.NewErrParamRequired("RoleArn"))
	rec.SageMakerCall("CreateTrainingJob", time.Millisecond, &smithy.OperationError{ServiceID: "SageMaker", OperationName: "CreateTrainingJob", Err: invalid})
	for _, c := range []struct {
		d      *Def
		labels []string
		want   float64
	}{
		{Passes, []string{"ok"}, 1}, {Passes, []string{"busy"}, 1}, {Passes, []string{"error"}, 1},
		{PassDuration, nil, 2}, // busy passes are not timed
		{Launches, nil, 3}, {Stops, nil, 1}, {Reconciliations, nil, 2}, {TimeLimitTerminations, nil, 1},
		{SageMakerRequests, []string{"StopTrainingJob"}, 2},
		{SageMakerErrors, []string{"StopTrainingJob", "Timeout"}, 1},
		{SageMakerErrors, []string{"CreateTrainingJob", "ValidationException"}, 1},
	} {
		if got := value(t, reg, c.d, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.d.Name, c.labels, got, c.want)
		}
	}
}

// TestCollectState reads the gauges from a real store.
func TestCollectState(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := sim.Env("env", 8)
	off := sim.Env("off", 4)
	off.State = model.StateDisabled
	pol := sim.Policy("fp", 600, 0)
	fifo := sim.Queue("fifo", 10, "", "env")
	fair := sim.Queue("fair", 1, "fp", "env")
	for _, err := range []error{
		func() error { _, err := st.CreateEnvironment(ctx, &env); return err }(),
		func() error { _, err := st.CreateEnvironment(ctx, &off); return err }(),
		func() error { _, err := st.CreatePolicy(ctx, &pol); return err }(),
		func() error { _, err := st.CreateQueue(ctx, &fifo); return err }(),
		func() error { _, err := st.CreateQueue(ctx, &fair); return err }(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	put := func(queue, share string, status model.JobStatus, instances int64) {
		n++
		id := "job-" + string(rune('a'+n))
		j := &model.ServiceJob{
			JobID: id, JobName: id, JobQueue: model.LocalAccount.ARN(model.KindJobQueue, queue), Status: model.StatusSubmitted,
			ShareIdentifier: share, CreatedAt: base - 60_000 + int64(n), UpdatedAt: base, Instances: instances,
		}
		stored, err := st.PutJob(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		if status == model.StatusSubmitted {
			return
		}
		stored.Status, stored.RunnableAt = status, base
		if status.HoldsCapacity() {
			stored.ServiceEnvironment = env.Arn
		}
		if _, err := st.UpdateJob(ctx, stored, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("fifo", "", model.StatusSubmitted, 1)
	put("fifo", "", model.StatusRunnable, 1)
	put("fifo", "", model.StatusRunnable, 1)
	put("fifo", "", model.StatusRunning, 2)
	put("fair", "a", model.StatusRunnable, 1)
	put("fair", "a", model.StatusStarting, 3)
	put("fair", "b", model.StatusScheduled, 1)
	if _, err := st.AddUsage(ctx, fair.Arn, "a", 2, base-600_000, base, 600); err != nil {
		t.Fatal(err)
	}

	reg := NewRegistry()
	rec := NewPrometheus(reg)
	rec.now = func() time.Time { return emfNow }
	rec.CollectState(ctx, st)
	for _, c := range []struct {
		d      *Def
		labels []string
		want   float64
	}{
		{Jobs, []string{"fifo", "SUBMITTED"}, 1}, {Jobs, []string{"fifo", "RUNNABLE"}, 2}, {Jobs, []string{"fifo", "RUNNING"}, 1},
		{Jobs, []string{"fifo", "STARTING"}, 0}, {Jobs, []string{"fair", "RUNNABLE"}, 1}, {Jobs, []string{"fair", "STARTING"}, 1},
		{Jobs, []string{"fair", "SCHEDULED"}, 1},
		{QueueInstancesInUse, []string{"fifo"}, 2}, {QueueInstancesInUse, []string{"fair"}, 4},
		{EnvInstancesInUse, []string{"env"}, 6}, {EnvInstancesCapacity, []string{"env"}, 8},
		{EnvInstancesCapacity, []string{"off"}, 0}, {EnvInstancesInUse, []string{"off"}, 0},
		{ShareInstancesInUse, []string{"fair", "a"}, 3}, {ShareInstancesInUse, []string{"fair", "b"}, 1},
		{QueueHeadWait, []string{"fifo"}, 60 - 0.002},
	} {
		if got := value(t, reg, c.d, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.d.Name, c.labels, got, c.want)
		}
	}
	// 2 instances for 600s with a 600s decay: 2*(1-1/e).
	if u := value(t, reg, ShareUsage, "fair", "a"); u < 1.26 || u > 1.27 {
		t.Errorf("share usage %v", u)
	}
	// A deleted queue's gauges go away at the next collection.
	if err := st.DeleteQueue(ctx, "fair"); err != nil {
		t.Fatal(err)
	}
	rec.CollectState(ctx, st)
	if _, ok := reg.families[Jobs.Name].Value("fair", "RUNNABLE"); ok {
		t.Error("the deleted queue is still reported")
	}
}

func TestRecorderQuotaManagement(t *testing.T) {
	reg := NewRegistry()
	rec := NewPrometheus(reg)
	// A preempted attempt, once stopped, counts as a preemption of its share
	// (requeued or, with its preemption retries used up, failed), not as a
	// retry.
	for _, to := range []model.JobStatus{model.StatusRunnable, model.StatusFailed} {
		j := runJob("qm", to)
		j.QuotaShareName, j.StatusReason = "A", model.ReasonPreempted+" - for job b"
		rec.JobTransition(model.StatusRunning, j)
	}
	if got := value(t, reg, Preemptions, "qm", "A"); got != 2 {
		t.Fatalf("preemptions %v, want 2", got)
	}
	if got := value(t, reg, JobRetries, "qm"); got != 0 {
		t.Fatalf("a preemption counted as a retry (%v)", got)
	}

	// Instances in use and borrowed per share and type, read from the store.
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	qArn := model.LocalAccount.ARN(model.KindJobQueue, "qm")
	q := model.JobQueue{Name: "qm", Arn: qArn, QuotaManagement: true, SchedulingPolicyArn: "arn:p", State: model.StateEnabled}
	if _, err := st.CreateQueue(context.Background(), &q); err != nil {
		t.Fatal(err)
	}
	for _, sh := range []string{"A", "B"} {
		if _, err := st.CreateQuotaShare(context.Background(), &model.QuotaShare{Name: sh, JobQueue: qArn,
			CapacityLimits: []model.CapacityLimit{{CapacityUnit: "ml.p5.48xlarge", MaxCapacity: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	j := &model.ServiceJob{JobID: "a", JobQueue: qArn, Status: model.StatusRunning, ShareIdentifier: "A", QuotaShareName: "A",
		InstanceType: "ml.p5.48xlarge", Instances: 3, CreatedAt: base}
	if _, err := st.PutJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	rec.CollectState(context.Background(), st)
	if got := value(t, reg, QuotaShareInstancesInUse, "qm", "A", "ml.p5.48xlarge"); got != 3 {
		t.Fatalf("A in use %v, want 3", got)
	}
	if got := value(t, reg, QuotaShareBorrowed, "qm", "A", "ml.p5.48xlarge"); got != 2 {
		t.Fatalf("A borrowed %v, want 2", got)
	}
	if got := value(t, reg, QuotaShareBorrowed, "qm", "B", "ml.p5.48xlarge"); got != 0 {
		t.Fatalf("B borrowed %v, want 0", got)
	}
}
