package api

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Defaults and limits of getutilization.
const (
	defaultUtilizationWindow = 60 * 60 * 1000          // ms: the last hour
	maxUtilizationWindow     = 7 * 24 * 60 * 60 * 1000 // ms
	utilizationPoints        = 120                     // the default period makes this many
	maxUtilizationPoints     = 1440
	// utilizationLookback is how long before the window a finished job may
	// have been submitted and still be read: jobs are listed by submission
	// time, and one that waited or ran longer than this before the window
	// is not seen.
	utilizationLookback = 24 * 60 * 60 * 1000 // ms
	// maxUtilizationJobs bounds the finished jobs one call reads.
	maxUtilizationJobs = 5000
	// maxMillis is the last millisecond of the year 9999.
	maxMillis = 253402300799999
)

type getUtilizationRequest struct {
	StartTime     *int64 `json:"startTime,omitempty"`
	EndTime       *int64 `json:"endTime,omitempty"`
	PeriodSeconds *int32 `json:"periodSeconds,omitempty"`
}

type getUtilizationResponse struct {
	StartTime     int64 `json:"startTime"`
	EndTime       int64 `json:"endTime"`
	PeriodSeconds int32 `json:"periodSeconds"`
	// Timestamps are the starts of the periods.
	Timestamps          []int64                  `json:"timestamps"`
	ServiceEnvironments []environmentUtilization `json:"serviceEnvironments"`
	// JobsRead is how many jobs the answer is derived from; Truncated says
	// that finished jobs were left out (more than the read limit finished
	// around the window), so the past may be under-counted.
	JobsRead  int  `json:"jobsRead"`
	Truncated bool `json:"truncated"`
}

type environmentUtilization struct {
	ServiceEnvironmentName string `json:"serviceEnvironmentName"`
	ServiceEnvironmentArn  string `json:"serviceEnvironmentArn"`
	// MaxCapacity is the environment's capacity now.
	MaxCapacity int64 `json:"maxCapacity"`
	// Average is the time-weighted mean of the instances in use in each
	// period, Peak their maximum.
	Average []float64 `json:"average"`
	Peak    []int64   `json:"peak"`
}

func (h *Handler) getUtilization(ctx context.Context, r *request) (any, error) {
	var in getUtilizationRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	now := r.nowMs()
	end := now
	if in.EndTime != nil {
		if *in.EndTime <= 0 || *in.EndTime > maxMillis {
			return nil, model.Invalidf("endTime", "must be a time in epoch milliseconds, got %d", *in.EndTime)
		}
		end = *in.EndTime
	}
	start := end - defaultUtilizationWindow
	if in.StartTime != nil {
		if *in.StartTime < 0 || *in.StartTime >= end {
			return nil, model.Invalidf("startTime", "must be a time in epoch milliseconds before endTime (%d), got %d", end, *in.StartTime)
		}
		start = *in.StartTime
	}
	span := end - start
	if span > maxUtilizationWindow {
		return nil, model.Invalidf("startTime", "the window from startTime to endTime must be at most %d days", maxUtilizationWindow/86_400_000)
	}
	period := int64(math.Ceil(float64(span) / utilizationPoints / 1000))
	if in.PeriodSeconds != nil {
		if *in.PeriodSeconds < 1 {
			return nil, model.Invalidf("periodSeconds", "must be at least 1, got %d", *in.PeriodSeconds)
		}
		period = int64(*in.PeriodSeconds)
	}
	period = max(period, 1)
	points := (span + period*1000 - 1) / (period * 1000)
	if points > maxUtilizationPoints {
		return nil, model.Invalidf("periodSeconds", "makes %d periods from startTime to endTime; at most %d are allowed", points, maxUtilizationPoints)
	}

	envs, err := h.cfg.Store.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	active, err := store.ListAll(ctx, h.cfg.Store, store.JobQuery{Statuses: activeStatuses})
	if err != nil {
		return nil, err
	}
	// Finished jobs that may have held capacity in the window, newest first.
	jobs := active
	q := store.JobQuery{
		Statuses:     []model.JobStatus{model.StatusSucceeded, model.StatusFailed},
		CreatedAfter: max(start-utilizationLookback, 0), CreatedBefore: end + 1, Limit: 1000,
	}
	truncated := false
	for read := 0; ; {
		page, err := h.cfg.Store.ListJobs(ctx, q)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, page.Jobs...)
		read += len(page.Jobs)
		if page.Next == "" {
			break
		}
		if read >= maxUtilizationJobs {
			truncated = true
			break
		}
		q.Cursor = page.Next
	}

	spans := map[string][]holdSpan{}
	for _, j := range jobs {
		for _, s := range heldSpans(j, now) {
			if s.end > start && s.start < end {
				s.start, s.end = max(s.start, start), min(s.end, end)
				spans[s.env] = append(spans[s.env], s)
			}
		}
	}
	out := getUtilizationResponse{
		StartTime: start, EndTime: end, PeriodSeconds: int32(period), Timestamps: make([]int64, points),
		ServiceEnvironments: []environmentUtilization{}, JobsRead: len(jobs), Truncated: truncated,
	}
	for i := range out.Timestamps {
		out.Timestamps[i] = start + int64(i)*period*1000
	}
	for _, e := range envs {
		avg, peak := sweep(spans[e.Arn], out.Timestamps, end)
		out.ServiceEnvironments = append(out.ServiceEnvironments, environmentUtilization{
			ServiceEnvironmentName: e.Name, ServiceEnvironmentArn: e.Arn, MaxCapacity: e.MaxInstances(), Average: avg, Peak: peak,
		})
	}
	return out, nil
}

// holdSpan is a time a job held instances of an environment: [start, end).
type holdSpan struct {
	env        string
	start, end int64
	n          int64
}

// heldSpans derives when a job held capacity from its record: the latest
// attempt from the job's scheduledAt (when the capacity was taken) to its
// stop (or now, while it holds capacity); earlier attempts from their start
// to their stop (the time they spent being scheduled is not recorded).
func heldSpans(j *model.ServiceJob, now int64) []holdSpan {
	var out []holdSpan
	for i, a := range j.Attempts {
		if a.ServiceEnvironment == "" {
			continue
		}
		last := i == len(j.Attempts)-1
		var end int64
		switch {
		case a.StoppedAt > 0:
			end = a.StoppedAt
		case last && j.Status.HoldsCapacity():
			end = now
		case last && j.StoppedAt > 0:
			end = j.StoppedAt
		default:
			continue
		}
		start := a.StartedAt
		if last && j.ScheduledAt > 0 && j.ScheduledAt < end {
			start = j.ScheduledAt
		}
		if start > 0 && end > start {
			out = append(out, holdSpan{env: a.ServiceEnvironment, start: start, end: end, n: max(j.Instances, 1)})
		}
	}
	return out
}

// sweep turns spans (within [periods[0], end)) into the mean and the peak
// of the instances held in each period.
func sweep(spans []holdSpan, periods []int64, end int64) ([]float64, []int64) {
	type change struct{ t, d int64 }
	changes := make([]change, 0, 2*len(spans))
	for _, s := range spans {
		changes = append(changes, change{s.start, s.n}, change{s.end, -s.n})
	}
	// At the same instant, releases come first: [start, end) spans that
	// touch do not overlap.
	slices.SortFunc(changes, func(a, b change) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.d, b.d)
	})
	avg := make([]float64, len(periods))
	peak := make([]int64, len(periods))
	level, k := int64(0), 0
	for i, from := range periods {
		to := end
		if i+1 < len(periods) {
			to = periods[i+1]
		}
		for k < len(changes) && changes[k].t <= from {
			level += changes[k].d
			k++
		}
		top, area, t := level, int64(0), from
		for k < len(changes) && changes[k].t < to {
			area += level * (changes[k].t - t)
			t = changes[k].t
			for k < len(changes) && changes[k].t == t {
				level += changes[k].d
				k++
			}
			top = max(top, level)
		}
		area += level * (to - t)
		if to > from {
			avg[i] = math.Round(float64(area)/float64(to-from)*1000) / 1000
		}
		peak[i] = top
	}
	return avg, peak
}
