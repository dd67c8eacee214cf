package engine_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

func TestTrainingJobNames(t *testing.T) {
	e, err := engine.New(engine.Config{Store: nil, SageMaker: nil})
	if err == nil || e != nil {
		t.Fatal("an engine without a store must be refused")
	}
	r := newRig(t, rigOptions{})
	name := r.engine.TrainingJobName("01a226f1-43a4-718b-ab6a-42920c5c2242", 3)
	if name != "sagequeue-01a226f1-43a4-718b-ab6a-42920c5c2242-3" || len(name) > 63 {
		t.Fatalf("name %q", name)
	}
	id, n, ok := r.engine.ParseTrainingJobName(name)
	if !ok || id != "01a226f1-43a4-718b-ab6a-42920c5c2242" || n != 3 {
		t.Fatalf("parsed %q %d %v", id, n, ok)
	}
	for _, bad := range []string{"other-x-1", "sagequeue-", "sagequeue-x-0", "sagequeue-x-y", "sagequeue--1"} {
		if _, _, ok := r.engine.ParseTrainingJobName(bad); ok {
			t.Errorf("%q parsed as one of ours", bad)
		}
	}
}

func TestJobRunsToSuccess(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	id := r.submit("fifo", "", "echo hi", nil)
	res := r.pass()
	if res.Promoted != 1 || res.Admitted != 1 || res.Launched != 1 {
		t.Fatalf("first pass %+v", res)
	}
	j := r.job(id)
	if j.Status != model.StatusScheduled || len(j.Attempts) != 1 || j.Attempts[0].TrainingJobName != "sagequeue-"+id+"-1" ||
		j.ServiceEnvironment != model.LocalAccount.ARN(model.KindServiceEnvironment, "env") || j.Placements != 1 || j.ScheduledAt == 0 {
		t.Fatalf("after the pass %+v", j)
	}
	if !strings.HasSuffix(j.Attempts[0].TrainingJobArn, ":training-job/sagequeue-"+id+"-1") {
		t.Fatalf("training job ARN %q", j.Attempts[0].TrainingJobArn)
	}
	r.drive(10*time.Second, r.status(id))
	j = r.job(id)
	if j.Status != model.StatusSucceeded || j.StartedAt == 0 || j.StoppedAt < j.StartedAt || j.ServiceEnvironment != "" {
		t.Fatalf("finished %+v", j)
	}
	if got := r.publishedFor(id); !reflect.DeepEqual(got, []string{"RUNNABLE", "SCHEDULED", "STARTING", "RUNNING", "SUCCEEDED"}) {
		t.Fatalf("state change events %v", got)
	}
	// The training job carries the job's tags.
	d, err := r.sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String("sagequeue-" + id + "-1")})
	if err != nil || d.TrainingJobStatus != "Completed" {
		t.Fatalf("describe %v %v", d, err)
	}
}

// TestEventsAreIdempotentAndOrderFree replays a job's SageMaker events
// duplicated and shuffled into a second, identical job: the end state must
// be the same as in order, and nothing may move an attempt backwards.
func TestEventsAreIdempotentAndOrderFree(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(4)
	id := r.submit("fifo", "", "echo ok", nil)
	r.pass()
	var evs []events.TrainingJobStateChange
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs = append(evs, r.takeEvents()...)
		if n := len(evs); n > 0 && evs[n-1].Detail.TrainingJobStatus == events.TrainingCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no completion; events %v", evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	apply := func(evs []events.TrainingJobStateChange) {
		for _, ev := range evs {
			if _, err := r.engine.ApplyTrainingJobEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply(evs)
	want := r.job(id)

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		// Rewind the job to SCHEDULED on its first attempt and replay a
		// shuffled, duplicated copy of the same events.
		j := r.job(id)
		j.Status, j.StatusReason, j.StartedAt, j.StoppedAt = model.StatusScheduled, "", 0, 0
		j.ServiceEnvironment = want.Attempts[0].ServiceEnvironment
		j.Attempts = []model.Attempt{{TrainingJobName: want.Attempts[0].TrainingJobName, ServiceEnvironment: j.ServiceEnvironment}}
		if _, err := r.store.UpdateJob(ctx, j, nil); err != nil {
			t.Fatal(err)
		}
		mixed := append(append([]events.TrainingJobStateChange{}, evs...), evs...)
		rng.Shuffle(len(mixed), func(a, b int) { mixed[a], mixed[b] = mixed[b], mixed[a] })
		var ranks []int
		for _, ev := range mixed {
			if _, err := r.engine.ApplyTrainingJobEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
			ranks = append(ranks, r.job(id).Status.AttemptRank())
		}
		for i := 1; i < len(ranks); i++ {
			if ranks[i] < ranks[i-1] {
				t.Fatalf("round %d: the attempt moved backwards: %v", round, ranks)
			}
		}
		got := r.job(id)
		if got.Status != want.Status || got.StatusReason != want.StatusReason || got.Attempts[0].TrainingJobArn != want.Attempts[0].TrainingJobArn ||
			got.Attempts[0].StoppedAt != want.Attempts[0].StoppedAt || got.Placements != want.Placements {
			t.Fatalf("round %d: end state %+v, want %+v", round, got, want)
		}
	}
	// An event of an earlier attempt changes nothing.
	stale := evs[0]
	stale.Detail.TrainingJobName = "sagequeue-" + id + "-0"
	if out, _ := r.engine.ApplyTrainingJobEvent(ctx, stale); out.Changed {
		t.Fatal("an event for another attempt changed the job")
	}
}

func TestRetryThenSucceed(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	marker := filepath.Join(r.dir, "marker")
	id := r.submit("fifo", "", "if [ -e "+marker+" ]; then echo second; else touch "+marker+"; echo 'first try fails' >&2; exit 7; fi", func(j *model.ServiceJob) {
		j.RetryStrategy = &model.RetryStrategy{Attempts: 2}
	})
	r.drive(15*time.Second, r.status(id))
	j := r.job(id)
	if j.Status != model.StatusSucceeded || len(j.Attempts) != 2 || j.Placements != 2 {
		t.Fatalf("job %s after %d attempts (placements %d): %+v", j.Status, len(j.Attempts), j.Placements, j.Attempts)
	}
	if want := "Received status from SageMaker: AlgorithmError: exit code 7: first try fails"; j.Attempts[0].StatusReason != want {
		t.Fatalf("first attempt reason %q", j.Attempts[0].StatusReason)
	}
	if got := r.publishedFor(id); !reflect.DeepEqual(got[len(got)-1], "SUCCEEDED") || !contains(got, "RUNNABLE") {
		t.Fatalf("events %v", got)
	}
}

func TestExitRuleEndsAfterOneAttempt(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	id := r.submit("fifo", "", "echo 'bad input' >&2; exit 2", func(j *model.ServiceJob) {
		j.RetryStrategy = &model.RetryStrategy{Attempts: 5, EvaluateOnExit: []model.EvaluateOnExit{
			{Action: "EXIT", OnStatusReason: "Received status from SageMaker: AlgorithmError: exit code 2*"},
		}}
	})
	r.drive(10*time.Second, r.status(id))
	j := r.job(id)
	if j.Status != model.StatusFailed || len(j.Attempts) != 1 || j.StatusReason != "Received status from SageMaker: AlgorithmError: exit code 2: bad input" {
		t.Fatalf("job %+v", j)
	}
}

// TestResourceLimitDoesNotUseAttempt runs into the account quota: SageMaker
// refuses the launch with ResourceLimitExceeded, which requeues the job
// without using an attempt, under its own reason (not CAPACITY's), with a
// backoff.
func TestResourceLimitDoesNotUseAttempt(t *testing.T) {
	// The environment says 2, but the endpoint's quota allows 1 instance.
	r := newRig(t, rigOptions{instanceLimit: 1})
	r.configure(2)
	first := r.submit("fifo", "", "sleep 0.5", nil)
	second := r.submit("fifo", "", "echo done", nil)
	res := r.pass()
	if res.Admitted != 2 || res.Launched != 1 || res.Requeued != 1 {
		t.Fatalf("pass %+v", res)
	}
	// The launches run concurrently: either job may be the one refused.
	refused := second
	if r.job(first).Status == model.StatusRunnable {
		refused = first
	}
	j := r.job(refused)
	if j.Status != model.StatusRunnable || j.Placements != 1 || !strings.HasPrefix(j.StatusReason, model.ReasonResourceLimit+" - SageMaker refused the training job for an account quota (ResourceLimitExceeded: The account-level service limit") {
		t.Fatalf("refused job after a quota refusal: %s placements %d reason %q", j.Status, j.Placements, j.StatusReason)
	}
	if j.BlockedCode != model.ReasonResourceLimit || j.BlockedSince == 0 {
		t.Fatalf("the clock of time limit actions did not start: %+v", j)
	}
	// It backs off: a pass right away does not launch it again.
	if j.CapacityFailures != 1 || j.NotBefore < time.Now().UnixMilli()+500 {
		t.Fatalf("no backoff after a capacity failure: failures %d notBefore %d", j.CapacityFailures, j.NotBefore)
	}
	r.pass()
	if again := r.job(refused); again.Launches != 1 || again.Status != model.StatusRunnable {
		t.Fatalf("relaunched during its backoff: %s, %d launches", again.Status, again.Launches)
	}
	r.drive(15*time.Second, func() bool { return r.status(first)() && r.status(second)() })
	j = r.job(refused)
	if j.Status != model.StatusSucceeded || j.Placements != 1 || len(j.Attempts) < 2 {
		t.Fatalf("refused job %s placements %d attempts %d", j.Status, j.Placements, len(j.Attempts))
	}
}

func TestTerminateStopsTheTrainingJob(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	pidFile := filepath.Join(r.dir, "pid")
	id := r.submit("fifo", "", "sleep 60 & echo $! > "+pidFile+"; wait", func(j *model.ServiceJob) {
		j.RetryStrategy = &model.RetryStrategy{Attempts: 3}
	})
	r.drive(10*time.Second, func() bool { return r.job(id).Status == model.StatusRunning })
	// TerminateServiceJob on a job in flight records the reason (see the API).
	j := r.job(id)
	j.TerminateReason = "wrong dataset"
	if _, err := r.store.UpdateJob(ctx, j, nil); err != nil {
		t.Fatal(err)
	}
	r.drive(10*time.Second, r.status(id))
	j = r.job(id)
	if j.Status != model.StatusFailed || !j.IsTerminated || j.StatusReason != "wrong dataset" || len(j.Attempts) != 1 {
		t.Fatalf("terminated job %+v", j)
	}
	// The whole process group is gone, the background sleep too.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if alive(strings.TrimSpace(string(b))) {
		t.Fatalf("the grandchild %s survived the stop", b)
	}
}

func alive(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	if err != nil {
		return false
	}
	stat, _ := os.ReadFile("/proc/" + pid + "/stat")
	return !strings.Contains(string(stat), ") Z ")
}

func TestAttemptTimeout(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	id := r.submit("fifo", "", "sleep 60", func(j *model.ServiceJob) {
		j.TimeoutConfig = &model.TimeoutConfig{AttemptDurationSeconds: 1}
		j.RetryStrategy = &model.RetryStrategy{Attempts: 2}
	})
	r.drive(20*time.Second, r.status(id))
	j := r.job(id)
	if j.Status != model.StatusFailed || len(j.Attempts) != 2 || j.StatusReason != engine.ReasonTimeout || j.IsTerminated {
		t.Fatalf("timed-out job %s attempts %d reason %q", j.Status, len(j.Attempts), j.StatusReason)
	}
	for i, a := range j.Attempts {
		if a.StatusReason != engine.ReasonTimeout || a.StoppedAt-a.StartedAt < 1000 {
			t.Fatalf("attempt %d: %+v", i, a)
		}
	}
}

func TestReconcileFindsLostEvents(t *testing.T) {
	r := newRig(t, rigOptions{dropEvents: true, reconcileAfter: 50 * time.Millisecond})
	r.configure(1)
	a := r.submit("fifo", "", "echo a", nil)
	b := r.submit("fifo", "", "echo b", nil)
	r.drive(15*time.Second, func() bool { return r.status(a)() && r.status(b)() })
	if r.job(a).Status != model.StatusSucceeded || r.job(b).Status != model.StatusSucceeded {
		t.Fatalf("with every event lost: a %s b %s", r.job(a).Status, r.job(b).Status)
	}
}

func TestLaunchLostOrDoubledIsRecovered(t *testing.T) {
	r := newRig(t, rigOptions{reconcileAfter: time.Hour})
	r.configure(2)
	// A crash after the admission was stored but before CreateTrainingJob.
	lost := r.submit("fifo", "", "echo lost", nil)
	// A crash after CreateTrainingJob but before its ARN was stored.
	doubled := r.submit("fifo", "", "echo doubled", nil)
	for _, id := range []string{lost, doubled} {
		j := r.job(id)
		j.Placements = 1
		if err := j.Transition(model.StatusRunnable, 1, ""); err != nil {
			t.Fatal(err)
		}
		if err := j.Transition(model.StatusScheduled, 2, ""); err != nil {
			t.Fatal(err)
		}
		j.ServiceEnvironment = model.LocalAccount.ARN(model.KindServiceEnvironment, "env")
		j.Launches = 1
		j.Attempts = []model.Attempt{{TrainingJobName: r.engine.TrainingJobName(id, 1), ServiceEnvironment: j.ServiceEnvironment}}
		if _, err := r.store.UpdateJob(ctx, j, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := r.job(doubled)
	if _, err := r.sm.CreateTrainingJob(ctx, &sagemaker.CreateTrainingJobInput{
		TrainingJobName: aws.String(d.Attempts[0].TrainingJobName), RoleArn: aws.String(engine.LocalRoleArn),
		AlgorithmSpecification: nil, OutputDataConfig: nil, ResourceConfig: nil, StoppingCondition: nil,
	}); err == nil {
		t.Fatal("expected the SDK to refuse an incomplete request")
	}
	payload := strings.Replace(d.ServiceRequestPayload, "{", `{"TrainingJobName":"`+d.Attempts[0].TrainingJobName+`","RoleArn":"`+engine.LocalRoleArn+`","OutputDataConfig":{"S3OutputPath":"s3://x/y"},"StoppingCondition":{"MaxRuntimeInSeconds":60},`, 1)
	raw := rawCreate(t, r, payload)
	if raw != nil {
		t.Fatal(raw)
	}
	// The first pass after a restart asks SageMaker about every job in flight.
	if _, err := r.engine.ScheduleAndReconcileAll(ctx); err != nil {
		t.Fatal(err)
	}
	r.drive(15*time.Second, func() bool { return r.status(lost)() && r.status(doubled)() })
	for _, id := range []string{lost, doubled} {
		j := r.job(id)
		if j.Status != model.StatusSucceeded || len(j.Attempts) != 1 {
			t.Fatalf("%s: %s with %d attempts", id, j.Status, len(j.Attempts))
		}
	}
	out, err := r.sm.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{})
	if err != nil || len(out.TrainingJobSummaries) != 2 {
		t.Fatalf("training jobs %d, want 2 (one each): %v", len(out.TrainingJobSummaries), err)
	}
}

func TestTimeLimitUnblocksFIFO(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2, model.JobStateTimeLimitAction{Action: "TERMINATE", MaxTimeSeconds: 1, Reason: model.ReasonMisconfiguration, State: "RUNNABLE"})
	huge := r.submit("fifo", "", "echo never", func(j *model.ServiceJob) { j.Instances = 3 })
	small := r.submit("fifo", "", "echo small", nil)
	r.pass()
	if j := r.job(huge); j.StatusReason != model.ReasonMisconfigurationText || r.job(small).Status != model.StatusRunnable {
		t.Fatalf("huge %q, small %s", j.StatusReason, r.job(small).Status)
	}
	r.drive(15*time.Second, func() bool { return r.status(small)() })
	j := r.job(huge)
	if j.Status != model.StatusFailed || j.StatusReason != "Terminated by JobStateTimeLimit action due to reason: "+model.ReasonMisconfiguration || !j.IsTerminated {
		t.Fatalf("huge %+v", j)
	}
	if r.job(small).Status != model.StatusSucceeded {
		t.Fatal("the job behind the blocked head did not run")
	}
}

func TestFairShareUsageIsRecorded(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(2)
	id := r.submit("fair", "b", "sleep 0.3", nil)
	r.drive(10*time.Second, r.status(id))
	usage, err := r.store.ListUsage(ctx, model.LocalAccount.ARN(model.KindJobQueue, "fair"))
	if err != nil || len(usage) != 1 || usage[0].Share != "b" || usage[0].Instances <= 0 {
		t.Fatalf("usage %+v %v", usage, err)
	}
}

// TestConcurrentPassesNeverOverAdmit runs several engines (as several
// schedulers would) against one store and endpoint: the lease and the
// conditional writes must keep the capacity and launch each attempt once.
func TestConcurrentPassesNeverOverAdmit(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configure(3)
	var ids []string
	for range 15 {
		ids = append(ids, r.submit("fifo", "", "sleep 0.2", nil))
	}
	engines := []*engine.Engine{r.engine, r.newEngine(rigOptions{holder: "b"}), r.newEngine(rigOptions{holder: "c"})}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxInFlight := 0
	for _, e := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.Schedule(ctx); err != nil && !strings.Contains(err.Error(), store.ErrLeaseLost.Error()) {
					t.Error(err)
				}
				page, _ := r.store.ListJobs(ctx, store.JobQuery{Statuses: []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}})
				mu.Lock()
				maxInFlight = max(maxInFlight, len(page.Jobs))
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, ev := range r.takeEvents() {
			if _, err := engines[0].ApplyTrainingJobEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		done := true
		for _, id := range ids {
			done = done && r.job(id).Status.Terminal()
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if maxInFlight > 3 {
		t.Fatalf("%d jobs in flight on 3 instances", maxInFlight)
	}
	out, err := r.sm.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{MaxResults: aws.Int32(100)})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range out.TrainingJobSummaries {
		names[aws.ToString(s.TrainingJobName)] = true
	}
	for _, id := range ids {
		j := r.job(id)
		if j.Status != model.StatusSucceeded || len(j.Attempts) != 1 {
			t.Fatalf("%s: %s with %d attempts", id, j.Status, len(j.Attempts))
		}
	}
	if len(out.TrainingJobSummaries) != len(ids) || len(names) != len(ids) {
		t.Fatalf("%d training jobs for %d jobs", len(out.TrainingJobSummaries), len(ids))
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestFIFOOrderSurvivesAQuotaShortage: the environment admits 3 but the
// endpoint's quota runs 1. The jobs must still start in submission order:
// behind a job refused for capacity, the rest of the queue is put back in
// line unlaunched, and the refused head keeps its place through its backoff.
func TestFIFOOrderSurvivesAQuotaShortage(t *testing.T) {
	r := newRig(t, rigOptions{instanceLimit: 1})
	r.configure(3)
	var ids []string
	for range 4 {
		ids = append(ids, r.submit("fifo", "", "sleep 0.2", nil))
	}
	res := r.pass()
	if res.Admitted != 3 || res.Launched != 1 {
		t.Fatalf("first pass %+v", res)
	}
	if j := r.job(ids[2]); j.Status != model.StatusRunnable || len(j.Attempts) != 0 || j.StatusReason != "" || j.NotBefore != 0 {
		t.Fatalf("the job behind the refused one: %s attempts %d reason %q notBefore %d", j.Status, len(j.Attempts), j.StatusReason, j.NotBefore)
	}
	r.drive(30*time.Second, func() bool { return r.status(ids[3])() })
	for i := 1; i < len(ids); i++ {
		prev, cur := r.job(ids[i-1]), r.job(ids[i])
		if cur.Status != model.StatusSucceeded || cur.StartedAt < prev.StartedAt {
			t.Fatalf("job %d started at %d, before job %d at %d (status %s)", i, cur.StartedAt, i-1, prev.StartedAt, cur.Status)
		}
	}
}

// TestFailedLaunchRetriedAtNextPass: a launch whose outcome is unknown (the
// endpoint answered 500) is looked at again by the next pass, not after the
// reconcile period, so the capacity it holds goes to work at once.
func TestFailedLaunchRetriedAtNextPass(t *testing.T) {
	r := newRig(t, rigOptions{reconcileAfter: time.Hour, failCreates: 1})
	r.configure(1)
	id := r.submit("fifo", "", "echo ok", nil)
	if res := r.pass(); res.Admitted != 1 || res.Launched != 0 {
		t.Fatalf("first pass %+v: want the job admitted and its launch failed", res)
	}
	name := r.job(id).LatestAttempt().TrainingJobName
	if _, err := r.sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: &name}); err == nil {
		t.Fatal("the failed launch created a training job")
	}
	r.pass()
	if _, err := r.sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: &name}); err != nil {
		t.Fatalf("the pass after the failed launch did not launch it again: %v", err)
	}
	r.drive(15*time.Second, r.status(id))
	if j := r.job(id); j.Status != model.StatusSucceeded || len(j.Attempts) != 1 {
		t.Fatalf("%s with %d attempts, want SUCCEEDED on the first", j.Status, len(j.Attempts))
	}
}
