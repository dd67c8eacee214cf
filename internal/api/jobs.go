package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/safetext"
	"github.com/sagequeue/sagequeue/internal/store"
)

func (h *Handler) submitServiceJob(ctx context.Context, r *request) (any, error) {
	var in submitServiceJobRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	name, err := required("jobName", in.JobName)
	if err != nil {
		return nil, err
	}
	if err := model.ValidateName("jobName", name); err != nil {
		return nil, err
	}
	queueRef, err := required("jobQueue", in.JobQueue)
	if err != nil {
		return nil, err
	}
	jobType, err := required("serviceJobType", in.ServiceJobType)
	if err != nil {
		return nil, err
	}
	payload, err := required("serviceRequestPayload", in.ServiceRequestPayload)
	if err != nil {
		return nil, err
	}
	q, err := h.queue(ctx, "jobQueue", queueRef)
	if err != nil {
		return nil, err
	}
	if err := h.allow(ctx, Action{Operation: "SubmitServiceJob", Kind: KindJob, Resource: q.Arn, Queue: q.Name}); err != nil {
		return nil, err
	}
	if !q.Enabled() {
		return nil, model.Invalidf("jobQueue", "job queue %s is DISABLED and does not accept new jobs", q.Name)
	}
	tr, err := model.ParsePayload(payload)
	if err != nil {
		return nil, err
	}
	quotaShare, err := h.checkQuotaShareName(ctx, q, in, tr)
	if err != nil {
		return nil, err
	}

	id := h.cfg.NewID()
	job := &model.ServiceJob{
		JobID:                 id,
		JobArn:                h.cfg.Account.ARN(model.KindServiceJob, id),
		JobName:               name,
		JobQueue:              q.Arn,
		ServiceJobType:        jobType,
		ServiceRequestPayload: payload,
		Status:                model.StatusSubmitted,
		ShareIdentifier:       str(in.ShareIdentifier),
		Tags:                  in.Tags,
		ClientToken:           str(in.ClientToken),
		CreatedAt:             r.nowMs(),
		UpdatedAt:             r.nowMs(),
		Instances:             tr.InstanceCount,
		InstanceType:          tr.InstanceType,
		MaxRuntimeSeconds:     tr.MaxRuntimeSeconds,
	}
	if in.SchedulingPriority != nil {
		job.SchedulingPriority = *in.SchedulingPriority
	}
	if quotaShare != "" {
		job.ShareIdentifier, job.QuotaShareName = quotaShare, quotaShare
	}
	if pc := in.PreemptionConfiguration; pc != nil {
		job.PreemptionConfiguration = &model.ServiceJobPreemption{RetriesBeforeTermination: pc.PreemptionRetriesBeforeTermination}
	}
	if job.RetryStrategy, err = retryFromWire(in.RetryStrategy); err != nil {
		return nil, err
	}
	if in.TimeoutConfig != nil {
		if in.TimeoutConfig.AttemptDurationSeconds == nil {
			return nil, model.Invalid("timeoutConfig.attemptDurationSeconds", "is required when timeoutConfig is given")
		}
		job.TimeoutConfig = &model.TimeoutConfig{AttemptDurationSeconds: *in.TimeoutConfig.AttemptDurationSeconds}
	}
	if err := job.ValidateParsed(q.FairShare()); err != nil { // the payload was parsed above
		return nil, err
	}
	if err := h.checkTrainingPlan(ctx, q, tr); err != nil {
		return nil, err
	}
	if err := h.checkPlanInstanceType(ctx, q, tr); err != nil {
		return nil, err
	}
	if err := h.checkRole(tr); err != nil {
		return nil, err
	}
	if err := h.cfg.LocalEndpoint.check(tr); err != nil {
		return nil, err
	}
	if h.cfg.Identity != nil {
		job.SubmittedBy = h.cfg.Identity(r.http)
	}
	if job.ClientToken != "" {
		// Only a repeated token compares requests.
		job.RequestDigest = digest(in)
	}

	stored, err := h.cfg.Store.PutJob(ctx, job)
	if errors.Is(err, store.ErrAlreadyExists) && stored != nil {
		// A retry of a request that already made a job returns that job.
		if stored.RequestDigest != job.RequestDigest {
			return nil, model.Invalidf("clientToken", "%q was already used by job %s for a different request", job.ClientToken, stored.JobID)
		}
		return jobRef{JobArn: stored.JobArn, JobID: stored.JobID, JobName: stored.JobName}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storing job: %w", err)
	}
	h.changed(ctx, stored, "")
	return jobRef{JobArn: stored.JobArn, JobID: stored.JobID, JobName: stored.JobName}, nil
}

// checkQuotaShareName checks quotaShareName against the queue: required on
// a quota management queue and naming one of its ENABLED shares, refused on
// other queues; and a quota share's job must name one instance type, the
// unit its quota is counted in.
func (h *Handler) checkQuotaShareName(ctx context.Context, q *model.JobQueue, in submitServiceJobRequest, tr model.TrainingRequest) (string, error) {
	name := str(in.QuotaShareName)
	if !q.QuotaShares() {
		if in.QuotaShareName != nil {
			return "", model.Invalidf("quotaShareName", "must not be set: job queue %s has no quota management scheduling policy", q.Name)
		}
		if in.PreemptionConfiguration != nil {
			return "", model.Invalidf("preemptionConfiguration", "applies only to jobs of quota management queues; job queue %s is not one", q.Name)
		}
		return "", nil
	}
	if name == "" {
		return "", model.Invalidf("quotaShareName", "is required: job queue %s is a quota management queue", q.Name)
	}
	if in.ShareIdentifier != nil {
		return "", model.Invalid("shareIdentifier", "must not be set on a quota management queue; use quotaShareName")
	}
	if err := model.ValidateName("quotaShareName", name); err != nil {
		return "", err
	}
	s, err := h.cfg.Store.GetQuotaShare(ctx, q.Name, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", model.Invalidf("quotaShareName", "job queue %s has no quota share %s", q.Name, name)
	}
	if err != nil {
		return "", err
	}
	if !s.Enabled() {
		return "", model.Invalidf("quotaShareName", "quota share %s is DISABLED and does not accept new jobs", name)
	}
	const f = "serviceRequestPayload.ResourceConfig"
	switch {
	case tr.InstanceType == "":
		return "", model.Invalidf(f+".InstanceType", "is required on quota management queue %s: quota shares count capacity per instance type", q.Name)
	case strings.Contains(tr.InstanceType, "+"):
		return "", model.Invalidf(f+".InstanceGroups", "of several instance types are not supported on quota management queue %s: a job's quota is counted in one instance type", q.Name)
	}
	return name, nil
}

// checkTrainingPlan refuses a payload that names a training plan none of its
// queue's environments stands for: it would run outside the capacity the
// queue accounts for.
func (h *Handler) checkTrainingPlan(ctx context.Context, q *model.JobQueue, tr model.TrainingRequest) error {
	if tr.TrainingPlanArn == "" {
		return nil
	}
	envs, err := h.queueEnvironments(ctx, q)
	if err != nil {
		return err
	}
	var plans []string
	for _, e := range envs {
		if e.TrainingPlanArn == tr.TrainingPlanArn {
			return nil
		}
		if e.TrainingPlanArn != "" {
			plans = append(plans, e.TrainingPlanArn)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	return model.Invalidf("serviceRequestPayload.ResourceConfig.TrainingPlanArn",
		"%s is not the training plan of job queue %s's service environments (%s); leave it out and sagequeue sets the environment's plan",
		tr.TrainingPlanArn, q.Name, strings.Join(plans, ", "))
}

// checkRole refuses a payload whose execution role this deployment may not
// pass to SageMaker.
func (h *Handler) checkRole(tr model.TrainingRequest) error {
	if len(h.cfg.ExecutionRoles) == 0 || tr.RoleArn == "" {
		return nil
	}
	for _, r := range h.cfg.ExecutionRoles {
		if r == tr.RoleArn {
			return nil
		}
	}
	return model.Invalidf("serviceRequestPayload.RoleArn", "%s is not one of the execution roles this deployment may pass to SageMaker (%s)",
		tr.RoleArn, strings.Join(h.cfg.ExecutionRoles, ", "))
}

func retryFromWire(in *retryStrategy) (*model.RetryStrategy, error) {
	if in == nil {
		return nil, nil
	}
	if in.Attempts == nil {
		return nil, model.Invalid("retryStrategy.attempts", "is required when retryStrategy is given")
	}
	rs := &model.RetryStrategy{Attempts: *in.Attempts}
	for i, e := range in.EvaluateOnExit {
		if e.Action == nil {
			return nil, model.Invalidf(fmt.Sprintf("retryStrategy.evaluateOnExit[%d].action", i), "is required")
		}
		rs.EvaluateOnExit = append(rs.EvaluateOnExit, model.EvaluateOnExit{
			Action: strings.ToUpper(*e.Action), OnStatusReason: str(e.OnStatusReason),
		})
	}
	return rs, nil
}

func retryToWire(rs *model.RetryStrategy) *retryStrategy {
	if rs == nil {
		return nil
	}
	out := &retryStrategy{Attempts: &rs.Attempts}
	for _, e := range rs.EvaluateOnExit {
		out.EvaluateOnExit = append(out.EvaluateOnExit, evaluateOnExit{Action: ptr(e.Action), OnStatusReason: ptr(e.OnStatusReason)})
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// digest fingerprints a submit request without its client token.
func digest(in submitServiceJobRequest) string {
	in.ClientToken = nil
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (h *Handler) changed(ctx context.Context, job *model.ServiceJob, previous model.JobStatus) {
	if h.cfg.Hooks != nil {
		h.cfg.Hooks.JobChanged(ctx, job, previous)
	}
}

// job reads a job named by a request member.
func (h *Handler) job(ctx context.Context, field string, id *string) (*model.ServiceJob, error) {
	jobID, err := required(field, id)
	if err != nil {
		return nil, err
	}
	j, err := h.cfg.Store.GetJob(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, model.Invalidf(field, "job %s not found", jobID)
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// allowJob asks Access whether the caller may act on a job.
func (h *Handler) allowJob(ctx context.Context, op string, j *model.ServiceJob) error {
	return h.allow(ctx, Action{Operation: op, Kind: KindJob, Resource: j.JobArn, Owner: j.SubmittedBy})
}

func (h *Handler) describeServiceJob(ctx context.Context, r *request) (any, error) {
	var in describeServiceJobRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	j, err := h.job(ctx, "jobId", in.JobID)
	if err != nil {
		return nil, err
	}
	return jobDetail(j), nil
}

func jobDetail(j *model.ServiceJob) serviceJobDetail {
	d := serviceJobDetail{JobDetail: events.NewJobDetail(j), ServiceRequestPayload: j.ServiceRequestPayload, Tags: j.Tags, SubmittedBy: j.SubmittedBy}
	if j.Status == model.StatusRunnable && model.ReasonCode(j.StatusReason) == model.ReasonBackfill {
		d.ReservedAt = j.ReservedAt
	}
	return d
}

// summaryOf is a job in the shape of a ListServiceJobs summary.
func summaryOf(j *model.ServiceJob) serviceJobSummary {
	s := serviceJobSummary{
		CapacityUsage: capacity(j), CreatedAt: j.CreatedAt, JobArn: j.JobArn, JobID: j.JobID, JobName: j.JobName,
		LatestAttempt: events.NewJobDetail(j).LatestAttempt, ScheduledAt: j.ScheduledAt, ServiceJobType: j.ServiceJobType,
		ShareIdentifier: j.ShareIdentifier, StartedAt: j.StartedAt, Status: string(j.Status),
		StatusReason: j.StatusReason, StoppedAt: j.StoppedAt,
	}
	if j.QuotaShareName != "" {
		s.ShareIdentifier, s.QuotaShareName = "", j.QuotaShareName
	}
	return s
}

func capacity(j *model.ServiceJob) []capacityUsage {
	var out []capacityUsage
	for _, c := range j.CapacityUsage() {
		out = append(out, capacityUsage{CapacityUnit: c.CapacityUnit, Quantity: c.Quantity})
	}
	return out
}

// listToken is the opaque nextToken of ListServiceJobs: the store's cursor,
// bound to the query it continues so a token cannot be replayed elsewhere.
type listToken struct {
	Cursor string `json:"c"`
	Query  string `json:"q"`
}

func (h *Handler) listServiceJobs(ctx context.Context, r *request) (any, error) {
	var in listServiceJobsRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	q := store.JobQuery{Limit: limit}
	if ref := str(in.JobQueue); ref != "" {
		queue, err := h.queue(ctx, "jobQueue", ref)
		if err != nil {
			return nil, err
		}
		q.Queue = queue.Arn
	}
	var status model.JobStatus
	if in.JobStatus != nil {
		status = model.JobStatus(*in.JobStatus)
		if !status.Valid() {
			return nil, model.Invalidf("jobStatus", "must be one of SUBMITTED, PENDING, RUNNABLE, SCHEDULED, STARTING, RUNNING, SUCCEEDED, FAILED; got %q", *in.JobStatus)
		}
	}
	if len(in.Filters) > 1 {
		return nil, model.Invalidf("filters", "only one filter can be used at a time, got %d", len(in.Filters))
	}
	useStatus, quotaFilter := true, false
	for _, f := range in.Filters {
		name := str(f.Name)
		if len(f.Values) != 1 {
			return nil, model.Invalidf("filters[0].values", "must have exactly one value, got %d", len(f.Values))
		}
		v := f.Values[0]
		switch name {
		case "JOB_NAME":
			useStatus = false
			q.Name, q.NamePrefix = strings.CutSuffix(v, "*")
			if q.Name == "" && !q.NamePrefix {
				return nil, model.Invalid("filters[0].values", "JOB_NAME needs a name")
			}
		case "BEFORE_CREATED_AT", "AFTER_CREATED_AT":
			useStatus = false
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 {
				return nil, model.Invalidf("filters[0].values", "%s must be a time in epoch milliseconds, got %q", name, v)
			}
			if name == "BEFORE_CREATED_AT" {
				q.CreatedBefore = ms
			} else {
				q.CreatedAfter = ms
			}
		case "SHARE_IDENTIFIER":
			if v == "" {
				return nil, model.Invalid("filters[0].values", "SHARE_IDENTIFIER needs a share identifier")
			}
			q.Share = v
			useStatus = status != ""
		case "QUOTA_SHARE_NAME":
			if v == "" {
				return nil, model.Invalid("filters[0].values", "QUOTA_SHARE_NAME needs a quota share name")
			}
			// Quota share names are the line key of their jobs, as share
			// identifiers are; the summaries below keep them apart.
			q.Share, quotaFilter = v, true
			useStatus = status != ""
		default:
			return nil, model.Invalidf("filters[0].name", "must be JOB_NAME, BEFORE_CREATED_AT, AFTER_CREATED_AT, SHARE_IDENTIFIER or QUOTA_SHARE_NAME; got %q", name)
		}
	}
	if len(in.Filters) == 0 && status == "" {
		status = model.StatusRunning // Batch lists RUNNING jobs when asked for nothing in particular
	}
	if useStatus && status != "" {
		q.Statuses = []model.JobStatus{status}
	}

	shape := queryShape(q)
	if tok := str(in.NextToken); tok != "" {
		var t listToken
		if !decodeToken(tok, &t) || t.Query != shape {
			return nil, model.Invalid("nextToken", "is not a token returned by an earlier call with the same parameters")
		}
		q.Cursor = t.Cursor
	}
	page, err := h.cfg.Store.ListJobs(ctx, q)
	if errors.Is(err, store.ErrBadCursor) {
		return nil, model.Invalid("nextToken", "is not a token returned by an earlier call with the same parameters")
	}
	if err != nil {
		return nil, err
	}
	out := listServiceJobsResponse{JobSummaryList: make([]serviceJobSummary, 0, len(page.Jobs))}
	for _, j := range page.Jobs {
		if q.Share != "" && (j.QuotaShareName != "") != quotaFilter {
			continue // a share identifier filter matched a quota share, or the reverse
		}
		out.JobSummaryList = append(out.JobSummaryList, summaryOf(j))
	}
	if page.Next != "" {
		out.NextToken = encodeToken(listToken{Cursor: page.Next, Query: shape})
	}
	return out, nil
}

// queryShape fingerprints a query without its cursor and page size.
func queryShape(q store.JobQuery) string {
	q.Cursor, q.Limit = "", 0
	b, _ := json.Marshal(q)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

const maxReasonLength = 1024

func (h *Handler) terminateServiceJob(ctx context.Context, r *request) (any, error) {
	var in terminateServiceJobRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if _, err := required("jobId", in.JobID); err != nil {
		return nil, err
	}
	reason, err := required("reason", in.Reason)
	if err != nil {
		return nil, err
	}
	// It becomes the job's statusReason, which terminals show: control
	// and bidirectional formatting characters go.
	if reason = safetext.Clean(reason); strings.TrimSpace(reason) == "" {
		return nil, model.Invalid("reason", "must contain printable text")
	}
	if len(reason) > maxReasonLength {
		return nil, model.Invalidf("reason", "must be at most %d characters", maxReasonLength)
	}
	for range retries {
		j, err := h.job(ctx, "jobId", in.JobID)
		if err != nil {
			return nil, err
		}
		if err := h.allowJob(ctx, "TerminateServiceJob", j); err != nil {
			return nil, err
		}
		prev := j.Status
		switch {
		case prev.Terminal():
			return empty{}, nil // terminating a finished job changes nothing, as in Batch
		case prev.Waiting():
			j.IsTerminated = true
			if err := j.Transition(model.StatusFailed, r.nowMs(), reason); err != nil {
				return nil, err
			}
		default:
			if j.TerminateReason != "" {
				return empty{}, nil // already being stopped
			}
			// In flight: the engine stops the training job and ends the job.
			j.TerminateReason = reason
			j.UpdatedAt = r.nowMs()
		}
		stored, err := h.cfg.Store.UpdateJob(ctx, j, nil)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.changed(ctx, stored, prev)
		return empty{}, nil
	}
	return nil, errBusy
}

func (h *Handler) updateServiceJob(ctx context.Context, r *request) (any, error) {
	var in updateServiceJobRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if _, err := required("jobId", in.JobID); err != nil {
		return nil, err
	}
	if in.SchedulingPriority == nil {
		return nil, model.Invalid("schedulingPriority", "is required")
	}
	if err := model.ValidateSchedulingPriority("schedulingPriority", *in.SchedulingPriority); err != nil {
		return nil, err
	}
	for range retries {
		j, err := h.job(ctx, "jobId", in.JobID)
		if err != nil {
			return nil, err
		}
		if err := h.allowJob(ctx, "UpdateServiceJob", j); err != nil {
			return nil, err
		}
		if j.Status.Terminal() {
			return nil, model.Invalidf("jobId", "job %s is %s; only jobs that have not finished can be updated", j.JobID, j.Status)
		}
		ref := jobRef{JobArn: j.JobArn, JobID: j.JobID, JobName: j.JobName}
		if j.SchedulingPriority == *in.SchedulingPriority {
			return ref, nil
		}
		j.SchedulingPriority = *in.SchedulingPriority
		j.UpdatedAt = r.nowMs()
		stored, err := h.cfg.Store.UpdateJob(ctx, j, nil)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h.changed(ctx, stored, stored.Status)
		return ref, nil
	}
	return nil, errBusy
}
