package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// transitions is a SecondaryStatusTransitions list of the statuses given.
func transitions(statuses ...string) []events.SecondaryStatusTransition {
	var out []events.SecondaryStatusTransition
	at := events.Millis(time.Now().UnixMilli())
	for _, s := range statuses {
		out = append(out, events.SecondaryStatusTransition{Status: s, StartTime: at})
	}
	return out
}

// TestClassificationOfEndedAttempts replays SageMaker state-change events
// for each way an attempt can end and checks what the job does: a lack of
// capacity sends it back to its queue without using an attempt, a real
// failure uses one.
func TestClassificationOfEndedAttempts(t *testing.T) {
	started := events.Millis(time.Now().Add(-time.Minute).UnixMilli())
	tests := map[string]struct {
		detail events.TrainingJob
		// attempts is the job's retry strategy.
		attempts int32
		want     model.JobStatus
		// placements is the attempts used after the event.
		placements int32
		reason     string
	}{
		"InsufficientCapacityError while Pending": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingFailed, SecondaryStatus: "Failed",
				FailureReason:              "InsufficientCapacityError: The training job waited 2 days for capacity",
				SecondaryStatusTransitions: transitions("Pending", "Failed")},
			attempts: 1, want: model.StatusRunnable, placements: 1,
			reason: model.ReasonCapacity + " - Unable to provision requested compute resources (InsufficientCapacityError: The training job waited 2 days",
		},
		"CapacityError": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingFailed, SecondaryStatus: "Failed",
				FailureReason:              "CapacityError: Unable to provision requested ML compute capacity",
				SecondaryStatusTransitions: transitions("Starting", "Failed")},
			attempts: 1, want: model.StatusRunnable, placements: 1,
			reason: model.ReasonCapacity + " - Unable to provision requested compute resources (CapacityError: Unable to provision",
		},
		"Stopped while Pending": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingStopped, SecondaryStatus: "Stopped",
				SecondaryStatusTransitions: transitions("Pending", "Stopping", "Stopped")},
			attempts: 1, want: model.StatusRunnable, placements: 1,
			reason: model.ReasonCapacity + " - Unable to provision requested compute resources (stopped while waiting for capacity: Stopped)",
		},
		"a real AlgorithmError uses the attempt and ends the job": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingFailed, SecondaryStatus: "Failed",
				FailureReason: "AlgorithmError: exit status 1", TrainingStartTime: started,
				SecondaryStatusTransitions: transitions("Starting", "Downloading", "Training", "Failed")},
			attempts: 1, want: model.StatusFailed, placements: 1,
			reason: "Received status from SageMaker: AlgorithmError: exit status 1",
		},
		"a real AlgorithmError with attempts left is retried with the next one": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingFailed, SecondaryStatus: "Failed",
				FailureReason: "AlgorithmError: exit status 1", TrainingStartTime: started,
				SecondaryStatusTransitions: transitions("Starting", "Downloading", "Training", "Failed")},
			attempts: 2, want: model.StatusRunnable, placements: 2,
			reason: "Received status from SageMaker: AlgorithmError: exit status 1",
		},
		"InsufficientCapacityError after training began is a failure": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingFailed, SecondaryStatus: "Failed",
				FailureReason: "InsufficientCapacityError: lost an instance", TrainingStartTime: started,
				SecondaryStatusTransitions: transitions("Starting", "Downloading", "Training", "Failed")},
			attempts: 1, want: model.StatusFailed, placements: 1,
			reason: "Received status from SageMaker: InsufficientCapacityError: lost an instance",
		},
		"Stopped while training, not by sagequeue, is a failure": {
			detail: events.TrainingJob{TrainingJobStatus: events.TrainingStopped, SecondaryStatus: "Stopped", TrainingStartTime: started,
				SecondaryStatusTransitions: transitions("Starting", "Downloading", "Training", "Stopping", "Stopped")},
			attempts: 1, want: model.StatusFailed, placements: 1,
			reason: "Received status from SageMaker: Stopped",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			r.configure(1)
			id := r.submit("fifo", "", "sleep 30", func(j *model.ServiceJob) {
				j.RetryStrategy = &model.RetryStrategy{Attempts: tc.attempts}
			})
			if res := r.pass(); res.Launched != 1 {
				t.Fatalf("pass %+v", res)
			}
			tj := tc.detail
			tj.TrainingJobName = r.job(id).LatestAttempt().TrainingJobName
			tj.TrainingEndTime = events.Millis(time.Now().UnixMilli())
			out, err := r.engine.ApplyTrainingJobEvent(ctx, events.TrainingJobStateChange{DetailType: events.DetailTypeTrainingJobStateChange, Detail: tj})
			if err != nil || !out.Released {
				t.Fatalf("applying the event: %+v, %v", out, err)
			}
			j := r.job(id)
			if j.Status != tc.want || j.Placements != tc.placements {
				t.Fatalf("job %s with %d attempts used, want %s with %d", j.Status, j.Placements, tc.want, tc.placements)
			}
			if !strings.HasPrefix(j.StatusReason, tc.reason) {
				t.Errorf("statusReason %q, want %q", j.StatusReason, tc.reason)
			}
			if a := j.Attempts[0]; !strings.HasPrefix(a.StatusReason, tc.reason) || a.StoppedAt == 0 {
				t.Errorf("attempt %+v: want its reason %q and its stop time", a, tc.reason)
			}
		})
	}
}
