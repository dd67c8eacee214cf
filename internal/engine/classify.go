package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// endKind is what the end of an attempt that did not complete means for its
// job.
type endKind int

const (
	// endFailed: the attempt failed; the retry strategy decides.
	endFailed endKind = iota
	// endCapacity: capacity was lacking, or taken back; the job goes back
	// to its queue without using an attempt, as AWS Batch does
	// ("Jobs stuck in RUNNABLE due to capacity", AWS Batch user guide).
	endCapacity
	// endMachineFault: a fault of the machine the job ran on (faults.go),
	// not of the job; the same as capacity.
	endMachineFault
)

// classifyEnd decides what it means that SageMaker ended the current
// attempt a of job j as tj says (Failed or Stopped), when sagequeue did not
// ask for the stop. It is the one place that reads SageMaker's outcomes for
// their cause; for capacity it also returns the statusReason.
//
//   - A FailureReason starting "CapacityError": capacity, whenever it
//     happens (AWS Batch reads it so).
//   - InsufficientCapacityError before the job reached Training: a job on a
//     training plan waited for capacity too long (SageMaker fails it after
//     2 days in Pending).
//   - Stopped before it reached Training: it waited for capacity until its
//     StoppingCondition (MaxPendingTimeInSeconds) ended it; AWS Batch reads
//     this as capacity too.
//   - Any end at or after the end of the training plan window the attempt
//     was launched into: SageMaker terminates a plan's instances from 30
//     minutes before a reserved capacity ends, whatever it then reports.
//   - A fault of the machine (an InfrastructureError of the local
//     endpoint, faults.go): endMachineFault, "INFRASTRUCTURE:<FAULT> - ...".
func classifyEnd(j *model.ServiceJob, a *model.Attempt, tj events.TrainingJob, now int64) (endKind, string) {
	const unable = model.ReasonCapacity + " - Unable to provision requested compute resources"
	waiting := neverTrained(j, a, tj)
	switch {
	case strings.HasPrefix(tj.FailureReason, "CapacityError"):
		return endCapacity, unable + " (" + tj.FailureReason + ")"
	case waiting && strings.HasPrefix(tj.FailureReason, "InsufficientCapacityError"):
		return endCapacity, unable + " (" + tj.FailureReason + ")"
	case waiting && tj.TrainingJobStatus == events.TrainingStopped:
		return endCapacity, unable + fmt.Sprintf(" (stopped while waiting for capacity: %s)", orElse(tj.SecondaryStatus, tj.TrainingJobStatus))
	}
	if fault, detail, ok := infrastructureFault(tj.FailureReason); ok {
		return endMachineFault, model.ReasonInfrastructure + ":" + fault + " - " + detail
	}
	if a.PlanWindowEnd > 0 {
		end := max(int64(tj.TrainingEndTime), int64(tj.LastModifiedTime))
		if end == 0 {
			end = now
		}
		if end >= a.PlanWindowEnd {
			what := tj.FailureReason
			if what == "" {
				what = orElse(tj.SecondaryStatus, tj.TrainingJobStatus)
			}
			return endCapacity, fmt.Sprintf("%s - The training plan's window ended at %s and SageMaker took its instances back (%s)",
				model.ReasonCapacity, time.UnixMilli(a.PlanWindowEnd).UTC().Format(time.RFC3339), what)
		}
	}
	return endFailed, ""
}

// neverTrained reports whether an attempt ended while it still waited for
// its instances: it never started training, sagequeue saw it no further
// than SCHEDULED (SageMaker's Pending or Starting), and SageMaker's own
// record of it shows nothing past Starting.
func neverTrained(j *model.ServiceJob, a *model.Attempt, tj events.TrainingJob) bool {
	if tj.TrainingStartTime > 0 || a.StartedAt > 0 || j.Status != model.StatusScheduled {
		return false
	}
	for _, t := range tj.SecondaryStatusTransitions {
		switch t.Status {
		case "Pending", "Starting", "Stopping", "Stopped", "Failed", "MaxRuntimeExceeded", "MaxWaitTimeExceeded", "Interrupted":
		default:
			return false
		}
	}
	return true
}

func orElse(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
