package api

import (
	"context"
	"errors"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// searchServiceJobs is a sagequeue extension operation (POST
// /v1/searchservicejobs): ListServiceJobs with its filters combined. Batch
// takes one filter at a time and a status only with some; the dashboard
// filters by queue, status, share and name prefix at once.
type searchServiceJobsRequest struct {
	JobQueue        *string `json:"jobQueue,omitempty"`
	JobStatus       *string `json:"jobStatus,omitempty"`
	ShareIdentifier *string `json:"shareIdentifier,omitempty"`
	JobNamePrefix   *string `json:"jobNamePrefix,omitempty"`
	MaxResults      *int32  `json:"maxResults,omitempty"`
	NextToken       *string `json:"nextToken,omitempty"`
}

// searchJobSummary is a ListServiceJobs summary with the members a list
// across queues needs.
type searchJobSummary struct {
	serviceJobSummary
	JobQueue           string `json:"jobQueue"`
	SchedulingPriority int32  `json:"schedulingPriority"`
	IsTerminated       bool   `json:"isTerminated,omitempty"`
}

type searchServiceJobsResponse struct {
	JobSummaryList []searchJobSummary `json:"jobSummaryList"`
	NextToken      string             `json:"nextToken,omitempty"`
}

// searchReads bounds the store pages one search reads to fill its page: a
// selective filter may leave store pages short.
const searchReads = 5

func (h *Handler) searchServiceJobs(ctx context.Context, r *request) (any, error) {
	var in searchServiceJobsRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	q := store.JobQuery{}
	if ref := str(in.JobQueue); ref != "" {
		queue, err := h.queue(ctx, "jobQueue", ref)
		if err != nil {
			return nil, err
		}
		q.Queue = queue.Arn
	}
	if s := str(in.JobStatus); s != "" {
		status := model.JobStatus(s)
		if !status.Valid() {
			return nil, model.Invalidf("jobStatus", "must be one of SUBMITTED, PENDING, RUNNABLE, SCHEDULED, STARTING, RUNNING, SUCCEEDED, FAILED; got %q", s)
		}
		q.Statuses = []model.JobStatus{status}
	}
	if s := str(in.ShareIdentifier); s != "" {
		if len(s) > model.MaxShareIdentifierLength {
			return nil, model.Invalidf("shareIdentifier", "must be at most %d characters", model.MaxShareIdentifierLength)
		}
		q.Share = s
	}
	if p := str(in.JobNamePrefix); p != "" {
		if len(p) > 128 {
			return nil, model.Invalid("jobNamePrefix", "must be at most 128 characters")
		}
		q.Name, q.NamePrefix = p, true
	}
	shape := "search:" + queryShape(q)
	if tok := str(in.NextToken); tok != "" {
		var t listToken
		if !decodeToken(tok, &t) || t.Query != shape || t.Cursor == "" {
			return nil, model.Invalid("nextToken", "is not a token returned by an earlier call with the same parameters")
		}
		q.Cursor = t.Cursor
	}
	out := searchServiceJobsResponse{JobSummaryList: make([]searchJobSummary, 0, limit)}
	for range searchReads {
		q.Limit = limit - len(out.JobSummaryList)
		page, err := h.cfg.Store.ListJobs(ctx, q)
		if errors.Is(err, store.ErrBadCursor) {
			return nil, model.Invalid("nextToken", "is not a token returned by an earlier call with the same parameters")
		}
		if err != nil {
			return nil, err
		}
		for _, j := range page.Jobs {
			out.JobSummaryList = append(out.JobSummaryList, searchJobSummary{
				serviceJobSummary: summaryOf(j), JobQueue: j.JobQueue, SchedulingPriority: j.SchedulingPriority, IsTerminated: j.IsTerminated,
			})
		}
		out.NextToken = ""
		if page.Next == "" {
			break
		}
		out.NextToken = encodeToken(listToken{Cursor: page.Next, Query: shape})
		if len(out.JobSummaryList) >= limit {
			break
		}
		q.Cursor = page.Next
	}
	return out, nil
}
