package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// outcomeClass is what an outcome reported by SageMaker (a refused
// CreateTrainingJob, or a training job that ended without completing)
// does to its service job. classifyLaunch and classifyEnd are the one
// place that decides it: add cases there.
type outcomeClass int

const (
	// classAttempt: the attempt failed; the retry strategy decides whether
	// the job runs again, and the attempt counts.
	classAttempt outcomeClass = iota
	// classCapacity: capacity was lacking, or taken back
	// (CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY): back to RUNNABLE without
	// using an attempt, after a backoff, as AWS Batch does ("Jobs stuck in
	// RUNNABLE due to capacity", AWS Batch user guide).
	classCapacity
	// classResourceLimit: an account quota refused the job
	// (model.ReasonResourceLimit): back to RUNNABLE without using an
	// attempt, after a backoff, under its own reason, which job state time
	// limit actions can act on.
	classResourceLimit
	// classInfrastructure: a fault of the machine, not of the job (see
	// infrastructureError): back to RUNNABLE without using an attempt,
	// after a backoff, under "INFRASTRUCTURE:<FAULT>".
	classInfrastructure
	// classThrottled: SageMaker throttled the request itself, after the
	// SDK's retries: nothing happened to the job. It goes back to its line
	// unlaunched, with nothing recorded, and the next pass tries again.
	classThrottled
	// classRefused: a request that retrying cannot fix (a bad payload, a
	// missing role): the attempt ends as a failure.
	classRefused
	// classUnknown: the request's fate is unknown (a timeout, a server
	// error): the training job may exist. Reconcile asks SageMaker.
	classUnknown
)

// throttleCodes are the error codes of requests refused for their rate.
var throttleCodes = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "ThrottledException": true,
	"TooManyRequestsException": true, "RequestLimitExceeded": true,
}

// classifyLaunch classifies a refused CreateTrainingJob. ResourceLimitExceeded
// is SageMaker's answer when a request would pass an account quota (see
// the CreateTrainingJob API reference); ThrottlingException is its answer
// to a request rate above the API's limit: the first says something about
// the job's instances, the second nothing at all.
func classifyLaunch(err error) outcomeClass {
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return classRefused // refused by the SDK before it was sent
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return classUnknown
	}
	code := ae.ErrorCode()
	switch {
	case code == infrastructureError:
		return classInfrastructure
	case throttleCodes[code]:
		return classThrottled
	case code == "ResourceLimitExceeded":
		return classResourceLimit
	case strings.HasPrefix(code, "CapacityError"):
		return classCapacity
	case ae.ErrorFault() == smithy.FaultClient:
		return classRefused
	}
	// The SDK does not model every error code: a 4xx answer is the
	// client's fault all the same.
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
		return classRefused
	}
	return classUnknown
}

// classifyEnd classifies the end of the current attempt a of job j as tj
// says (Failed or Stopped), when sagequeue did not ask for the stop: by
// tj's FailureReason (SageMaker's, or the one endLaunch made up for a
// refused launch: "<error code>: <message>"), how far the attempt got, and
// the training plan window it was launched into. For the classes that do
// not use an attempt (capacity, resource limit, infrastructure) it also
// returns the statusReason.
//
//   - A FailureReason starting "CapacityError": capacity, whenever it
//     happens (AWS Batch reads it so).
//   - A FailureReason starting "ResourceLimitExceeded": an account quota.
//   - InsufficientCapacityError before the job reached Training: a job on a
//     training plan waited for capacity too long (SageMaker fails it after
//     2 days in Pending).
//   - Stopped before it reached Training: it waited for capacity until its
//     StoppingCondition (MaxPendingTimeInSeconds) ended it; AWS Batch reads
//     this as capacity too.
//   - A fault of the machine (an InfrastructureError of the local
//     endpoint, faults.go): "INFRASTRUCTURE:<FAULT> - <detail>".
//   - Any other end at or after the end of the training plan window the
//     attempt was launched into: capacity, as SageMaker terminates a plan's
//     instances from 30 minutes before a reserved capacity ends, whatever
//     it then reports.
func classifyEnd(j *model.ServiceJob, a *model.Attempt, tj events.TrainingJob, now int64) (outcomeClass, string) {
	const unable = model.ReasonCapacity + " - Unable to provision requested compute resources"
	waiting := neverTrained(j, a, tj)
	switch r := tj.FailureReason; {
	case strings.HasPrefix(r, "CapacityError"):
		return classCapacity, unable + " (" + r + ")"
	case strings.HasPrefix(r, "ResourceLimitExceeded"):
		return classResourceLimit, model.ReasonResourceLimit + " - SageMaker refused the training job for an account quota (" + r + ")"
	case waiting && strings.HasPrefix(r, "InsufficientCapacityError"):
		return classCapacity, unable + " (" + r + ")"
	case waiting && tj.TrainingJobStatus == events.TrainingStopped:
		return classCapacity, unable + fmt.Sprintf(" (stopped while waiting for capacity: %s)", orElse(tj.SecondaryStatus, tj.TrainingJobStatus))
	}
	if fault, detail, ok := infrastructureFault(tj.FailureReason); ok {
		return classInfrastructure, model.ReasonInfrastructure + ":" + fault + " - " + detail
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
			return classCapacity, fmt.Sprintf("%s - The training plan's window ended at %s and SageMaker took its instances back (%s)",
				model.ReasonCapacity, time.UnixMilli(a.PlanWindowEnd).UTC().Format(time.RFC3339), what)
		}
	}
	return classAttempt, ""
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
