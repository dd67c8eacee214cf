package engine

import (
	"errors"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/events"
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
	// classCapacity: no capacity now (CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY):
	// back to RUNNABLE without using an attempt, after a backoff.
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

// classifyEnd classifies a training job that failed or was stopped, by
// its FailureReason (SageMaker's, or the one endLaunch made up for a
// refused launch: "<error code>: <message>").
func classifyEnd(tj events.TrainingJob) outcomeClass {
	switch r := tj.FailureReason; {
	case strings.HasPrefix(r, "CapacityError"):
		return classCapacity
	case strings.HasPrefix(r, "ResourceLimitExceeded"):
		return classResourceLimit
	case isMachineFault(tj):
		return classInfrastructure
	}
	return classAttempt
}
