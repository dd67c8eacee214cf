//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
)

const planType = "ml.p5.48xlarge"

func planARN(name string) string { return "arn:aws:sagemaker:local:000000000000:training-plan/" + name }

// onPlan is a payload for plan p.
func onPlan(name, plan string, n int32, argv ...string) *sagemaker.CreateTrainingJobInput {
	in := payload(name, argv...)
	in.ResourceConfig = &types.ResourceConfig{InstanceType: planType, InstanceCount: aws.Int32(n), VolumeSizeInGB: aws.Int32(10), TrainingPlanArn: aws.String(planARN(plan))}
	return in
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestDescribeAndListTrainingPlans(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := start(t, Config{Plans: []Plan{
		{Name: "past", InstanceType: planType, InstanceCount: 2, Windows: []Window{{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}}},
		{Name: "now", InstanceType: planType, InstanceCount: 4, Windows: []Window{
			{Start: now.Add(-time.Hour), End: now.Add(time.Hour)}, {Start: now.Add(2 * time.Hour), End: now.Add(5*time.Hour + 30*time.Minute)}}},
		{Name: "later", InstanceType: "ml.trn1.32xlarge", InstanceCount: 8, Windows: []Window{{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}}},
	}})
	ctx := context.Background()

	p, err := plans.Describe(ctx, f.sm, planARN("now"), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != model.PlanActive || p.TotalInstanceCount != 4 || p.AvailableInstanceCount != 4 || len(p.ReservedCapacities) != 2 {
		t.Fatalf("plan now = %+v", p)
	}
	rc := p.ReservedCapacities[1]
	if rc.Status != model.PlanScheduled || rc.InstanceType != planType || rc.StartTime != now.Add(2*time.Hour).UnixMilli() || rc.EndTime != now.Add(5*time.Hour+30*time.Minute).UnixMilli() {
		t.Fatalf("second reserved capacity = %+v", rc)
	}
	out, err := f.sm.DescribeTrainingPlan(ctx, &sagemaker.DescribeTrainingPlanInput{TrainingPlanName: aws.String("now")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(out.DurationHours) != 5 || aws.ToInt64(out.DurationMinutes) != 30 || out.ReservedCapacitySummaries[1].ReservedCapacityType != types.ReservedCapacityTypeInstance {
		t.Fatalf("durations %d h %d min, reserved capacity type %q", aws.ToInt64(out.DurationHours), aws.ToInt64(out.DurationMinutes), out.ReservedCapacitySummaries[1].ReservedCapacityType)
	}
	for name, want := range map[string]string{"past": model.PlanExpired, "later": model.PlanScheduled} {
		p, err := plans.Describe(ctx, f.sm, planARN(name), now)
		if err != nil || p.Status != want {
			t.Errorf("%s: status %v, %v; want %s", name, p, err, want)
		}
	}
	if _, err := plans.Describe(ctx, f.sm, planARN("nope"), now); !errors.Is(err, plans.ErrNotFound) || !strings.Contains(err.Error(), planARN("nope")) {
		t.Errorf("unknown plan: %v, want ErrNotFound naming the ARN", err)
	}
	if _, err := f.sm.DescribeTrainingPlan(ctx, &sagemaker.DescribeTrainingPlanInput{TrainingPlanName: aws.String("nope")}); apiCode(err) != "ResourceNotFound" {
		t.Errorf("unknown plan: %v, want ResourceNotFound", err)
	}

	var names []string
	pager := sagemaker.NewListTrainingPlansPaginator(f.sm, &sagemaker.ListTrainingPlansInput{MaxResults: aws.Int32(2)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.TrainingPlanSummaries {
			names = append(names, aws.ToString(s.TrainingPlanName))
		}
	}
	if strings.Join(names, ",") != "past,now,later" {
		t.Errorf("plans by start time: %v", names)
	}
	active, err := f.sm.ListTrainingPlans(ctx, &sagemaker.ListTrainingPlansInput{
		Filters: []types.TrainingPlanFilter{{Name: types.TrainingPlanFilterNameStatus, Value: aws.String("Active")}},
	})
	if err != nil || len(active.TrainingPlanSummaries) != 1 || aws.ToString(active.TrainingPlanSummaries[0].TrainingPlanName) != "now" {
		t.Errorf("active plans: %+v, %v", active, err)
	}
}

func TestCreateTrainingJobChecksThePlan(t *testing.T) {
	now := time.Now()
	f := start(t, Config{Plans: []Plan{
		{Name: "p5", InstanceType: planType, InstanceCount: 2, Windows: []Window{{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}}},
		{Name: "gone", InstanceType: planType, InstanceCount: 2, Windows: []Window{{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}}},
	}})
	wrongType := onPlan("wrong-type", "p5", 1, "true")
	wrongType.ResourceConfig.InstanceType = types.TrainingInstanceTypeMlG5Xlarge
	for name, in := range map[string]*sagemaker.CreateTrainingJobInput{
		"unknown plan":   onPlan("unknown", "nope", 1, "true"),
		"expired plan":   onPlan("expired", "gone", 1, "true"),
		"other type":     wrongType,
		"more instances": onPlan("too-many", "p5", 3, "true"),
	} {
		_, err := f.sm.CreateTrainingJob(context.Background(), in)
		if apiCode(err) != "ValidationException" {
			t.Errorf("%s: %v, want ValidationException", name, err)
		}
	}
}

// TestPlanWindowsDriveJobs runs jobs through a plan whose window opens a
// moment after start: they wait Pending for it, share its instances, and
// the one still running when the window ends fails with a CapacityError.
func TestPlanWindowsDriveJobs(t *testing.T) {
	now := time.Now()
	opens, closes := now.Add(1500*time.Millisecond), now.Add(6*time.Second)
	f := start(t, Config{PlanEndMargin: time.Second, StopGrace: time.Second, Plans: []Plan{
		{Name: "p5", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: opens, End: closes}}},
	}})
	f.create(t, onPlan("first", "p5", 1, sh(`echo "expires=$SAGEMAKER_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP"; sleep 1`)...))
	f.create(t, onPlan("second", "p5", 1, sh("sleep 60")...))
	if d := f.describe(t, "first"); d.SecondaryStatus != types.SecondaryStatusPending {
		t.Fatalf("first is %s/%s before the window opens", d.TrainingJobStatus, d.SecondaryStatus)
	}

	first := f.wait(t, "first")
	if first.TrainingJobStatus != types.TrainingJobStatusCompleted || first.TrainingStartTime.Before(opens) {
		t.Fatalf("first: %s, started %v, window opens %v", first.TrainingJobStatus, first.TrainingStartTime, opens)
	}
	f.waitLog(t, "first", "expires="+strconv.FormatInt(closes.UnixMilli(), 10))

	second := f.wait(t, "second")
	if second.TrainingJobStatus != types.TrainingJobStatusFailed || !strings.HasPrefix(aws.ToString(second.FailureReason), "CapacityError") {
		t.Fatalf("second: %s (%s), want Failed with a CapacityError at the window's end", second.TrainingJobStatus, aws.ToString(second.FailureReason))
	}
	if second.TrainingStartTime.Before(first.TrainingEndTime.Add(-time.Millisecond)) {
		t.Errorf("second started at %v, before first ended at %v: the plan has one instance", second.TrainingStartTime, first.TrainingEndTime)
	}
	if end := *second.TrainingEndTime; end.Before(closes.Add(-time.Second)) {
		t.Errorf("second ended at %v, before the window's usable part ended (%v)", end, closes.Add(-time.Second))
	}
	evs := f.rec.waitEvents(t, "second")
	if got := statuses(evs); got[0] != "InProgress/Pending" || got[len(got)-1] != "Failed/Failed" {
		t.Errorf("second's events: %v", got)
	}
	if p, _ := plans.Describe(context.Background(), f.sm, planARN("p5"), time.Now()); p.InUseInstanceCount != 0 {
		t.Errorf("after both jobs the plan has %d instances in use", p.InUseInstanceCount)
	}
}

func TestPlanPendingTimeouts(t *testing.T) {
	now := time.Now()
	f := start(t, Config{PlanPendingTimeout: 1500 * time.Millisecond, Plans: []Plan{
		{Name: "later", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}}},
		{Name: "full", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: now.Add(-time.Hour), End: now.Add(time.Hour)}}},
	}})
	// Pending before the window opens counts toward the 2-day limit (here
	// 1.5s), but not toward MaxPendingTimeInSeconds.
	patient := onPlan("patient", "later", 1, "true")
	patient.StoppingCondition.MaxPendingTimeInSeconds = aws.Int32(1)
	f.create(t, patient)
	// The plan is Active but full: MaxPendingTimeInSeconds stops the job.
	f.create(t, onPlan("hog", "full", 1, sh("echo hogging; sleep 60")...))
	f.waitLog(t, "hog", "hogging")
	impatient := onPlan("impatient", "full", 1, "true")
	impatient.StoppingCondition.MaxPendingTimeInSeconds = aws.Int32(1)
	f.create(t, impatient)

	if d := f.wait(t, "impatient"); d.TrainingJobStatus != types.TrainingJobStatusStopped || d.TrainingStartTime != nil {
		t.Errorf("impatient: %s, started %v; want Stopped without starting", d.TrainingJobStatus, d.TrainingStartTime)
	}
	d := f.wait(t, "patient")
	if d.TrainingJobStatus != types.TrainingJobStatusFailed || !strings.HasPrefix(aws.ToString(d.FailureReason), "InsufficientCapacityError") {
		t.Errorf("patient: %s (%s), want Failed with InsufficientCapacityError", d.TrainingJobStatus, aws.ToString(d.FailureReason))
	}
	if _, err := f.sm.StopTrainingJob(context.Background(), &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String("hog")}); err != nil {
		t.Fatal(err)
	}
	if d := f.wait(t, "hog"); d.TrainingJobStatus != types.TrainingJobStatusStopped {
		t.Errorf("hog: %s", d.TrainingJobStatus)
	}
	if evs := f.rec.waitEvents(t, "impatient"); events.TrainingStopped != evs[len(evs)-1].Detail.TrainingJobStatus {
		t.Errorf("impatient's last event: %v", statuses(evs))
	}
}

func TestPlansAreChecked(t *testing.T) {
	now := time.Now()
	for name, p := range map[string]Plan{
		"no windows":       {Name: "a", InstanceType: planType, InstanceCount: 1},
		"no instances":     {Name: "a", InstanceType: planType, Windows: []Window{{Start: now, End: now.Add(time.Hour)}}},
		"no type":          {Name: "a", InstanceCount: 1, Windows: []Window{{Start: now, End: now.Add(time.Hour)}}},
		"bad name":         {Name: "a b", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: now, End: now.Add(time.Hour)}}},
		"empty window":     {Name: "a", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: now, End: now}}},
		"windows overlap":  {Name: "a", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: now, End: now.Add(time.Hour)}, {Start: now.Add(time.Minute), End: now.Add(2 * time.Hour)}}},
		"windows reversed": {Name: "a", InstanceType: planType, InstanceCount: 1, Windows: []Window{{Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}, {Start: now, End: now.Add(time.Minute)}}},
	} {
		if _, err := New(Config{Dir: t.TempDir(), Plans: []Plan{p}, Logger: quiet}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
