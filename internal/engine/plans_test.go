package engine_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// planObserver records the plans a pass reports.
type planObserver struct {
	*observed
	mu    sync.Mutex
	plans []engine.PlanState
}

func (o *planObserver) PlanObserved(p engine.PlanState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.plans = append(o.plans, p)
}

func (o *planObserver) last() engine.PlanState {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.plans[len(o.plans)-1]
}

// TestPassesOnAPlan runs passes over an environment on a training plan of
// the local endpoint: the plan's one instance caps the environment's two,
// the launch carries the plan and its instance type, the attempt records
// the end of its window, and an observer hears what the plan gave and what
// was used of it.
func TestPassesOnAPlan(t *testing.T) {
	const arn = "arn:aws:sagemaker:local:000000000000:training-plan/p5"
	now := time.Now()
	end := now.Add(time.Hour)
	obs := &planObserver{observed: newObserved()}
	r := newRig(t, rigOptions{planEndMargin: time.Minute, observer: obs, plans: []localsm.Plan{
		{Name: "p5", InstanceType: "ml.p5.48xlarge", InstanceCount: 1, Windows: []localsm.Window{{Start: now.Add(-time.Minute), End: end}}},
	}})
	env := sim.Env("env", 2)
	env.TrainingPlanArn = arn
	q := sim.Queue("fifo", 1, "", "env")
	if _, err := r.store.CreateEnvironment(ctx, &env); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.CreateQueue(ctx, &q); err != nil {
		t.Fatal(err)
	}
	// Payloads without an instance type: the plan's is set.
	untyped := func(j *model.ServiceJob) {
		j.ServiceRequestPayload = `{"AlgorithmSpecification":{"ContainerEntrypoint":["sleep","30"]},"StoppingCondition":{"MaxRuntimeInSeconds":600}}`
		j.InstanceType, j.MaxRuntimeSeconds = "", 600
	}
	first := r.submit("fifo", "", "", untyped)
	second := r.submit("fifo", "", "", untyped)
	if res := r.pass(); res.Admitted != 1 || res.Launched != 1 {
		t.Fatalf("pass %+v: the plan has one instance", res)
	}
	j := r.job(first)
	a := j.LatestAttempt()
	if want := end.Add(-time.Minute).UnixMilli(); a.PlanWindowEnd != want {
		t.Errorf("attempt's window end %d, want %d", a.PlanWindowEnd, want)
	}
	d, err := r.sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(a.TrainingJobName)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ResourceConfig.TrainingPlanArn) != arn || d.ResourceConfig.InstanceType != "ml.p5.48xlarge" {
		t.Errorf("launched with %+v", d.ResourceConfig)
	}
	if s := r.job(second); s.Status != model.StatusRunnable || s.StatusReason != "" {
		t.Errorf("second: %s %q, want waiting for the plan's instance without a reason", s.Status, s.StatusReason)
	}
	if p := obs.last(); p.Arn != arn || p.Capacity != 1 || p.InUse != 1 || !p.Open {
		t.Errorf("observed %+v", p)
	}
	obs.observed.mu.Lock()
	calls := strings.Join(obs.observed.calls, ",")
	obs.observed.mu.Unlock()
	if !strings.Contains(calls, "DescribeTrainingPlan") {
		t.Errorf("no DescribeTrainingPlan among the SageMaker calls %s", calls)
	}
}
