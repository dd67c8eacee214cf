package model

import (
	"math"
	"sort"
	"strings"
)

// Resource states and statuses with the values of the Batch API.
const (
	StateEnabled  = "ENABLED"
	StateDisabled = "DISABLED"
	StatusValid   = "VALID"
)

// Job state time limit actions (jobStateTimeLimitActions[].action).
const (
	TimeLimitActionCancel    = "CANCEL"
	TimeLimitActionTerminate = "TERMINATE"
)

// ServiceEnvironment is a pool of capacity that queues place jobs into, such as
// the instances of a SageMaker training plan.
type ServiceEnvironment struct {
	Name           string            `json:"serviceEnvironmentName"`
	Arn            string            `json:"serviceEnvironmentArn"`
	Type           string            `json:"serviceEnvironmentType"`
	State          string            `json:"state"`
	Status         string            `json:"status"`
	CapacityLimits []CapacityLimit   `json:"capacityLimits"`
	Tags           map[string]string `json:"tags,omitempty"`
	// TrainingPlanArn is a sagequeue extension: the SageMaker training plan
	// whose reserved capacity the environment stands for. The engine sets it on
	// payloads that name no plan.
	TrainingPlanArn string `json:"trainingPlanArn,omitempty"`
	// PartialWindows is a sagequeue extension: jobs may start on the
	// environment's training plan in a window that ends before their
	// runtime bound (jobs that checkpoint and resume). Without it a job is
	// launched only into a window it can finish in.
	PartialWindows bool  `json:"partialWindows,omitempty"`
	Version        int64 `json:"version"`
}

// CapacityLimit is one capacity limit of an environment.
type CapacityLimit struct {
	CapacityUnit string `json:"capacityUnit"`
	MaxCapacity  int64  `json:"maxCapacity"`
}

// MaxInstances is the environment's limit in NUM_INSTANCES; for a quota
// management environment, whose limits are per instance type, their sum.
func (e *ServiceEnvironment) MaxInstances() int64 {
	var sum int64
	for _, l := range e.CapacityLimits {
		if l.CapacityUnit == CapacityUnitInstances || l.CapacityUnit == "" {
			return l.MaxCapacity
		}
		sum += l.MaxCapacity
	}
	return sum
}

// QuotaManaged reports whether the environment's capacity limits are per
// instance type: it serves one quota management job queue.
func (e *ServiceEnvironment) QuotaManaged() bool {
	for _, l := range e.CapacityLimits {
		if l.CapacityUnit == CapacityUnitInstances || l.CapacityUnit == "" {
			return false
		}
	}
	return len(e.CapacityLimits) > 0
}

// Limit is the environment's limit for one instance type (quota management).
func (e *ServiceEnvironment) Limit(instanceType string) int64 {
	return limitOf(e.CapacityLimits, instanceType)
}

// Enabled reports whether new jobs may be placed in the environment.
func (e *ServiceEnvironment) Enabled() bool { return e.State != StateDisabled }

// SchedulingPolicy is a Batch scheduling policy. A queue with a policy is a
// fair-share queue.
type SchedulingPolicy struct {
	Name            string           `json:"name"`
	Arn             string           `json:"arn"`
	FairsharePolicy *FairsharePolicy `json:"fairsharePolicy,omitempty"`
	// QuotaSharePolicy makes the policy a quota management policy.
	QuotaSharePolicy *QuotaSharePolicy `json:"quotaSharePolicy,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	Version          int64             `json:"version"`
}

// FairsharePolicy holds the fair-share parameters of a policy.
type FairsharePolicy struct {
	ShareDecaySeconds  int32             `json:"shareDecaySeconds"`
	ComputeReservation int32             `json:"computeReservation"`
	ShareDistribution  []ShareAttributes `json:"shareDistribution,omitempty"`
}

// ShareAttributes gives a share identifier, or a prefix ending in '*', a weight.
type ShareAttributes struct {
	ShareIdentifier string  `json:"shareIdentifier"`
	WeightFactor    float64 `json:"weightFactor"`
}

// DefaultShareDecaySeconds is the decay window used when shareDecaySeconds is
// 0, as AWS Batch documents it.
const DefaultShareDecaySeconds = 600

// DecaySeconds is the time constant of the exponential decay of past usage.
func (p *FairsharePolicy) DecaySeconds() float64 {
	if p == nil || p.ShareDecaySeconds <= 0 {
		return DefaultShareDecaySeconds
	}
	return float64(p.ShareDecaySeconds)
}

// Weight returns the weight factor of a share: the entry naming it exactly,
// else the entry whose prefix (ending in '*') it starts with, else 1.0. A
// lower weight gets more capacity. Entries cannot overlap (Validate refuses
// that), so at most one prefix matches.
func (p *FairsharePolicy) Weight(share string) float64 {
	if p == nil {
		return 1
	}
	w, found := 1.0, false
	for _, a := range p.ShareDistribution {
		if prefix, ok := strings.CutSuffix(a.ShareIdentifier, "*"); ok {
			if !found && strings.HasPrefix(share, prefix) {
				w, found = a.weight(), true
			}
		} else if a.ShareIdentifier == share {
			return a.weight()
		}
	}
	return w
}

func (a ShareAttributes) weight() float64 {
	if a.WeightFactor <= 0 {
		return 1
	}
	return a.WeightFactor
}

// Reserved is the capacity of an environment of maxCapacity instances that
// the policy keeps for shares that hold none yet, when activeShares shares
// hold some: floor((computeReservation/100)^activeShares * maxCapacity).
func (p *FairsharePolicy) Reserved(maxCapacity int64, activeShares int) int64 {
	if p == nil || p.ComputeReservation <= 0 {
		return 0
	}
	ratio := math.Pow(float64(p.ComputeReservation)/100, float64(activeShares))
	return int64(math.Floor(ratio * float64(maxCapacity)))
}

// JobQueue is a Batch job queue of type SAGEMAKER_TRAINING.
type JobQueue struct {
	Name                     string                    `json:"jobQueueName"`
	Arn                      string                    `json:"jobQueueArn"`
	Type                     string                    `json:"jobQueueType"`
	State                    string                    `json:"state"`
	Status                   string                    `json:"status"`
	StatusReason             string                    `json:"statusReason,omitempty"`
	Priority                 int32                     `json:"priority"`
	SchedulingPolicyArn      string                    `json:"schedulingPolicyArn,omitempty"`
	ServiceEnvironmentOrder  []ServiceEnvironmentOrder `json:"serviceEnvironmentOrder"`
	JobStateTimeLimitActions []JobStateTimeLimitAction `json:"jobStateTimeLimitActions,omitempty"`
	// Backfill is a sagequeue extension, off by default as AWS Batch has no
	// such thing: a job that does not fit gets a reservation (the earliest
	// time running jobs' runtime bounds free enough capacity) and later jobs
	// may start around it if they cannot delay it (see package sched).
	Backfill bool              `json:"backfill,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	// PartialWindows is a sagequeue extension: the queue's jobs may start on
	// a training plan in a window that ends before their runtime bound, as
	// ServiceEnvironment.PartialWindows allows for an environment's.
	PartialWindows bool `json:"partialWindows,omitempty"`
	// QuotaManagement is set when the queue's scheduling policy is a quota
	// management policy: its jobs go to quota shares. A policy keeps its
	// kind for life, so the queue records it once.
	QuotaManagement bool  `json:"quotaManagement,omitempty"`
	Version         int64 `json:"version"`
}

// ServiceEnvironmentOrder names an environment of a queue (by ARN once
// stored) and its order: lower orders are tried first.
type ServiceEnvironmentOrder struct {
	Order              int32  `json:"order"`
	ServiceEnvironment string `json:"serviceEnvironment"`
}

// JobStateTimeLimitAction ends a job that has been at the head of its queue
// in State with a statusReason starting with Reason for MaxTimeSeconds.
type JobStateTimeLimitAction struct {
	Action         string `json:"action"`
	MaxTimeSeconds int32  `json:"maxTimeSeconds"`
	Reason         string `json:"reason"`
	State          string `json:"state"`
}

// FairShare reports whether the queue schedules by fair share.
func (q *JobQueue) FairShare() bool { return q.SchedulingPolicyArn != "" && !q.QuotaManagement }

// QuotaShares reports whether the queue schedules by quota management.
func (q *JobQueue) QuotaShares() bool { return q.SchedulingPolicyArn != "" && q.QuotaManagement }

// Enabled reports whether the queue accepts new jobs.
func (q *JobQueue) Enabled() bool { return q.State != StateDisabled }

// Environments returns the queue's environment ARNs in the order they are
// tried (ascending order, then ARN).
func (q *JobQueue) Environments() []string {
	o := append([]ServiceEnvironmentOrder(nil), q.ServiceEnvironmentOrder...)
	sort.SliceStable(o, func(a, b int) bool {
		if o[a].Order != o[b].Order {
			return o[a].Order < o[b].Order
		}
		return o[a].ServiceEnvironment < o[b].ServiceEnvironment
	})
	out := make([]string, len(o))
	for i, e := range o {
		out[i] = e.ServiceEnvironment
	}
	return out
}

// TimeLimitMessage is the statusReason of a job ended by a time limit action.
func TimeLimitMessage(a JobStateTimeLimitAction) string {
	verb := "Terminated"
	if strings.EqualFold(a.Action, TimeLimitActionCancel) {
		verb = "Canceled"
	}
	return verb + " by JobStateTimeLimit action due to reason: " + a.Reason
}
