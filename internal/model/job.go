package model

import (
	"strings"

	"github.com/sagequeue/sagequeue/internal/safetext"
)

// ServiceJobTypeSageMakerTraining is the only service job type: a SageMaker
// training job. Queues and environments use the same word for their type.
const ServiceJobTypeSageMakerTraining = "SAGEMAKER_TRAINING"

// CapacityUnitInstances is the capacity unit of SageMaker training
// environments: one unit is one ML instance.
const CapacityUnitInstances = "NUM_INSTANCES"

// Retry actions of evaluateOnExit rules.
const (
	RetryActionRetry = "RETRY"
	RetryActionExit  = "EXIT"
)

// ServiceJob is one submitted training job: the fields of the Batch
// DescribeServiceJob response, plus the bookkeeping the scheduler and the
// store need (version, placements, where the job holds capacity).
type ServiceJob struct {
	JobID                 string    `json:"jobId"`
	JobArn                string    `json:"jobArn"`
	JobName               string    `json:"jobName"`
	JobQueue              string    `json:"jobQueue"` // queue ARN
	ServiceJobType        string    `json:"serviceJobType"`
	ServiceRequestPayload string    `json:"serviceRequestPayload"`
	Status                JobStatus `json:"status"`
	StatusReason          string    `json:"statusReason,omitempty"`
	SchedulingPriority    int32     `json:"schedulingPriority"`
	// ShareIdentifier is the job's line in its queue: the fair-share
	// identifier, or on a quota-management queue the quota share's name
	// (QuotaShareName says so), so that every backend indexes both alike.
	ShareIdentifier string `json:"shareIdentifier,omitempty"`
	// QuotaShareName is the quota share of a job of a quota-management queue.
	QuotaShareName string `json:"quotaShareName,omitempty"`
	// PreemptionConfiguration bounds how often a preempted job is requeued.
	PreemptionConfiguration *ServiceJobPreemption `json:"preemptionConfiguration,omitempty"`
	RetryStrategy           *RetryStrategy        `json:"retryStrategy,omitempty"`
	TimeoutConfig           *TimeoutConfig        `json:"timeoutConfig,omitempty"`
	Tags                    map[string]string     `json:"tags,omitempty"`
	Attempts                []Attempt             `json:"attempts,omitempty"`
	IsTerminated            bool                  `json:"isTerminated"`
	CreatedAt               int64                 `json:"createdAt"`
	ScheduledAt             int64                 `json:"scheduledAt,omitempty"`
	StartedAt               int64                 `json:"startedAt,omitempty"`
	StoppedAt               int64                 `json:"stoppedAt,omitempty"`
	ClientToken             string                `json:"clientToken,omitempty"`
	// RequestDigest fingerprints the submit request, so a repeated
	// clientToken with a different request can be told from a retry.
	RequestDigest string `json:"requestDigest,omitempty"`
	// TerminateReason is set when TerminateServiceJob asked to end a job that
	// is in flight; the engine stops its training job and ends it FAILED with
	// this reason.
	TerminateReason string `json:"terminateReason,omitempty"`
	// SubmittedBy is the caller's identity as the API saw it, for auditing.
	SubmittedBy string `json:"submittedBy,omitempty"`

	// Instances is the capacity the job needs, parsed from the payload at
	// submission; capacityUsage in the API is derived from it.
	Instances int64 `json:"instances"`
	// InstanceType is the payload's instance type ("a+b" for instance groups).
	InstanceType string `json:"instanceType,omitempty"`
	// MaxRuntimeSeconds is the payload's StoppingCondition.MaxRuntimeInSeconds,
	// 0 when the payload sets none; RuntimeBound applies SageMaker's default.
	MaxRuntimeSeconds int64 `json:"maxRuntimeSeconds,omitempty"`
	// ServiceEnvironment is the ARN of the environment the job holds capacity
	// in while SCHEDULED, STARTING or RUNNING; empty otherwise.
	ServiceEnvironment string `json:"serviceEnvironment,omitempty"`
	// Placements counts placements into RUNNABLE that used an attempt of the
	// retry strategy (capacity failures and restarts do not).
	Placements int32 `json:"placements"`
	// Launches counts training jobs created for the job; attempt n's
	// training job name is derived from it, so names never repeat even when
	// old capacity-failure attempts are dropped from Attempts.
	Launches int32 `json:"launches,omitempty"`
	// CapacityFailures counts consecutive launches that failed for lack of
	// capacity or a fault of the machine; NotBefore (epoch ms) holds the
	// job back until its backoff has passed, so a shortage is not hammered
	// every pass.
	CapacityFailures int32 `json:"capacityFailures,omitempty"`
	NotBefore        int64 `json:"notBefore,omitempty"`
	// RunnableAt is when the job last entered RUNNABLE.
	RunnableAt int64 `json:"runnableAt,omitempty"`
	// BlockedCode and BlockedSince track how long the job has been held back for
	// one reason code (the part of statusReason before " - "), across
	// re-placements, for job state time limit actions.
	BlockedCode  string `json:"blockedCode,omitempty"`
	BlockedSince int64  `json:"blockedSince,omitempty"`
	// ReservedAt is the time a backfill queue last reserved for the job
	// (epoch ms; its statusReason says so too): the latest it will start if
	// the jobs ahead run to their runtime bounds. The next pass serves
	// reserved jobs first, in this order, so the reservation holds.
	ReservedAt int64 `json:"reservedAt,omitempty"`
	// StopReason is why sagequeue asked SageMaker to stop the current attempt
	// (a terminate request or the attempt timeout), and StopRequestedAt when.
	StopReason      string `json:"stopReason,omitempty"`
	StopRequestedAt int64  `json:"stopRequestedAt,omitempty"`
	// PreemptReason is set when the scheduler chose the job's attempt as a
	// preemption victim (and says for whom); the engine stops the attempt,
	// and the job holds its capacity until SageMaker reports it stopped.
	PreemptReason string `json:"preemptReason,omitempty"`
	// Preemptions counts the job's preempted attempts; PreemptedAttempts is
	// the sliding window of the most recent ones (preemptionSummary).
	Preemptions       int32     `json:"preemptions,omitempty"`
	PreemptedAttempts []Attempt `json:"preemptedAttempts,omitempty"`
	// CheckedAt is when SageMaker's state of the current attempt was last
	// heard (an event or a describe); reconcile asks again when it is old.
	CheckedAt int64 `json:"checkedAt,omitempty"`
	UpdatedAt int64 `json:"updatedAt"`
	// Version increases by one on every stored change; conditional writes
	// compare it.
	Version int64 `json:"version"`
}

// Attempt is one training job launched for a service job.
type Attempt struct {
	TrainingJobName    string `json:"trainingJobName,omitempty"`
	TrainingJobArn     string `json:"trainingJobArn,omitempty"`
	ServiceEnvironment string `json:"serviceEnvironment,omitempty"`
	StartedAt          int64  `json:"startedAt,omitempty"`
	StoppedAt          int64  `json:"stoppedAt,omitempty"`
	StatusReason       string `json:"statusReason,omitempty"`
	// PlanWindowEnd is, for an attempt launched onto a training plan, when
	// the usable part of the plan's window it was launched into ends (epoch
	// ms): SageMaker reclaims the instances from then on, so an attempt that
	// ends at or after it ended for lack of capacity, whatever SageMaker says.
	PlanWindowEnd int64 `json:"planWindowEnd,omitempty"`
}

// RetryStrategy is the Batch ServiceJobRetryStrategy.
type RetryStrategy struct {
	Attempts       int32            `json:"attempts,omitempty"`
	EvaluateOnExit []EvaluateOnExit `json:"evaluateOnExit,omitempty"`
}

// EvaluateOnExit is one rule of a retry strategy.
type EvaluateOnExit struct {
	Action         string `json:"action"`
	OnStatusReason string `json:"onStatusReason,omitempty"`
}

// TimeoutConfig is the Batch ServiceJobTimeout.
type TimeoutConfig struct {
	AttemptDurationSeconds int32 `json:"attemptDurationSeconds,omitempty"`
}

// CapacityUsage is one entry of a job's capacityUsage.
type CapacityUsage struct {
	CapacityUnit string  `json:"capacityUnit"`
	Quantity     float64 `json:"quantity"`
}

// CapacityUsage returns the job's capacity in the shape of the Batch API.
// A job of a quota share counts in its instance type, the unit of its quota.
func (j *ServiceJob) CapacityUsage() []CapacityUsage {
	unit := CapacityUnitInstances
	if j.QuotaShareName != "" && j.InstanceType != "" {
		unit = j.InstanceType
	}
	return []CapacityUsage{{CapacityUnit: unit, Quantity: float64(j.Instances)}}
}

// LatestAttempt returns the last launched attempt, or nil.
func (j *ServiceJob) LatestAttempt() *Attempt {
	if len(j.Attempts) == 0 {
		return nil
	}
	return &j.Attempts[len(j.Attempts)-1]
}

// MaxAttempts is the number of placements the retry strategy allows (default 1).
func (j *ServiceJob) MaxAttempts() int32 {
	if j.RetryStrategy == nil || j.RetryStrategy.Attempts < 1 {
		return 1
	}
	return j.RetryStrategy.Attempts
}

// Transition moves the job along one edge of the state machine at time now
// (epoch ms) with a new statusReason, keeping the timestamps of the Batch API
// and the capacity bookkeeping in step. An edge the machine lacks is a
// *TransitionError and leaves the job unchanged.
func (j *ServiceJob) Transition(to JobStatus, now int64, reason string) error {
	if !CanTransition(j.Status, to) {
		return &TransitionError{JobID: j.JobID, From: j.Status, To: to}
	}
	j.Status = to
	j.UpdatedAt = now
	switch to {
	case StatusRunnable:
		j.RunnableAt = now
		j.ServiceEnvironment = ""
	case StatusScheduled:
		j.ScheduledAt = now
		j.StartedAt, j.StoppedAt = 0, 0
	case StatusStarting, StatusRunning:
		if j.StartedAt == 0 && to == StatusRunning {
			j.StartedAt = now
		}
	case StatusSucceeded, StatusFailed:
		j.StoppedAt = now
		j.ServiceEnvironment = ""
	}
	j.SetReason(reason, now)
	if to == StatusStarting || to == StatusRunning || to.Terminal() {
		// The job got capacity (or is done): whatever held it back is over.
		j.BlockedCode, j.BlockedSince = "", 0
		j.NotBefore = 0
	}
	if to == StatusRunning || to.Terminal() {
		// Only training (or the end) ends a run of failures that were not
		// the job's: a machine fault comes after capacity was acquired
		// (STARTING), and its backoff must go on growing.
		j.CapacityFailures = 0
	}
	return nil
}

// SetReason sets statusReason (made safe to print with safetext.Clean) and, when
// the reason's code is new, starts the clock that job state time limit
// actions read. An empty reason keeps the clock: a job that goes back to
// RUNNABLE with the same capacity error keeps accumulating time, as AWS
// Batch does.
func (j *ServiceJob) SetReason(reason string, now int64) {
	reason = safetext.Clean(reason)
	j.StatusReason = reason
	code := ReasonCode(reason)
	if code != "" && code != j.BlockedCode {
		j.BlockedCode, j.BlockedSince = code, now
	}
}

// ReasonCode returns the code part of a statusReason: the text before " - "
// (as in "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - ..."), or all of it.
func ReasonCode(reason string) string {
	code, _, _ := strings.Cut(reason, " - ")
	return code
}

// Job statusReason texts that sagequeue sets itself.
const (
	ReasonMisconfiguration     = "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE"
	ReasonMisconfigurationText = ReasonMisconfiguration + " - Service environment(s) associated with the job queue cannot meet the capacity requirement of the job."
	ReasonCapacity             = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
	// ReasonResourceLimit is the code of a job that SageMaker refused for
	// an account quota (ResourceLimitExceeded, e.g. "the account-level
	// service limit 'ml.p5.48xlarge for training job usage' is 0
	// Instances"). It is not a shortage of capacity that passes by itself,
	// so it has its own code, for job state time limit actions to end such
	// jobs on their own schedule.
	ReasonResourceLimit = "MISCONFIGURATION:SAGEMAKER_RESOURCE_LIMIT_EXCEEDED"
	// ReasonPlanNotActive holds a job whose environments' training plans
	// offer no capacity now (not in a window, or expired); the text names
	// the plan and when its next window opens.
	ReasonPlanNotActive = "CAPACITY:TRAINING_PLAN_NOT_ACTIVE"
	// ReasonPlanWindowTooShort holds a job whose runtime bound does not fit
	// in what is left of its plan's current window.
	ReasonPlanWindowTooShort = "CAPACITY:TRAINING_PLAN_WINDOW_TOO_SHORT"
	// ReasonInfrastructure starts the reason of an attempt that a fault of
	// the machine ended ("INFRASTRUCTURE:DISK_FULL - ..."): the job went
	// back to RUNNABLE without using an attempt.
	ReasonInfrastructure = "INFRASTRUCTURE"
	// ReasonBackfill is the code of a job of a backfill queue that waits with
	// a reservation; the text says when, and why it was not backfilled.
	ReasonBackfill = "BACKFILL:RESERVED"
)

// IsPlanReason reports whether a statusReason is one that the training plan
// rules set.
func IsPlanReason(reason string) bool {
	code := ReasonCode(reason)
	return code == ReasonPlanNotActive || code == ReasonPlanWindowTooShort
}

// ShouldRetry decides whether a job whose attempt just failed with reason goes
// back to RUNNABLE: while attempts remain, the first evaluateOnExit rule whose
// pattern matches decides; with no match the job is retried.
func (j *ServiceJob) ShouldRetry(reason string) bool {
	if j.IsTerminated || j.Placements >= j.MaxAttempts() {
		return false
	}
	if j.RetryStrategy != nil {
		for _, r := range j.RetryStrategy.EvaluateOnExit {
			if MatchGlob(r.OnStatusReason, reason) {
				return strings.EqualFold(r.Action, RetryActionRetry)
			}
		}
	}
	return true
}

// MatchGlob matches s against a Batch retry pattern: exact text, or a prefix
// when the pattern ends with '*'. An empty pattern matches everything, as a
// rule without onStatusReason applies to every failure.
func MatchGlob(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, prefix)
	}
	return pattern == s
}

// DefaultMaxRuntimeSeconds is SageMaker's StoppingCondition.MaxRuntimeInSeconds
// when a CreateTrainingJob request sets none (one day).
const DefaultMaxRuntimeSeconds int64 = 86400

// RuntimeBound is the longest the job's training may run, in seconds:
// SageMaker stops a training job at MaxRuntimeInSeconds, so every job has one.
func (j *ServiceJob) RuntimeBound() int64 {
	if j.MaxRuntimeSeconds > 0 {
		return j.MaxRuntimeSeconds
	}
	return DefaultMaxRuntimeSeconds
}
