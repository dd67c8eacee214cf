package api

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// The extension operations the web dashboard (package dashboard) reads,
// where the Batch API has nothing suitable. Each stays cheap at any backlog:
// it reads the lines of RUNNABLE jobs (counts, not jobs), the small lists of
// jobs holding capacity, and bounded pages of everything else. They are
// documented in docs/api.md.

// Defaults and limits of getdashboard.
const (
	defaultRecentSeconds = 24 * 60 * 60
	maxRecentSeconds     = 7 * 24 * 60 * 60
	defaultCountLimit    = 1000
	maxCountLimit        = 1000
	// maxDashboardShares bounds the shares listed per fair-share queue.
	maxDashboardShares = 100
	// countPages bounds the store pages one capped count reads.
	countPages = 20
)

type getDashboardRequest struct {
	// RecentSeconds is the window of the SUCCEEDED and FAILED counts: jobs
	// submitted at most this long ago.
	RecentSeconds *int32 `json:"recentSeconds,omitempty"`
	// CountLimit caps the SUBMITTED, SUCCEEDED and FAILED counts.
	CountLimit *int32 `json:"countLimit,omitempty"`
}

type getDashboardResponse struct {
	GeneratedAt         int64                  `json:"generatedAt"`
	RecentSeconds       int32                  `json:"recentSeconds"`
	CountLimit          int32                  `json:"countLimit"`
	JobQueues           []dashboardQueue       `json:"jobQueues"`
	ServiceEnvironments []dashboardEnvironment `json:"serviceEnvironments"`
}

type dashboardQueue struct {
	JobQueueName        string `json:"jobQueueName"`
	JobQueueArn         string `json:"jobQueueArn"`
	State               string `json:"state"`
	Priority            int32  `json:"priority"`
	SchedulingPolicyArn string `json:"schedulingPolicyArn,omitempty"`
	// ServiceEnvironments are the names of the queue's environments in the
	// order they are tried.
	ServiceEnvironments []string `json:"serviceEnvironments"`
	// JobCounts has every state but PENDING (which service jobs never
	// take). RUNNABLE, SCHEDULED, STARTING and RUNNING are exact; SUBMITTED
	// is exact below countLimit; SUCCEEDED and FAILED count the jobs
	// submitted in the last recentSeconds, up to countLimit.
	JobCounts map[string]int64 `json:"jobCounts"`
	// CappedCounts lists the states whose count reached countLimit: there
	// are at least that many.
	CappedCounts   []string            `json:"cappedCounts"`
	InstancesInUse int64               `json:"instancesInUse"`
	Fairshare      *dashboardFairshare `json:"fairshare,omitempty"`
	QuotaShares    *dashboardQuota     `json:"quotaShares,omitempty"`
}

type dashboardFairshare struct {
	ShareDecaySeconds  int32 `json:"shareDecaySeconds"`
	ComputeReservation int32 `json:"computeReservation"`
	// ShareCount is the number of shares known (holding capacity, waiting,
	// named by the policy or with past usage); Shares lists at most 100 of
	// them, the most active, sorted by identifier.
	ShareCount int              `json:"shareCount"`
	Shares     []dashboardShare `json:"shares"`
}

type dashboardShare struct {
	ShareIdentifier string  `json:"shareIdentifier"`
	WeightFactor    float64 `json:"weightFactor"`
	InstancesInUse  int64   `json:"instancesInUse"`
	// DecayedUsage is the share's exponentially decayed usage, in
	// instances, now: of its ended jobs and, so far, of its running ones.
	DecayedUsage float64 `json:"decayedUsage"`
	Runnable     int64   `json:"runnable"`
	// Score is (instancesInUse + decayedUsage) * weightFactor: among shares
	// with waiting jobs, the lowest is served next.
	Score float64 `json:"score"`
}

type dashboardEnvironment struct {
	ServiceEnvironmentName string `json:"serviceEnvironmentName"`
	ServiceEnvironmentArn  string `json:"serviceEnvironmentArn"`
	State                  string `json:"state"`
	MaxCapacity            int64  `json:"maxCapacity"`
	InstancesInUse         int64  `json:"instancesInUse"`
	// Jobs is the number of jobs holding capacity in the environment.
	Jobs            int    `json:"jobs"`
	TrainingPlanArn string `json:"trainingPlanArn,omitempty"`
}

// dashboardStates are the states the dashboard counts, in lifecycle order.
var dashboardStates = []model.JobStatus{
	model.StatusSubmitted, model.StatusRunnable, model.StatusScheduled, model.StatusStarting,
	model.StatusRunning, model.StatusSucceeded, model.StatusFailed,
}

var activeStatuses = []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}

// boundedInt32 reads an optional integer member within [lo, hi].
func boundedInt32(field string, v *int32, def, lo, hi int32) (int32, error) {
	if v == nil {
		return def, nil
	}
	if *v < lo || *v > hi {
		return 0, model.Invalidf(field, "must be between %d and %d, got %d", lo, hi, *v)
	}
	return *v, nil
}

func (h *Handler) getDashboard(ctx context.Context, r *request) (any, error) {
	var in getDashboardRequest
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	recent, err := boundedInt32("recentSeconds", in.RecentSeconds, defaultRecentSeconds, 1, maxRecentSeconds)
	if err != nil {
		return nil, err
	}
	limit, err := boundedInt32("countLimit", in.CountLimit, defaultCountLimit, 1, maxCountLimit)
	if err != nil {
		return nil, err
	}
	now := r.nowMs()
	out := getDashboardResponse{
		GeneratedAt: now, RecentSeconds: recent, CountLimit: limit,
		JobQueues: []dashboardQueue{}, ServiceEnvironments: []dashboardEnvironment{},
	}
	envs, err := h.cfg.Store.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	queues, err := h.cfg.Store.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	// The jobs holding capacity: few (no more than the environments'
	// capacity), and read consistently.
	active, err := store.ListAll(ctx, h.cfg.Store, store.JobQuery{Statuses: activeStatuses})
	if err != nil {
		return nil, err
	}
	byQueue := map[string][]*model.ServiceJob{}
	inUse := map[string]int64{}
	jobsIn := map[string]int{}
	for _, j := range active {
		byQueue[j.JobQueue] = append(byQueue[j.JobQueue], j)
		inUse[j.ServiceEnvironment] += j.Instances
		jobsIn[j.ServiceEnvironment]++
	}
	envName := map[string]string{}
	for _, e := range envs {
		envName[e.Arn] = e.Name
		out.ServiceEnvironments = append(out.ServiceEnvironments, dashboardEnvironment{
			ServiceEnvironmentName: e.Name, ServiceEnvironmentArn: e.Arn, State: e.State,
			MaxCapacity: e.MaxInstances(), InstancesInUse: inUse[e.Arn], Jobs: jobsIn[e.Arn], TrainingPlanArn: e.TrainingPlanArn,
		})
	}
	for _, q := range queues {
		dq, err := h.dashboardQueue(ctx, q, byQueue[q.Arn], envName, now, int64(recent)*1000, int(limit))
		if err != nil {
			return nil, err
		}
		out.JobQueues = append(out.JobQueues, dq)
	}
	return out, nil
}

func (h *Handler) dashboardQueue(ctx context.Context, q *model.JobQueue, active []*model.ServiceJob, envName map[string]string,
	now, recentMs int64, limit int,
) (dashboardQueue, error) {
	dq := dashboardQueue{
		JobQueueName: q.Name, JobQueueArn: q.Arn, State: q.State, Priority: q.Priority, SchedulingPolicyArn: q.SchedulingPolicyArn,
		ServiceEnvironments: []string{}, JobCounts: map[string]int64{}, CappedCounts: []string{},
	}
	for _, arn := range q.Environments() {
		name := envName[arn]
		if name == "" {
			_, name, _ = model.ParseARN(arn)
		}
		dq.ServiceEnvironments = append(dq.ServiceEnvironments, name)
	}
	for _, st := range dashboardStates {
		dq.JobCounts[string(st)] = 0
	}
	for _, j := range active {
		dq.JobCounts[string(j.Status)]++
		dq.InstancesInUse += j.Instances
	}
	lines, err := h.cfg.Store.Lines(ctx, q.Arn)
	if err != nil {
		return dq, err
	}
	for _, l := range lines {
		dq.JobCounts[string(model.StatusRunnable)] += l.Runnable
	}
	for _, c := range []struct {
		status model.JobStatus
		after  int64
	}{
		{model.StatusSubmitted, 0},
		{model.StatusSucceeded, now - recentMs},
		{model.StatusFailed, now - recentMs},
	} {
		n, capped, err := countJobs(ctx, h.cfg.Store, store.JobQuery{Queue: q.Arn, Statuses: []model.JobStatus{c.status}, CreatedAfter: max(c.after, 0)}, limit)
		if err != nil {
			return dq, err
		}
		dq.JobCounts[string(c.status)] = n
		if capped {
			dq.CappedCounts = append(dq.CappedCounts, string(c.status))
		}
	}
	if q.FairShare() {
		fs, err := h.dashboardFairshare(ctx, q, active, lines, now)
		if err != nil {
			return dq, err
		}
		dq.Fairshare = fs
	}
	if q.QuotaShares() {
		if dq.QuotaShares, err = h.dashboardQuota(ctx, q, active, lines); err != nil {
			return dq, err
		}
	}
	return dq, nil
}

// countJobs counts the jobs matching q, reading at most limit of them: capped
// reports that there may be more.
func countJobs(ctx context.Context, s store.JobStore, q store.JobQuery, limit int) (n int64, capped bool, err error) {
	for range countPages {
		q.Limit = limit - int(n)
		page, err := s.ListJobs(ctx, q)
		if err != nil {
			return 0, false, err
		}
		n += int64(len(page.Jobs))
		if page.Next == "" {
			return n, false, nil
		}
		if int(n) >= limit {
			return n, true, nil
		}
		q.Cursor = page.Next
	}
	return n, true, nil
}

func (h *Handler) dashboardFairshare(ctx context.Context, q *model.JobQueue, active []*model.ServiceJob, lines []store.Line, now int64) (*dashboardFairshare, error) {
	var policy *model.FairsharePolicy
	p, err := h.cfg.Store.GetPolicy(ctx, policyName(q.SchedulingPolicyArn))
	switch {
	case err == nil:
		policy = p.FairsharePolicy
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	fs := &dashboardFairshare{Shares: []dashboardShare{}}
	if policy != nil {
		fs.ShareDecaySeconds, fs.ComputeReservation = policy.ShareDecaySeconds, policy.ComputeReservation
	}
	shares := map[string]*dashboardShare{}
	share := func(id string) *dashboardShare {
		s := shares[id]
		if s == nil {
			s = &dashboardShare{ShareIdentifier: id, WeightFactor: policy.Weight(id)}
			shares[id] = s
		}
		return s
	}
	if policy != nil {
		for _, a := range policy.ShareDistribution {
			if !strings.HasSuffix(a.ShareIdentifier, "*") {
				share(a.ShareIdentifier)
			}
		}
	}
	tau := policy.DecaySeconds()
	for _, j := range active {
		s := share(j.ShareIdentifier)
		s.InstancesInUse += j.Instances
		// As the scheduler counts it: running jobs weigh in the usage too.
		s.DecayedUsage += model.Running(j.Instances, j.ScheduledAt, now, tau)
	}
	for _, l := range lines {
		share(l.Share).Runnable += l.Runnable
	}
	usage, err := h.cfg.Store.ListUsage(ctx, q.Arn)
	if err != nil {
		return nil, err
	}
	for _, u := range usage {
		v := u.At(now, tau)
		if s := shares[u.Share]; s != nil {
			s.DecayedUsage += v
		} else if v >= 0.005 {
			share(u.Share).DecayedUsage = v
		}
	}
	all := make([]dashboardShare, 0, len(shares))
	for _, s := range shares {
		s.DecayedUsage = math.Round(s.DecayedUsage*1000) / 1000
		s.Score = math.Round((float64(s.InstancesInUse)+s.DecayedUsage)*s.WeightFactor*1000) / 1000
		all = append(all, *s)
	}
	fs.ShareCount = len(all)
	if len(all) > maxDashboardShares {
		// Keep the most active.
		slices.SortFunc(all, func(a, b dashboardShare) int {
			if c := cmp.Compare(b.InstancesInUse, a.InstancesInUse); c != 0 {
				return c
			}
			if c := cmp.Compare(b.Runnable, a.Runnable); c != 0 {
				return c
			}
			if c := cmp.Compare(b.DecayedUsage, a.DecayedUsage); c != 0 {
				return c
			}
			return cmp.Compare(a.ShareIdentifier, b.ShareIdentifier)
		})
		all = all[:maxDashboardShares]
	}
	slices.SortFunc(all, func(a, b dashboardShare) int { return cmp.Compare(a.ShareIdentifier, b.ShareIdentifier) })
	fs.Shares = all
	return fs, nil
}
