package engine

import (
	"strings"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// infrastructureError marks a fault of the machine a training job ran on,
// not of the job: the local SageMaker endpoint (internal/localsm) ends a job
// that met one (a full disk, no file descriptors left, a supervisor that was
// killed) with the FailureReason
//
//	InfrastructureError: <FAULT> - <detail>
//
// and refuses a CreateTrainingJob it could not even record with the error
// code InfrastructureError and the message "<FAULT> - <detail>". SageMaker
// itself never says it. The job goes back to its queue without using an
// attempt, after the capacity backoff, with the statusReason
// "INFRASTRUCTURE:<FAULT> - <detail>".
const infrastructureError = "InfrastructureError"

// infrastructureFault reads the fault and its detail from a FailureReason;
// ok is false for any other failure.
func infrastructureFault(failureReason string) (fault, detail string, ok bool) {
	rest, found := strings.CutPrefix(failureReason, infrastructureError+": ")
	if !found {
		return "", "", false
	}
	fault, detail, _ = strings.Cut(rest, " - ")
	return fault, detail, fault != ""
}

// requeueUnused ends the current attempt of j for reason and gives j back
// to its queue without using an attempt of its retry strategy, not to be
// placed again before a backoff that doubles with each such failure in a
// row: the end of an attempt that was no fault of the job (no capacity, a
// machine fault).
func (e *Engine) requeueUnused(j *model.ServiceJob, a *model.Attempt, tj events.TrainingJob, now int64, reason string) {
	e.endAttempt(j, a, tj, now, reason)
	_ = j.Transition(model.StatusRunnable, now, reason)
	j.CapacityFailures++
	j.NotBefore = now + e.capacityBackoff(j.CapacityFailures).Milliseconds()
	j.Attempts = dropOldCapacityFailures(j.Attempts)
}

// unusedAttempt reports whether an attempt's reason is one requeueUnused
// gives: such attempts are not the job's, and only the last few are kept.
func unusedAttempt(reason string) bool {
	return strings.HasPrefix(reason, model.ReasonCapacity) || strings.HasPrefix(reason, model.ReasonResourceLimit) ||
		strings.HasPrefix(reason, model.ReasonInfrastructure+":")
}
