package setup_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
	"github.com/sagequeue/sagequeue/internal/setup"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

const config = `
# one environment of 20 instances, split between a FIFO queue and a fair-share queue
environments:
  - name: plan-20
    maxCapacity: 20
    trainingPlanArn: arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20
policies:
  - name: teams
    shareDecaySeconds: 3600
    computeReservation: 10
    shares:
      - {shareIdentifier: research, weightFactor: 1}
      - {shareIdentifier: prod*, weightFactor: 0.25}
queues:
  - name: urgent
    priority: 100
    environments: [plan-20]
    timeLimits:
      - {reason: "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE", maxTimeSeconds: 600}
  - name: shared
    priority: 10
    environments: [plan-20]
    policy: teams
    backfill: true
`

// start serves the API over a fresh store, describing training plans
// with a local SageMaker endpoint that knows the plans p20, p8 and p (of
// 20, 8 and 4 instances; and p24) in account 123456789012.
func start(t *testing.T) (*batch.Client, store.Store) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now()
	window := []localsm.Window{{Start: now.Add(-time.Hour), End: now.Add(10 * time.Hour)}}
	sm, err := localsm.New(localsm.Config{Dir: t.TempDir(), Region: "us-east-1", Account: "123456789012", Logger: slog.New(slog.DiscardHandler), Plans: []localsm.Plan{
		{Name: "p20", InstanceType: "ml.p5.48xlarge", InstanceCount: 20, Windows: window},
		{Name: "p24", InstanceType: "ml.p5.48xlarge", InstanceCount: 24, Windows: window},
		{Name: "p8", InstanceType: "ml.p5.48xlarge", InstanceCount: 8, Windows: window},
		{Name: "p", InstanceType: "ml.p4d.24xlarge", InstanceCount: 4, Windows: window},
	}})
	if err != nil {
		t.Fatal(err)
	}
	smSrv := httptest.NewServer(sm)
	t.Cleanup(func() { smSrv.Close(); sm.Shutdown(context.Background()) })
	creds := credentials.NewStaticCredentialsProvider("a", "b", "")
	smClient := sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(smSrv.URL), Region: "us-east-1", Credentials: creds})
	srv := httptest.NewServer(api.New(api.Config{Store: st, Plans: plans.New(smClient, 0, nil)}))
	t.Cleanup(srv.Close)
	return batch.New(batch.Options{BaseEndpoint: aws.String(srv.URL), Region: "local", Credentials: creds}), st
}

func load(t *testing.T, text string) *setup.Config {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	c, err := setup.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApplyCreatesThenUpdates(t *testing.T) {
	ctx := context.Background()
	client, st := start(t)
	if _, err := setup.Apply(ctx, client, load(t, config)); err != nil {
		t.Fatal(err)
	}
	env, err := st.GetEnvironment(ctx, "plan-20")
	if err != nil || env.MaxInstances() != 20 || env.TrainingPlanArn == "" {
		t.Fatalf("environment %+v %v", env, err)
	}
	p, _ := st.GetPolicy(ctx, "teams")
	if p.FairsharePolicy.ComputeReservation != 10 || p.FairsharePolicy.Weight("prod-eu") != 0.25 {
		t.Fatalf("policy %+v", p.FairsharePolicy)
	}
	urgent, _ := st.GetQueue(ctx, "urgent")
	shared, _ := st.GetQueue(ctx, "shared")
	if urgent.Priority != 100 || urgent.FairShare() || len(urgent.JobStateTimeLimitActions) != 1 || urgent.JobStateTimeLimitActions[0].Action != model.TimeLimitActionCancel {
		t.Fatalf("urgent %+v", urgent)
	}
	if !shared.FairShare() || shared.ServiceEnvironmentOrder[0].ServiceEnvironment != env.Arn || !shared.Backfill || urgent.Backfill {
		t.Fatalf("shared %+v", shared)
	}

	// Applying again changes nothing, not even a record's version; a
	// changed file updates in place and says what it changed.
	changes, err := setup.Apply(ctx, client, load(t, config))
	if err != nil || len(changes) != 0 {
		t.Fatalf("second apply: %v %v", changes, err)
	}
	if again, _ := st.GetEnvironment(ctx, "plan-20"); again.Version != env.Version {
		t.Fatalf("an apply without changes wrote the environment (version %d -> %d)", env.Version, again.Version)
	}
	changed := strings.NewReplacer("maxCapacity: 20", "maxCapacity: 24", "priority: 100", "priority: 50", "    backfill: true\n", "",
		"weightFactor: 0.25", "weightFactor: 0.5", "training-plan/p20", "training-plan/p24").Replace(config)
	changes, err = setup.Apply(ctx, client, load(t, changed))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		"updated environment plan-20: maxCapacity 20 -> 24, trainingPlanArn arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20 -> arn:aws:sagemaker:us-east-1:123456789012:training-plan/p24",
		"updated policy teams: shares [prod*=0.25 research=1] -> [prod*=0.5 research=1]",
		"updated queue urgent: priority 100 -> 50",
		"updated queue shared: backfill true -> false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	env, _ = st.GetEnvironment(ctx, "plan-20")
	urgent, _ = st.GetQueue(ctx, "urgent")
	shared, _ = st.GetQueue(ctx, "shared")
	if env.MaxInstances() != 24 || urgent.Priority != 50 || shared.Backfill {
		t.Fatalf("after update: capacity %d priority %d backfill %v", env.MaxInstances(), urgent.Priority, shared.Backfill)
	}
}

func TestApplyReportsCreations(t *testing.T) {
	ctx := context.Background()
	client, _ := start(t)
	changes, err := setup.Apply(ctx, client, load(t, config))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := "created environment plan-20, created policy teams, created queue urgent, created queue shared"
	if strings.Join(got, ", ") != want {
		t.Fatalf("changes %q, want %q", strings.Join(got, ", "), want)
	}
}

func TestApplyRefusals(t *testing.T) {
	ctx := context.Background()
	client, _ := start(t)
	if _, err := setup.Apply(ctx, client, load(t, config)); err != nil {
		t.Fatal(err)
	}
	fifoToFair := strings.Replace(config, "    timeLimits:", "    policy: teams\n    timeLimits:", 1)
	if _, err := setup.Apply(ctx, client, load(t, fifoToFair)); err == nil || !strings.Contains(err.Error(), "queue urgent: a queue can't change between FIFO and fair share") {
		t.Fatalf("FIFO to fair share: %v", err)
	}
	bad := "environments:\n  - name: e\n    maxCapacity: 0\n"
	if _, err := setup.Apply(ctx, client, load(t, bad)); err == nil || !strings.Contains(err.Error(), "environment e:") || !strings.Contains(err.Error(), "maxCapacity") {
		t.Fatalf("zero capacity: %v", err)
	}
	missing := "queues:\n  - name: q\n    priority: 1\n    environments: [plan-20]\n    policy: nope\n"
	if _, err := setup.Apply(ctx, client, load(t, missing)); err == nil || !strings.Contains(err.Error(), "scheduling policy nope is not defined") {
		t.Fatalf("unknown policy: %v", err)
	}
	path := filepath.Join(t.TempDir(), "typo.yaml")
	os.WriteFile(path, []byte("enviroments: []\n"), 0o644)
	if _, err := setup.Load(path); err == nil || !strings.Contains(err.Error(), "enviroments") {
		t.Fatalf("typo: %v", err)
	}
}

// The training plan's longer form: an environment without maxCapacity gets
// the plan's instance count (as SageMaker describes it, or as the file
// overrides it); environments that split a plan give theirs.
const planConfig = `
environments:
  - name: whole
    trainingPlan: {arn: "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p8"}
  - name: part
    trainingPlan: {arn: "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p", instanceCount: 3}
    partialWindows: true
  - name: research
    maxCapacity: 5
    trainingPlan: &p20 {arn: "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20", instanceCount: 20}
  - name: production
    maxCapacity: 15
    trainingPlan: *p20
  - name: plain
    maxCapacity: 2
`

func TestApplyTrainingPlanCapacity(t *testing.T) {
	ctx := context.Background()
	client, st := start(t)
	c := load(t, planConfig)
	if got := c.TrainingPlanArns(); len(got) != 3 || !strings.HasSuffix(got[0], "/p8") || !strings.HasSuffix(got[2], "/p20") {
		t.Fatalf("TrainingPlanArns %v", got)
	}
	if _, err := setup.Apply(ctx, client, c); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]struct {
		capacity int64
		plan     string
	}{"whole": {8, "p8"}, "part": {3, "p"}, "research": {5, "p20"}, "production": {15, "p20"}, "plain": {2, ""}} {
		e, err := st.GetEnvironment(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		plan := e.TrainingPlanArn[strings.LastIndex(e.TrainingPlanArn, "/")+1:]
		if e.MaxInstances() != want.capacity || plan != want.plan {
			t.Errorf("%s: capacity %d plan %q, want %d %q", name, e.MaxInstances(), e.TrainingPlanArn, want.capacity, want.plan)
		}
		if e.PartialWindows != (name == "part") {
			t.Errorf("%s: partialWindows %v", name, e.PartialWindows)
		}
	}

	// Applied again, nothing changes; partialWindows taken out is a change.
	if changes, err := setup.Apply(ctx, client, load(t, planConfig)); err != nil || len(changes) != 0 {
		t.Fatalf("second apply: %v %v", changes, err)
	}
	changes, err := setup.Apply(ctx, client, load(t, strings.Replace(planConfig, "    partialWindows: true\n", "", 1)))
	if err != nil || len(changes) != 1 || changes[0].String() != "updated environment part: partialWindows true -> false" {
		t.Fatalf("partialWindows taken out: %v %v", changes, err)
	}

	// A plan taken out of the file is taken off the environment.
	if _, err := setup.Apply(ctx, client, load(t, "environments:\n  - {name: whole, maxCapacity: 8}\n")); err != nil {
		t.Fatal(err)
	}
	if e, _ := st.GetEnvironment(ctx, "whole"); e.TrainingPlanArn != "" || e.MaxInstances() != 8 {
		t.Fatalf("after removing the plan: %+v", e)
	}
}

func TestValidateTrainingPlans(t *testing.T) {
	const arn = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p"
	for _, tc := range []struct{ name, yaml, want string }{
		{"ok: short form", "environments:\n  - {name: e, maxCapacity: 3, trainingPlanArn: " + arn + "}\n", ""},
		{"ok: both forms agree", "environments:\n  - {name: e, trainingPlanArn: " + arn + ", trainingPlan: {arn: " + arn + ", instanceCount: 4}}\n", ""},
		{"ok: the plan gives the capacity", "environments:\n  - {name: e, trainingPlan: {arn: " + arn + "}}\n", ""},
		{"no capacity", "environments:\n  - {name: e}\n", "environment e: maxCapacity is required (or a training plan"},
		{"no arn", "environments:\n  - {name: e, maxCapacity: 1, trainingPlan: {instanceCount: 4}}\n", "environment e: trainingPlan.arn is required"},
		{"forms disagree", "environments:\n  - {name: e, trainingPlanArn: " + arn + "x, trainingPlan: {arn: " + arn + ", instanceCount: 4}}\n", "name different plans"},
		{"oversubscribed", "environments:\n  - {name: a, maxCapacity: 5, trainingPlan: {arn: " + arn + ", instanceCount: 20}}\n  - {name: b, maxCapacity: 16, trainingPlanArn: " + arn + "}\n",
			"training plan " + arn + " has 20 instances, but its environments hold 21 together (a 5, b 16)"},
		{"counts disagree", "environments:\n  - {name: a, trainingPlan: {arn: " + arn + ", instanceCount: 20}}\n  - {name: b, trainingPlan: {arn: " + arn + ", instanceCount: 10}}\n", "different instance counts (20 and 10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(t, tc.yaml).Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestApplyChecksThePlansFirst: a plan SageMaker cannot describe stops the
// apply, naming the plan, before anything is created; so does a plan that
// the environments oversubscribe.
func TestApplyChecksThePlansFirst(t *testing.T) {
	ctx := context.Background()
	client, st := start(t)
	const unknown = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/nope"
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown plan": {"environments:\n  - {name: a, maxCapacity: 2}\n  - {name: b, maxCapacity: 2, trainingPlanArn: " + unknown + "}\nqueues:\n  - {name: q, priority: 1, environments: [a]}\n",
			"training plan " + unknown + " does not exist"},
		"oversubscribed": {"environments:\n  - {name: a, maxCapacity: 6, trainingPlanArn: arn:aws:sagemaker:us-east-1:123456789012:training-plan/p8}\n  - {name: b, maxCapacity: 6, trainingPlanArn: arn:aws:sagemaker:us-east-1:123456789012:training-plan/p8}\n",
			"training plan arn:aws:sagemaker:us-east-1:123456789012:training-plan/p8 has 8 instances, but its environments hold 12 together (a 6, b 6)"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := setup.Apply(ctx, client, load(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply: %v, want %q", err, tc.want)
			}
			if envs, _ := st.ListEnvironments(ctx); len(envs) != 0 {
				t.Errorf("half applied: %d environments created", len(envs))
			}
			if qs, _ := st.ListQueues(ctx); len(qs) != 0 {
				t.Errorf("half applied: %d queues created", len(qs))
			}
		})
	}
}

func TestLocalPlans(t *testing.T) {
	c := load(t, `
trainingPlans:
  - name: demo
    instanceType: ml.p5.48xlarge
    instanceCount: 2
    windows:
      - {startsIn: 3s, duration: 20s}
      - {start: "2030-01-01T00:00:00Z", end: "2030-01-01T06:00:00Z"}
`)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	if s, e := c.TrainingPlans[0].Windows[0].Times(t0); !s.Equal(t0.Add(3*time.Second)) || !e.Equal(t0.Add(23*time.Second)) {
		t.Errorf("relative window: %v to %v", s, e)
	}
	if s, e := c.TrainingPlans[0].Windows[1].Times(t0); s.Hour() != 0 || e.Sub(s) != 6*time.Hour {
		t.Errorf("absolute window: %v to %v", s, e)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"no type":        {"trainingPlans:\n  - {name: a, instanceCount: 1, windows: [{startsIn: 1s, duration: 1s}]}\n", "instanceType is required"},
		"no count":       {"trainingPlans:\n  - {name: a, instanceType: ml.p5.48xlarge, windows: [{startsIn: 1s, duration: 1s}]}\n", "instanceCount must be at least 1"},
		"no window":      {"trainingPlans:\n  - {name: a, instanceType: ml.p5.48xlarge, instanceCount: 1}\n", "at least one window"},
		"start twice":    {"trainingPlans:\n  - {name: a, instanceType: x, instanceCount: 1, windows: [{startsIn: 1s, start: \"2030-01-01T00:00:00Z\", duration: 1s}]}\n", "either start"},
		"no end":         {"trainingPlans:\n  - {name: a, instanceType: x, instanceCount: 1, windows: [{startsIn: 1s}]}\n", "either end"},
		"zero duration":  {"trainingPlans:\n  - {name: a, instanceType: x, instanceCount: 1, windows: [{startsIn: 1s, duration: 0s}]}\n", "duration must be positive"},
		"declared twice": {"trainingPlans:\n  - {name: a, instanceType: x, instanceCount: 1, windows: [{startsIn: 1s, duration: 1s}]}\n  - {name: A, instanceType: x, instanceCount: 1, windows: [{startsIn: 1s, duration: 1s}]}\n", "declared twice"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := load(t, tc.yaml).Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("trainingPlans:\n  - {name: a, instanceType: x, instanceCount: 1, windows: [{startsIn: soon, duration: 1s}]}\n"), 0o644)
	if _, err := setup.Load(path); err == nil || !strings.Contains(err.Error(), "a duration is a string like") {
		t.Fatalf("bad duration: %v", err)
	}
}

// TestResources: a configuration as the scheduler sees it (sagequeue
// simulate), checked by the rules the API applies to the same requests.
func TestResources(t *testing.T) {
	r, err := load(t, config).Resources(model.LocalAccount)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Environments) != 1 || r.Environments[0].MaxInstances() != 20 || r.Environments[0].Arn != model.LocalAccount.ARN(model.KindServiceEnvironment, "plan-20") {
		t.Fatalf("environments %+v", r.Environments)
	}
	if p := r.Policies[0].FairsharePolicy; p.ShareDecaySeconds != 3600 || p.ComputeReservation != 10 || p.Weight("prod-eu") != 0.25 || p.Weight("research") != 1 {
		t.Fatalf("policy %+v", p)
	}
	urgent, shared := r.Queues[0], r.Queues[1]
	if urgent.FairShare() || urgent.Backfill || len(urgent.JobStateTimeLimitActions) != 1 || urgent.JobStateTimeLimitActions[0].Action != model.TimeLimitActionCancel ||
		!shared.FairShare() || !shared.Backfill || shared.SchedulingPolicyArn != r.Policies[0].Arn || shared.Environments()[0] != r.Environments[0].Arn {
		t.Fatalf("queues %+v", r.Queues)
	}
	for text, want := range map[string]string{
		strings.Replace(config, "policy: teams", "policy: nope", 1):                     "queue shared: scheduling policy nope is not defined",
		strings.Replace(config, "environments: [plan-20]", "environments: [x]", 1):      "queue urgent: service environment x is not defined",
		strings.Replace(config, "priority: 100", "priority: 5000", 1):                   "queue urgent: priority",
		strings.Replace(config, "computeReservation: 10", "computeReservation: 100", 1): "policy teams: fairsharePolicy.computeReservation",
		strings.Replace(config, "    computeReservation: 10\n", "    quota: true\n", 1): "policy teams: quota management is not simulated",
	} {
		if _, err := load(t, text).Resources(model.LocalAccount); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
}
