package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/sagequeue/sagequeue/internal/joblogs"
	"github.com/sagequeue/sagequeue/internal/model"
)

// LogReader reads the log lines of a training job: the local endpoint's log
// files, or CloudWatch Logs in the cloud.
type LogReader interface {
	Read(ctx context.Context, trainingJobName string, q joblogs.Query) (joblogs.Page, error)
}

// getServiceJobLogs is a sagequeue extension operation (POST
// /v1/getservicejoblogs): the log lines of an attempt of a job.
type getServiceJobLogsRequest struct {
	JobID         *string `json:"jobId"`
	Attempt       *int32  `json:"attempt,omitempty"`
	StartFromHead *bool   `json:"startFromHead,omitempty"`
	NextToken     *string `json:"nextToken,omitempty"`
	Limit         *int32  `json:"limit,omitempty"`
}

type logEvent struct {
	Timestamp int64  `json:"timestamp,omitempty"`
	Message   string `json:"message"`
}

type getServiceJobLogsResponse struct {
	JobID           string     `json:"jobId"`
	Attempt         int32      `json:"attempt"`
	TrainingJobName string     `json:"trainingJobName,omitempty"`
	Status          string     `json:"status"`
	Events          []logEvent `json:"events"`
	NextToken       string     `json:"nextToken,omitempty"`
	// Done means the attempt has finished and every line has been read:
	// a follower can stop.
	Done bool `json:"done"`
}

const maxLogLimit = 10000

// maxLogPageBytes bounds a page of log lines, as it travels: behind API
// Gateway the response is the body of a Lambda function's answer, a JSON
// string in a JSON document, which Lambda refuses past 6 MB (its
// invocation payload quota for a synchronous response). 5,000,000 bytes of
// events, counted with the escaping of both encodings, leave room for the
// rest of the answer. A page that would be larger ends early, with a
// nextToken for the lines after it.
const maxLogPageBytes = 5_000_000

func (h *Handler) getServiceJobLogs(ctx context.Context, r *request) (any, error) {
	var in getServiceJobLogsRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	j, err := h.job(ctx, "jobId", in.JobID)
	if err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxLogLimit {
			return nil, model.Invalidf("limit", "must be between 1 and %d, got %d", maxLogLimit, *in.Limit)
		}
		limit = int(*in.Limit)
	}
	out := getServiceJobLogsResponse{JobID: j.JobID, Status: string(j.Status), Events: []logEvent{}}
	n := int32(len(j.Attempts))
	if in.Attempt != nil {
		if *in.Attempt < 1 || *in.Attempt > n {
			return nil, model.Invalidf("attempt", "must be between 1 and %d (the job's attempts so far), got %d", n, *in.Attempt)
		}
		n = *in.Attempt
	}
	out.Attempt = n
	if n == 0 {
		// Not launched yet: nothing to read, but a follower should wait.
		out.Done = j.Status.Terminal()
		return out, nil
	}
	a := j.Attempts[n-1]
	out.TrainingJobName = a.TrainingJobName
	finished := a.StoppedAt > 0 || j.Status.Terminal() || int(n) < len(j.Attempts)
	if h.cfg.Logs == nil {
		out.Done = finished
		return out, nil
	}
	q := joblogs.Query{StartFromHead: in.StartFromHead != nil && *in.StartFromHead, Token: str(in.NextToken), Limit: limit}
	page, err := h.cfg.Logs.Read(ctx, a.TrainingJobName, q)
	if n := fitLogPage(page.Lines); err == nil && n < len(page.Lines) {
		// Too large: read the page again with as many lines as fit, so that
		// its token continues after the last of them.
		q.Limit = n
		page, err = h.cfg.Logs.Read(ctx, a.TrainingJobName, q)
		if len(page.Lines) > n {
			page.Lines = page.Lines[:n]
		}
	}
	switch {
	case errors.Is(err, joblogs.ErrBadToken):
		return nil, model.Invalid("nextToken", "is not a token returned by an earlier call for this attempt")
	case errors.Is(err, joblogs.ErrNoLogs):
		out.Done = finished
		out.NextToken = str(in.NextToken)
		return out, nil
	case err != nil:
		return nil, err
	}
	for _, l := range page.Lines {
		out.Events = append(out.Events, logEvent{Timestamp: l.Timestamp, Message: l.Message})
	}
	out.NextToken = page.Next
	out.Done = finished && page.EOF
	return out, nil
}

// fitLogPage returns how many of lines (at least one) fit in a page of
// maxLogPageBytes.
func fitLogPage(lines []joblogs.Line) int {
	total := 0
	for i, l := range lines {
		b, _ := json.Marshal(logEvent{Timestamp: l.Timestamp, Message: l.Message})
		// Escaped again as a JSON string: quotes and backslashes double.
		size := len(b) + 1 + bytes.Count(b, []byte{'"'}) + bytes.Count(b, []byte{'\\'})
		if total += size; total > maxLogPageBytes {
			return max(i, 1)
		}
	}
	return len(lines)
}
