package model

// JobStatus is the state of a service job, with the values of the Batch API.
type JobStatus string

// The job states. PENDING exists in the Batch API for jobs with dependencies;
// service jobs have none, so sagequeue never uses it, but lists accept it.
const (
	StatusSubmitted JobStatus = "SUBMITTED"
	StatusPending   JobStatus = "PENDING"
	StatusRunnable  JobStatus = "RUNNABLE"
	StatusScheduled JobStatus = "SCHEDULED"
	StatusStarting  JobStatus = "STARTING"
	StatusRunning   JobStatus = "RUNNING"
	StatusSucceeded JobStatus = "SUCCEEDED"
	StatusFailed    JobStatus = "FAILED"
)

// AllStatuses lists the states in lifecycle order.
var AllStatuses = []JobStatus{
	StatusSubmitted, StatusPending, StatusRunnable, StatusScheduled,
	StatusStarting, StatusRunning, StatusSucceeded, StatusFailed,
}

// transitions is the whole state machine: the legal edges out of each state.
// A failed attempt that will be retried goes straight back to RUNNABLE, as in
// AWS Batch; so does an attempt lost to a capacity error or a restart. SageMaker
// events may skip states (a short job can go from Pending to Completed between
// two polls), so active states may jump forward to any later one.
var transitions = map[JobStatus][]JobStatus{
	StatusSubmitted: {StatusRunnable, StatusFailed},
	StatusPending:   {StatusRunnable, StatusFailed},
	StatusRunnable:  {StatusScheduled, StatusFailed},
	StatusScheduled: {StatusStarting, StatusRunning, StatusSucceeded, StatusFailed, StatusRunnable},
	StatusStarting:  {StatusRunning, StatusSucceeded, StatusFailed, StatusRunnable},
	StatusRunning:   {StatusSucceeded, StatusFailed, StatusRunnable},
	StatusSucceeded: nil,
	StatusFailed:    nil,
}

// CanTransition reports whether the state machine has the edge from -> to.
func CanTransition(from, to JobStatus) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Valid reports whether s is one of the Batch job states.
func (s JobStatus) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Terminal reports whether a job in state s is finished for good.
func (s JobStatus) Terminal() bool { return s == StatusSucceeded || s == StatusFailed }

// HoldsCapacity reports whether a job in state s counts against its service
// environment's capacity.
func (s JobStatus) HoldsCapacity() bool {
	return s == StatusScheduled || s == StatusStarting || s == StatusRunning
}

// Waiting reports whether a job in state s has not been placed yet.
func (s JobStatus) Waiting() bool {
	return s == StatusSubmitted || s == StatusPending || s == StatusRunnable
}

// AttemptRank orders the states an attempt passes through once it has been
// sent to SageMaker. Events are at-least-once and may arrive out of order; an
// event may only move an attempt to a higher rank.
func (s JobStatus) AttemptRank() int {
	switch s {
	case StatusScheduled:
		return 1
	case StatusStarting:
		return 2
	case StatusRunning:
		return 3
	case StatusSucceeded, StatusFailed:
		return 4
	}
	return 0
}
