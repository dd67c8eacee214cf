package engine

import (
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// TestClassifyEndAtWindowEnd: an attempt on a training plan that ends at or
// after the end of its window lost its instances to the window's end,
// whatever SageMaker reports; one that ends before it failed on its own.
func TestClassifyEndAtWindowEnd(t *testing.T) {
	const windowEnd = int64(1_800_000_000_000)
	running := &model.ServiceJob{Status: model.StatusRunning}
	a := &model.Attempt{StartedAt: windowEnd - 3_600_000, PlanWindowEnd: windowEnd}
	tests := map[string]struct {
		tj   events.TrainingJob
		want endKind
	}{
		"failed after the window ended": {
			tj:   events.TrainingJob{TrainingJobStatus: events.TrainingFailed, FailureReason: "InternalServerError: instance terminated", TrainingEndTime: events.Millis(windowEnd + 60_000)},
			want: endCapacity,
		},
		"stopped as the window ended": {
			tj:   events.TrainingJob{TrainingJobStatus: events.TrainingStopped, SecondaryStatus: "Stopped", TrainingEndTime: events.Millis(windowEnd)},
			want: endCapacity,
		},
		"failed before the window ended": {
			tj:   events.TrainingJob{TrainingJobStatus: events.TrainingFailed, FailureReason: "AlgorithmError: boom", TrainingEndTime: events.Millis(windowEnd - 1)},
			want: endFailed,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, reason := classifyEnd(running, a, tc.tj, windowEnd)
			if got != tc.want {
				t.Fatalf("kind %v, want %v", got, tc.want)
			}
			if got == endCapacity && !strings.HasPrefix(reason, model.ReasonCapacity+" - The training plan's window ended at 2027-01-15T08:00:00Z") {
				t.Errorf("reason %q", reason)
			}
		})
	}
	// Without a plan window, the same failure after the fact is a failure.
	if got, _ := classifyEnd(running, &model.Attempt{StartedAt: 1}, tests["failed after the window ended"].tj, windowEnd); got != endFailed {
		t.Errorf("an attempt off any plan: %v", got)
	}
}
