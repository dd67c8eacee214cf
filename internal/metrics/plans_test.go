package metrics

import (
	"math"
	"testing"

	"github.com/sagequeue/sagequeue/internal/engine"
)

// TestPlanIdleInstanceHours: idle instance-hours add up the instances a
// plan gave and sagequeue did not use, over the time its windows were open,
// and nothing while closed or across a long silence beyond maxIdleGap.
func TestPlanIdleInstanceHours(t *testing.T) {
	reg := NewRegistry()
	rec := NewPrometheus(reg)
	const arn = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/p5"
	minute := int64(60_000)
	obs := func(at int64, capacity, inUse int64, open bool) {
		rec.PlanObserved(engine.PlanState{Arn: arn, Name: "p5", Capacity: capacity, InUse: inUse, Open: open, At: base + at})
	}
	obs(0, 8, 2, true)          // 6 idle
	obs(4*minute, 8, 8, true)   // 4 minutes of 6 idle: 0.4 instance-hours
	obs(9*minute, 8, 5, true)   // fully used: 0
	obs(12*minute, 0, 0, false) // 3 minutes of 3 idle: 0.15
	obs(14*minute, 0, 0, false) // closed: 0
	obs(15*minute, 4, 0, true)  // closed until now: 0
	obs(300*minute, 4, 0, true) // a long silence counts maxIdleGap (5 minutes) of 4 idle: 1/3
	want := 0.4 + 0.15 + 4.0*5/60
	if got := value(t, reg, PlanIdle, "p5"); math.Abs(got-want) > 1e-9 {
		t.Errorf("idle instance-hours %v, want %v", got, want)
	}
	if got := value(t, reg, PlanCapacity, "p5"); got != 4 {
		t.Errorf("capacity gauge %v", got)
	}
	if got := value(t, reg, PlanInUse, "p5"); got != 0 {
		t.Errorf("in use gauge %v", got)
	}
}
