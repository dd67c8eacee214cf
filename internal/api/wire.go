package api

import "github.com/sagequeue/sagequeue/internal/events"

// The request and response shapes of the Batch REST-JSON protocol, with the
// exact member names of the AWS Batch API. Optional request members are
// pointers so that "absent" and "zero" can be told apart.

type submitServiceJobRequest struct {
	JobName                 *string           `json:"jobName"`
	JobQueue                *string           `json:"jobQueue"`
	ServiceJobType          *string           `json:"serviceJobType"`
	ServiceRequestPayload   *string           `json:"serviceRequestPayload"`
	ClientToken             *string           `json:"clientToken,omitempty"`
	RetryStrategy           *retryStrategy    `json:"retryStrategy,omitempty"`
	SchedulingPriority      *int32            `json:"schedulingPriority,omitempty"`
	ShareIdentifier         *string           `json:"shareIdentifier,omitempty"`
	QuotaShareName          *string           `json:"quotaShareName,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	TimeoutConfig           *timeoutConfig    `json:"timeoutConfig,omitempty"`
	PreemptionConfiguration *preemptionConfig `json:"preemptionConfiguration,omitempty"`
}

type preemptionConfig struct {
	PreemptionRetriesBeforeTermination *int32 `json:"preemptionRetriesBeforeTermination,omitempty"`
}

type retryStrategy struct {
	Attempts       *int32           `json:"attempts,omitempty"`
	EvaluateOnExit []evaluateOnExit `json:"evaluateOnExit,omitempty"`
}

type evaluateOnExit struct {
	Action         *string `json:"action,omitempty"`
	OnStatusReason *string `json:"onStatusReason,omitempty"`
}

type timeoutConfig struct {
	AttemptDurationSeconds *int32 `json:"attemptDurationSeconds,omitempty"`
}

type jobRef struct {
	JobArn  string `json:"jobArn"`
	JobID   string `json:"jobId"`
	JobName string `json:"jobName"`
}

type describeServiceJobRequest struct {
	JobID *string `json:"jobId"`
}

type capacityUsage struct {
	CapacityUnit string  `json:"capacityUnit"`
	Quantity     float64 `json:"quantity"`
}

// serviceJobDetail is DescribeServiceJob's response: the job detail of
// events plus the payload and tags.
type serviceJobDetail struct {
	events.JobDetail
	ServiceRequestPayload string            `json:"serviceRequestPayload"`
	Tags                  map[string]string `json:"tags,omitempty"`
	// SubmittedBy is a sagequeue extension member: the identity of the
	// caller that submitted the job (the IAM principal behind API
	// Gateway). SDK clients ignore members they do not know.
	SubmittedBy string `json:"submittedBy,omitempty"`
	// ReservedAt is a sagequeue extension member: while a job of a backfill
	// queue waits, the time (epoch ms) it is reserved to start by.
	ReservedAt int64 `json:"reservedAt,omitempty"`
}

type keyValuesPair struct {
	Name   *string  `json:"name"`
	Values []string `json:"values"`
}

type listServiceJobsRequest struct {
	JobQueue   *string         `json:"jobQueue,omitempty"`
	JobStatus  *string         `json:"jobStatus,omitempty"`
	MaxResults *int32          `json:"maxResults,omitempty"`
	NextToken  *string         `json:"nextToken,omitempty"`
	Filters    []keyValuesPair `json:"filters,omitempty"`
}

type serviceJobSummary struct {
	CapacityUsage   []capacityUsage       `json:"capacityUsage"`
	CreatedAt       int64                 `json:"createdAt"`
	JobArn          string                `json:"jobArn"`
	JobID           string                `json:"jobId"`
	JobName         string                `json:"jobName"`
	LatestAttempt   *events.LatestAttempt `json:"latestAttempt,omitempty"`
	ScheduledAt     int64                 `json:"scheduledAt,omitempty"`
	QuotaShareName  string                `json:"quotaShareName,omitempty"`
	ServiceJobType  string                `json:"serviceJobType"`
	ShareIdentifier string                `json:"shareIdentifier,omitempty"`
	StartedAt       int64                 `json:"startedAt,omitempty"`
	Status          string                `json:"status"`
	StatusReason    string                `json:"statusReason,omitempty"`
	StoppedAt       int64                 `json:"stoppedAt,omitempty"`
}

type listServiceJobsResponse struct {
	JobSummaryList []serviceJobSummary `json:"jobSummaryList"`
	NextToken      string              `json:"nextToken,omitempty"`
}

type terminateServiceJobRequest struct {
	JobID  *string `json:"jobId"`
	Reason *string `json:"reason"`
}

type updateServiceJobRequest struct {
	JobID              *string `json:"jobId"`
	SchedulingPriority *int32  `json:"schedulingPriority"`
}

type getJobQueueSnapshotRequest struct {
	JobQueue *string `json:"jobQueue"`
}

type frontOfQueueJob struct {
	EarliestTimeAtPosition int64  `json:"earliestTimeAtPosition,omitempty"`
	JobArn                 string `json:"jobArn"`
}

type frontOfQueue struct {
	Jobs          []frontOfQueueJob `json:"jobs"`
	LastUpdatedAt int64             `json:"lastUpdatedAt"`
}

type shareUtilization struct {
	ShareIdentifier string          `json:"shareIdentifier"`
	CapacityUsage   []capacityUsage `json:"capacityUsage"`
}

type fairshareUtilization struct {
	ActiveShareCount       int64              `json:"activeShareCount"`
	TopCapacityUtilization []shareUtilization `json:"topCapacityUtilization"`
}

type quotaShareUtilization struct {
	QuotaShareName string          `json:"quotaShareName"`
	CapacityUsage  []capacityUsage `json:"capacityUsage"`
}

type quotaShareUtilizationDetail struct {
	TopCapacityUtilization []quotaShareUtilization `json:"topCapacityUtilization"`
}

type queueUtilization struct {
	FairshareUtilization  *fairshareUtilization        `json:"fairshareUtilization,omitempty"`
	QuotaShareUtilization *quotaShareUtilizationDetail `json:"quotaShareUtilization,omitempty"`
	LastUpdatedAt         int64                        `json:"lastUpdatedAt"`
	TotalCapacityUsage    []capacityUsage              `json:"totalCapacityUsage"`
}

type frontOfQuotaShares struct {
	LastUpdatedAt int64                        `json:"lastUpdatedAt"`
	QuotaShares   map[string][]frontOfQueueJob `json:"quotaShares"`
}

type getJobQueueSnapshotResponse struct {
	FrontOfQueue       frontOfQueue        `json:"frontOfQueue"`
	FrontOfQuotaShares *frontOfQuotaShares `json:"frontOfQuotaShares,omitempty"`
	QueueUtilization   queueUtilization    `json:"queueUtilization"`
}

// Service environments.

type capacityLimit struct {
	CapacityUnit *string `json:"capacityUnit,omitempty"`
	MaxCapacity  *int64  `json:"maxCapacity,omitempty"`
}

type createServiceEnvironmentRequest struct {
	ServiceEnvironmentName *string           `json:"serviceEnvironmentName"`
	ServiceEnvironmentType *string           `json:"serviceEnvironmentType"`
	State                  *string           `json:"state,omitempty"`
	CapacityLimits         []capacityLimit   `json:"capacityLimits"`
	Tags                   map[string]string `json:"tags,omitempty"`
	TrainingPlanArn        *string           `json:"trainingPlanArn,omitempty"` // sagequeue extension
	PartialWindows         *bool             `json:"partialWindows,omitempty"`  // sagequeue extension
}

type updateServiceEnvironmentRequest struct {
	ServiceEnvironment *string         `json:"serviceEnvironment"`
	CapacityLimits     []capacityLimit `json:"capacityLimits,omitempty"`
	State              *string         `json:"state,omitempty"`
	TrainingPlanArn    *string         `json:"trainingPlanArn,omitempty"` // sagequeue extension
	PartialWindows     *bool           `json:"partialWindows,omitempty"`  // sagequeue extension
}

type environmentRef struct {
	ServiceEnvironmentArn  string `json:"serviceEnvironmentArn"`
	ServiceEnvironmentName string `json:"serviceEnvironmentName"`
}

type describeServiceEnvironmentsRequest struct {
	ServiceEnvironments []string `json:"serviceEnvironments,omitempty"`
	MaxResults          *int32   `json:"maxResults,omitempty"`
	NextToken           *string  `json:"nextToken,omitempty"`
}

type environmentLimit struct {
	CapacityUnit string `json:"capacityUnit"`
	MaxCapacity  int64  `json:"maxCapacity"`
}

type serviceEnvironmentDetail struct {
	CapacityLimits         []environmentLimit `json:"capacityLimits"`
	ServiceEnvironmentArn  string             `json:"serviceEnvironmentArn"`
	ServiceEnvironmentName string             `json:"serviceEnvironmentName"`
	ServiceEnvironmentType string             `json:"serviceEnvironmentType"`
	State                  string             `json:"state"`
	Status                 string             `json:"status"`
	Tags                   map[string]string  `json:"tags,omitempty"`
	TrainingPlanArn        string             `json:"trainingPlanArn,omitempty"` // sagequeue extension
	PartialWindows         bool               `json:"partialWindows,omitempty"`  // sagequeue extension
}

type describeServiceEnvironmentsResponse struct {
	ServiceEnvironments []serviceEnvironmentDetail `json:"serviceEnvironments"`
	NextToken           string                     `json:"nextToken,omitempty"`
}

type deleteServiceEnvironmentRequest struct {
	ServiceEnvironment *string `json:"serviceEnvironment"`
}

// Job queues.

type serviceEnvironmentOrder struct {
	Order              *int32  `json:"order"`
	ServiceEnvironment *string `json:"serviceEnvironment"`
}

type timeLimitAction struct {
	Action         *string `json:"action"`
	MaxTimeSeconds *int32  `json:"maxTimeSeconds"`
	Reason         *string `json:"reason"`
	State          *string `json:"state"`
}

type createJobQueueRequest struct {
	JobQueueName             *string                   `json:"jobQueueName"`
	Priority                 *int32                    `json:"priority"`
	State                    *string                   `json:"state,omitempty"`
	SchedulingPolicyArn      *string                   `json:"schedulingPolicyArn,omitempty"`
	ServiceEnvironmentOrder  []serviceEnvironmentOrder `json:"serviceEnvironmentOrder,omitempty"`
	ComputeEnvironmentOrder  []any                     `json:"computeEnvironmentOrder,omitempty"`
	JobQueueType             *string                   `json:"jobQueueType,omitempty"`
	JobStateTimeLimitActions []timeLimitAction         `json:"jobStateTimeLimitActions,omitempty"`
	Tags                     map[string]string         `json:"tags,omitempty"`
	PartialWindows           *bool                     `json:"partialWindows,omitempty"` // sagequeue extension
	Backfill                 *bool                     `json:"backfill,omitempty"`       // sagequeue extension
}

type updateJobQueueRequest struct {
	JobQueue                 *string                   `json:"jobQueue"`
	Priority                 *int32                    `json:"priority,omitempty"`
	State                    *string                   `json:"state,omitempty"`
	SchedulingPolicyArn      *string                   `json:"schedulingPolicyArn,omitempty"`
	ServiceEnvironmentOrder  []serviceEnvironmentOrder `json:"serviceEnvironmentOrder,omitempty"`
	ComputeEnvironmentOrder  []any                     `json:"computeEnvironmentOrder,omitempty"`
	JobStateTimeLimitActions []timeLimitAction         `json:"jobStateTimeLimitActions"`
	PartialWindows           *bool                     `json:"partialWindows,omitempty"` // sagequeue extension
	Backfill                 *bool                     `json:"backfill,omitempty"`       // sagequeue extension
}

type queueRef struct {
	JobQueueArn  string `json:"jobQueueArn"`
	JobQueueName string `json:"jobQueueName"`
}

type describeJobQueuesRequest struct {
	JobQueues  []string `json:"jobQueues,omitempty"`
	MaxResults *int32   `json:"maxResults,omitempty"`
	NextToken  *string  `json:"nextToken,omitempty"`
}

type queueEnvironment struct {
	Order              int32  `json:"order"`
	ServiceEnvironment string `json:"serviceEnvironment"`
}

type queueTimeLimit struct {
	Action         string `json:"action"`
	MaxTimeSeconds int32  `json:"maxTimeSeconds"`
	Reason         string `json:"reason"`
	State          string `json:"state"`
}

type jobQueueDetail struct {
	ComputeEnvironmentOrder  []any              `json:"computeEnvironmentOrder"`
	JobQueueArn              string             `json:"jobQueueArn"`
	JobQueueName             string             `json:"jobQueueName"`
	JobQueueType             string             `json:"jobQueueType"`
	JobStateTimeLimitActions []queueTimeLimit   `json:"jobStateTimeLimitActions"`
	Priority                 int32              `json:"priority"`
	SchedulingPolicyArn      string             `json:"schedulingPolicyArn,omitempty"`
	ServiceEnvironmentOrder  []queueEnvironment `json:"serviceEnvironmentOrder"`
	State                    string             `json:"state"`
	Status                   string             `json:"status"`
	StatusReason             string             `json:"statusReason,omitempty"`
	Tags                     map[string]string  `json:"tags,omitempty"`
	PartialWindows           bool               `json:"partialWindows,omitempty"` // sagequeue extension
	Backfill                 bool               `json:"backfill"`                 // sagequeue extension
}

type describeJobQueuesResponse struct {
	JobQueues []jobQueueDetail `json:"jobQueues"`
	NextToken string           `json:"nextToken,omitempty"`
}

type deleteJobQueueRequest struct {
	JobQueue *string `json:"jobQueue"`
}

// Scheduling policies.

type shareAttributes struct {
	ShareIdentifier *string  `json:"shareIdentifier"`
	WeightFactor    *float64 `json:"weightFactor,omitempty"`
}

type fairsharePolicy struct {
	ComputeReservation *int32            `json:"computeReservation,omitempty"`
	ShareDecaySeconds  *int32            `json:"shareDecaySeconds,omitempty"`
	ShareDistribution  []shareAttributes `json:"shareDistribution,omitempty"`
}

type quotaSharePolicy struct {
	IdleResourceAssignmentStrategy *string `json:"idleResourceAssignmentStrategy,omitempty"`
}

type createSchedulingPolicyRequest struct {
	Name             *string           `json:"name"`
	FairsharePolicy  *fairsharePolicy  `json:"fairsharePolicy,omitempty"`
	QuotaSharePolicy *quotaSharePolicy `json:"quotaSharePolicy,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

type policyRef struct {
	Arn  string `json:"arn"`
	Name string `json:"name"`
}

type updateSchedulingPolicyRequest struct {
	Arn              *string           `json:"arn"`
	FairsharePolicy  *fairsharePolicy  `json:"fairsharePolicy,omitempty"`
	QuotaSharePolicy *quotaSharePolicy `json:"quotaSharePolicy,omitempty"`
}

type describeSchedulingPoliciesRequest struct {
	Arns []string `json:"arns"`
}

type policyShare struct {
	ShareIdentifier string  `json:"shareIdentifier"`
	WeightFactor    float64 `json:"weightFactor"`
}

type policyFairshare struct {
	ComputeReservation int32         `json:"computeReservation"`
	ShareDecaySeconds  int32         `json:"shareDecaySeconds"`
	ShareDistribution  []policyShare `json:"shareDistribution"`
}

type policyQuotaShare struct {
	IdleResourceAssignmentStrategy string `json:"idleResourceAssignmentStrategy"`
}

type schedulingPolicyDetail struct {
	Arn              string            `json:"arn"`
	Name             string            `json:"name"`
	FairsharePolicy  *policyFairshare  `json:"fairsharePolicy,omitempty"`
	QuotaSharePolicy *policyQuotaShare `json:"quotaSharePolicy,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
}

type describeSchedulingPoliciesResponse struct {
	SchedulingPolicies []schedulingPolicyDetail `json:"schedulingPolicies"`
}

type listSchedulingPoliciesRequest struct {
	MaxResults *int32  `json:"maxResults,omitempty"`
	NextToken  *string `json:"nextToken,omitempty"`
}

type policyListing struct {
	Arn string `json:"arn"`
}

type listSchedulingPoliciesResponse struct {
	SchedulingPolicies []policyListing `json:"schedulingPolicies"`
	NextToken          string          `json:"nextToken,omitempty"`
}

type deleteSchedulingPolicyRequest struct {
	Arn *string `json:"arn"`
}

type empty struct{}

// Quota shares.

type quotaShareLimit struct {
	CapacityUnit *string `json:"capacityUnit"`
	MaxCapacity  *int64  `json:"maxCapacity"`
}

type quotaShareSharing struct {
	Strategy    *string `json:"strategy"`
	BorrowLimit *int32  `json:"borrowLimit,omitempty"`
}

type quotaSharePreemption struct {
	InSharePreemption *string `json:"inSharePreemption"`
}

type createQuotaShareRequest struct {
	QuotaShareName               *string               `json:"quotaShareName"`
	JobQueue                     *string               `json:"jobQueue"`
	CapacityLimits               []quotaShareLimit     `json:"capacityLimits"`
	ResourceSharingConfiguration *quotaShareSharing    `json:"resourceSharingConfiguration"`
	PreemptionConfiguration      *quotaSharePreemption `json:"preemptionConfiguration"`
	State                        *string               `json:"state,omitempty"`
	Tags                         map[string]string     `json:"tags,omitempty"`
}

type updateQuotaShareRequest struct {
	QuotaShareArn                *string               `json:"quotaShareArn"`
	CapacityLimits               []quotaShareLimit     `json:"capacityLimits,omitempty"`
	ResourceSharingConfiguration *quotaShareSharing    `json:"resourceSharingConfiguration,omitempty"`
	PreemptionConfiguration      *quotaSharePreemption `json:"preemptionConfiguration,omitempty"`
	State                        *string               `json:"state,omitempty"`
}

type quotaShareArnRequest struct {
	QuotaShareArn *string `json:"quotaShareArn"`
}

type quotaShareRef struct {
	QuotaShareArn  string `json:"quotaShareArn"`
	QuotaShareName string `json:"quotaShareName"`
}

type listQuotaSharesRequest struct {
	JobQueue   *string `json:"jobQueue"`
	MaxResults *int32  `json:"maxResults,omitempty"`
	NextToken  *string `json:"nextToken,omitempty"`
}

type quotaShareLimitOut struct {
	CapacityUnit string `json:"capacityUnit"`
	MaxCapacity  int64  `json:"maxCapacity"`
}

type quotaShareSharingOut struct {
	Strategy    string `json:"strategy"`
	BorrowLimit int32  `json:"borrowLimit"`
}

type quotaSharePreemptionOut struct {
	InSharePreemption string `json:"inSharePreemption"`
}

type quotaShareDetail struct {
	CapacityLimits               []quotaShareLimitOut    `json:"capacityLimits"`
	JobQueueArn                  string                  `json:"jobQueueArn"`
	PreemptionConfiguration      quotaSharePreemptionOut `json:"preemptionConfiguration"`
	QuotaShareArn                string                  `json:"quotaShareArn"`
	QuotaShareName               string                  `json:"quotaShareName"`
	ResourceSharingConfiguration quotaShareSharingOut    `json:"resourceSharingConfiguration"`
	State                        string                  `json:"state"`
	Status                       string                  `json:"status"`
	Tags                         map[string]string       `json:"tags,omitempty"`
}

type listQuotaSharesResponse struct {
	QuotaShares []quotaShareDetail `json:"quotaShares"`
	NextToken   string             `json:"nextToken,omitempty"`
}
