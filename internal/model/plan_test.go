package model_test

import (
	"reflect"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
)

func TestPlanName(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sagemaker:us-east-1:111122223333:training-plan/p5-20": "p5-20",
		"arn:aws:sagemaker:local:000000000000:training-plan/demo":      "demo",
		"arn:aws:sagemaker:us-east-1:111122223333:training-job/x":      "",
		"p5-20": "",
	} {
		if got := model.PlanName(arn); got != want {
			t.Errorf("PlanName(%q) = %q, want %q", arn, got, want)
		}
	}
}

func TestPlanWindows(t *testing.T) {
	const m = int64(60_000) // margin
	rc := func(start, end, n int64, status string) model.ReservedCapacity {
		return model.ReservedCapacity{InstanceType: "ml.p5.48xlarge", InstanceCount: n, Status: status, StartTime: start * 60_000, EndTime: end * 60_000}
	}
	w := func(start, end, closeAt, n int64) model.PlanWindow {
		return model.PlanWindow{Start: start * 60_000, End: end*60_000 - m, Close: closeAt * 60_000, Instances: n}
	}
	tests := map[string]struct {
		plan model.TrainingPlan
		want []model.PlanWindow
	}{
		"discontinuous reserved capacities are separate windows": {
			plan: model.TrainingPlan{Status: model.PlanActive, ReservedCapacities: []model.ReservedCapacity{
				rc(100, 200, 4, model.PlanActive), rc(300, 400, 4, model.PlanScheduled)}},
			want: []model.PlanWindow{w(100, 200, 200, 4), w(300, 400, 400, 4)},
		},
		"overlapping reserved capacities add up": {
			plan: model.TrainingPlan{Status: model.PlanActive, ReservedCapacities: []model.ReservedCapacity{
				rc(100, 300, 2, model.PlanActive), rc(200, 400, 3, model.PlanActive)}},
			want: []model.PlanWindow{
				{Start: 100 * 60_000, End: 200 * 60_000, Close: 300 * 60_000, Instances: 2},
				{Start: 200 * 60_000, End: 300*60_000 - m, Close: 400 * 60_000, Instances: 5},
				{Start: 300*60_000 - m, End: 400*60_000 - m, Close: 400 * 60_000, Instances: 3},
			},
		},
		"back to back reserved capacities of one size make one window": {
			plan: model.TrainingPlan{Status: model.PlanActive, ReservedCapacities: []model.ReservedCapacity{
				{InstanceCount: 4, Status: model.PlanActive, StartTime: 0, EndTime: 100*60_000 + m},
				{InstanceCount: 4, Status: model.PlanScheduled, StartTime: 100 * 60_000, EndTime: 200 * 60_000}}},
			want: []model.PlanWindow{{Start: 0, End: 200*60_000 - m, Close: 200 * 60_000, Instances: 4}},
		},
		"expired reserved capacities offer nothing": {
			plan: model.TrainingPlan{Status: model.PlanActive, ReservedCapacities: []model.ReservedCapacity{
				rc(100, 200, 4, model.PlanExpired), rc(300, 400, 2, model.PlanScheduled)}},
			want: []model.PlanWindow{w(300, 400, 400, 2)},
		},
		"a plan without reserved capacities is one window": {
			plan: model.TrainingPlan{Status: model.PlanScheduled, StartTime: 100 * 60_000, EndTime: 200 * 60_000, TotalInstanceCount: 8},
			want: []model.PlanWindow{w(100, 200, 200, 8)},
		},
		"an expired plan has none": {
			plan: model.TrainingPlan{Status: model.PlanExpired, ReservedCapacities: []model.ReservedCapacity{rc(100, 200, 4, model.PlanExpired)}},
		},
		"a plan still being paid for has none": {
			plan: model.TrainingPlan{Status: model.PlanPending, ReservedCapacities: []model.ReservedCapacity{rc(100, 200, 4, model.PlanPending)}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.plan.Windows(m); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Windows = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlanCapacityAt(t *testing.T) {
	p := model.TrainingPlan{Status: model.PlanActive, UnhealthyInstanceCount: 1, ReservedCapacities: []model.ReservedCapacity{
		{InstanceCount: 4, Status: model.PlanActive, StartTime: 1000, EndTime: 10_000}}}
	for at, want := range map[int64]int64{999: 0, 1000: 3, 7999: 3, 8000: 0, 10_000: 0} {
		if got := p.CapacityAt(at, 2000); got != want {
			t.Errorf("CapacityAt(%d) = %d, want %d", at, got, want)
		}
	}
}

func TestHasInstanceStorage(t *testing.T) {
	for typ, want := range map[string]bool{
		"ml.p4d.24xlarge": true, "ml.p4de.24xlarge": true, "ml.p5.48xlarge": true, "ml.p5e.48xlarge": true,
		"ml.p5en.48xlarge": true, "ml.p6-b200.48xlarge": true, "ml.trn1.32xlarge": true, "ml.trn1n.32xlarge": true,
		"ml.trn2.48xlarge": true, "ml.g5.xlarge": true, "ml.g6e.12xlarge": true, "ml.g4dn.xlarge": true,
		"ml.p3dn.24xlarge": true, "ml.c5d.2xlarge": true, "ml.m6id.large": true, "ml.r5d.large": true,
		"ml.m5.xlarge": false, "ml.c5.2xlarge": false, "ml.p3.16xlarge": false, "ml.p2.xlarge": false,
		"ml.g4ad.xlarge": true, "ml.t3.medium": false, "": false, "local": false,
	} {
		if got := model.HasInstanceStorage(typ); got != want {
			t.Errorf("HasInstanceStorage(%q) = %v, want %v", typ, got, want)
		}
	}
}

func TestPlanStatusAt(t *testing.T) {
	p := model.TrainingPlan{Status: model.PlanScheduled, ReservedCapacities: []model.ReservedCapacity{
		{InstanceCount: 1, Status: model.PlanScheduled, StartTime: 1000, EndTime: 2000},
		{InstanceCount: 1, Status: model.PlanScheduled, StartTime: 3000, EndTime: 4000}}}
	for at, want := range map[int64]string{0: model.PlanScheduled, 1500: model.PlanActive, 2500: model.PlanScheduled, 3999: model.PlanActive, 4000: model.PlanExpired} {
		if got := p.StatusAt(at); got != want {
			t.Errorf("StatusAt(%d) = %s, want %s", at, got, want)
		}
	}
	p.Status = model.PlanFailed
	if got := p.StatusAt(1500); got != model.PlanFailed {
		t.Errorf("a failed plan: %s", got)
	}
}
