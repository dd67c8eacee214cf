// Package model holds sagequeue's domain: service environments, scheduling
// policies, job queues and service jobs, the job state machine, the validation
// rules AWS Batch applies to them, and the parsing of a job's SageMaker
// CreateTrainingJob payload.
//
// The JSON names of the types are the member names of the AWS Batch API, so a
// stored record reads like the API response it becomes. The package does no I/O
// and reads no clock: callers pass times in as epoch milliseconds.
package model
