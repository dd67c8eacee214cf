package events

import "github.com/sagequeue/sagequeue/internal/model"

// JobDetail is a service job in the shape of the Batch DescribeServiceJob
// response without serviceRequestPayload and tags: the detail of a "Service
// Job State Change" event, and the bulk of DescribeServiceJob.
type JobDetail struct {
	Attempts      []AttemptDetail       `json:"attempts"`
	CapacityUsage []model.CapacityUsage `json:"capacityUsage"`
	CreatedAt     int64                 `json:"createdAt"`
	IsTerminated  bool                  `json:"isTerminated"`
	JobArn        string                `json:"jobArn"`
	JobID         string                `json:"jobId"`
	JobName       string                `json:"jobName"`
	JobQueue      string                `json:"jobQueue"`
	LatestAttempt *LatestAttempt        `json:"latestAttempt,omitempty"`
	// PreemptionConfiguration, PreemptionSummary and QuotaShareName are
	// those of jobs of quota-management queues.
	PreemptionConfiguration *model.ServiceJobPreemption `json:"preemptionConfiguration,omitempty"`
	PreemptionSummary       *PreemptionSummary          `json:"preemptionSummary,omitempty"`
	QuotaShareName          string                      `json:"quotaShareName,omitempty"`
	RetryStrategy           *model.RetryStrategy        `json:"retryStrategy,omitempty"`
	ScheduledAt             int64                       `json:"scheduledAt,omitempty"`
	SchedulingPriority      int32                       `json:"schedulingPriority"`
	ServiceJobType          string                      `json:"serviceJobType"`
	ShareIdentifier         string                      `json:"shareIdentifier,omitempty"`
	StartedAt               int64                       `json:"startedAt,omitempty"`
	Status                  string                      `json:"status"`
	StatusReason            string                      `json:"statusReason,omitempty"`
	StoppedAt               int64                       `json:"stoppedAt,omitempty"`
	TimeoutConfig           *model.TimeoutConfig        `json:"timeoutConfig,omitempty"`
}

// AttemptDetail is one attempt of a job.
type AttemptDetail struct {
	ServiceResourceID *ServiceResourceID `json:"serviceResourceId,omitempty"`
	StartedAt         int64              `json:"startedAt,omitempty"`
	StoppedAt         int64              `json:"stoppedAt,omitempty"`
	StatusReason      string             `json:"statusReason,omitempty"`
}

// ServiceResourceID names the SageMaker training job of an attempt.
type ServiceResourceID struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// PreemptionSummary counts a job's preempted attempts and lists the most
// recent ones.
type PreemptionSummary struct {
	PreemptedAttemptCount   int32           `json:"preemptedAttemptCount"`
	RecentPreemptedAttempts []AttemptDetail `json:"recentPreemptedAttempts"`
}

// LatestAttempt names the training job of a job's latest attempt.
type LatestAttempt struct {
	ServiceResourceID *ServiceResourceID `json:"serviceResourceId,omitempty"`
}

// NewJobDetail renders a job in the Batch shape.
func NewJobDetail(j *model.ServiceJob) JobDetail {
	d := JobDetail{
		Attempts: []AttemptDetail{}, CapacityUsage: j.CapacityUsage(), CreatedAt: j.CreatedAt,
		IsTerminated: j.IsTerminated, JobArn: j.JobArn, JobID: j.JobID, JobName: j.JobName, JobQueue: j.JobQueue,
		RetryStrategy: j.RetryStrategy, ScheduledAt: j.ScheduledAt, SchedulingPriority: j.SchedulingPriority,
		ServiceJobType: j.ServiceJobType, ShareIdentifier: j.ShareIdentifier, StartedAt: j.StartedAt,
		Status: string(j.Status), StatusReason: j.StatusReason, StoppedAt: j.StoppedAt, TimeoutConfig: j.TimeoutConfig,
	}
	for _, a := range j.Attempts {
		d.Attempts = append(d.Attempts, AttemptDetail{
			ServiceResourceID: resourceID(a), StartedAt: a.StartedAt, StoppedAt: a.StoppedAt, StatusReason: a.StatusReason,
		})
	}
	if j.QuotaShareName != "" {
		// The share identifier is the store's line key; the API shows the
		// quota share under its own name.
		d.ShareIdentifier, d.QuotaShareName = "", j.QuotaShareName
		d.PreemptionConfiguration = j.PreemptionConfiguration
	}
	if j.Preemptions > 0 {
		d.PreemptionSummary = &PreemptionSummary{PreemptedAttemptCount: j.Preemptions, RecentPreemptedAttempts: []AttemptDetail{}}
		for _, a := range j.PreemptedAttempts {
			d.PreemptionSummary.RecentPreemptedAttempts = append(d.PreemptionSummary.RecentPreemptedAttempts, AttemptDetail{
				ServiceResourceID: resourceID(a), StartedAt: a.StartedAt, StoppedAt: a.StoppedAt, StatusReason: a.StatusReason,
			})
		}
	}
	if a := j.LatestAttempt(); a != nil && a.TrainingJobArn != "" {
		d.LatestAttempt = &LatestAttempt{ServiceResourceID: resourceID(*a)}
	}
	return d
}

func resourceID(a model.Attempt) *ServiceResourceID {
	if a.TrainingJobArn == "" {
		return nil
	}
	return &ServiceResourceID{Name: "TrainingJobArn", Value: a.TrainingJobArn}
}

// JobStateChange is the event sagequeue emits on every job state change.
func JobStateChange(j *model.ServiceJob, at int64) Event {
	return Event{
		Source: Source, DetailType: DetailTypeJobStateChange, Resources: []string{j.JobArn},
		Time: msTime(at), Detail: NewJobDetail(j),
	}
}
