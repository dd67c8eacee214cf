// Package sim runs sched.Plan against a virtual clock: jobs arrive, passes
// place them, placed jobs finish after their duration, and the report tells
// how well the capacity was used, how it was split between shares over time,
// and how long jobs waited. Tests use it to check properties that only show
// over many passes (weighted shares converging, reservations, decay); the
// same runs serve benchmarks and what-if questions ("what if research had
// weight 0.5?").
//
// A run is deterministic: the same Config and jobs give the same Report.
package sim

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
)

// Job is one job of a workload. Times are epoch milliseconds.
type Job struct {
	ID        string
	Queue     string // queue ARN
	Share     string
	Priority  int32
	Instances int64
	Arrival   int64
	Duration  time.Duration
}

// Config is the world a run happens in.
type Config struct {
	Environments []model.ServiceEnvironment
	Queues       []model.JobQueue
	Policies     []model.SchedulingPolicy
	// Start is the virtual time the run begins at (epoch ms).
	Start int64
	// Tick adds a pass every Tick even when nothing arrives or finishes, as
	// the one-minute tick does in production; 0 for none.
	Tick time.Duration
	// Until ends the run; 0 runs until every job has finished or ended.
	Until int64
}

// Admission is one placement the run made.
type Admission struct {
	JobID       string
	Share       sched.ShareKey
	Environment string
	At          int64
	Wait        time.Duration
}

// Report is what a run measured.
type Report struct {
	Start, End int64
	Passes     int
	Admissions []Admission
	// Terminated maps jobs ended by time limit actions to their reason.
	Terminated map[string]string
	// Reasons maps jobs to the last statusReason a pass gave them.
	Reasons map[string]string
	// Unfinished counts jobs still waiting or running at the end.
	Unfinished int
	// MaxInUse is the highest in-use count each environment ever reached.
	MaxInUse map[string]int64

	envMax map[string]int64
	steps  []step // allocation after each pass, a step function of time
	busy   map[string]float64
}

type step struct {
	at     int64
	inUse  map[string]int64
	shares map[sched.ShareKey]int64
}

type running struct {
	job   Job
	share sched.ShareKey
	env   string
	start int64
	end   int64
}

type waiting struct {
	job          Job
	reason       string
	blockedSince int64
}

// Run plays jobs through the scheduler and reports.
func Run(cfg Config, jobs []Job) *Report {
	r := &Report{
		Start: cfg.Start, Terminated: map[string]string{}, Reasons: map[string]string{},
		MaxInUse: map[string]int64{}, envMax: map[string]int64{}, busy: map[string]float64{},
	}
	var capacity int64
	for i := range cfg.Environments {
		r.envMax[cfg.Environments[i].Arn] = cfg.Environments[i].MaxInstances()
		capacity += cfg.Environments[i].MaxInstances()
	}
	fair := map[string]*model.FairsharePolicy{}
	isFair := map[string]bool{}
	policies := map[string]*model.SchedulingPolicy{}
	for i := range cfg.Policies {
		policies[cfg.Policies[i].Arn] = &cfg.Policies[i]
	}
	for _, q := range cfg.Queues {
		if q.FairShare() {
			isFair[q.Arn] = true
			if p := policies[q.SchedulingPolicyArn]; p != nil {
				fair[q.Arn] = p.FairsharePolicy
			} else {
				fair[q.Arn] = nil
			}
		}
	}

	arrivals := append([]Job(nil), jobs...)
	sort.SliceStable(arrivals, func(a, b int) bool { return arrivals[a].Arrival < arrivals[b].Arrival })
	var (
		queue      = newBacklog(isFair)
		active     []*running
		usage      = map[sched.ShareKey]model.ShareUsage{}
		now        = cfg.Start
		next       = 0
		tick       = cfg.Tick.Milliseconds()
		lastChange = cfg.Start
	)
	// A pass reads this many jobs of each line, and more when Plan asks.
	heads := int(min(capacity, 1000)) + 1

	for {
		// The next event: an arrival, a completion or a tick.
		t := int64(math.MaxInt64)
		if next < len(arrivals) {
			t = arrivals[next].Arrival
		}
		for _, a := range active {
			t = min(t, a.end)
		}
		if tick > 0 && queue.len() > 0 && (cfg.Until > 0 || now-lastChange <= idleHorizon) {
			t = min(t, now+tick)
		}
		if t == math.MaxInt64 || cfg.Until > 0 && t > cfg.Until {
			break
		}
		r.accumulate(now, t)
		now = t

		// Completions first: they free capacity for this pass.
		happened := false
		kept := active[:0]
		for _, a := range active {
			if a.end <= now {
				happened = true
				tau := fair[a.share.Queue].DecaySeconds()
				u := usage[a.share]
				u.Queue, u.Share = a.share.Queue, a.share.Share
				usage[a.share] = u.Add(a.job.Instances, a.start, a.end, tau)
				continue
			}
			kept = append(kept, a)
		}
		active = kept
		for next < len(arrivals) && arrivals[next].Arrival <= now {
			j := arrivals[next]
			queue.add(&waiting{job: j})
			next++
			happened = true
		}

		snap := &sched.Snapshot{Environments: cfg.Environments, Queues: cfg.Queues, Policies: cfg.Policies}
		for _, a := range active {
			snap.Active = append(snap.Active, sched.Allocation{
				JobID: a.job.ID, Queue: a.job.Queue, Share: a.share.Share, Environment: a.env, Instances: a.job.Instances,
			})
		}
		for _, u := range usage {
			snap.Usage = append(snap.Usage, u)
		}
		sort.Slice(snap.Usage, func(a, b int) bool {
			if snap.Usage[a].Queue != snap.Usage[b].Queue {
				return snap.Usage[a].Queue < snap.Usage[b].Queue
			}
			return snap.Usage[a].Share < snap.Usage[b].Share
		})

		var d sched.Decisions
		for n := heads; ; n *= 4 {
			snap.Runnable, snap.Truncated = queue.heads(n)
			d = sched.Plan(snap, now)
			if len(d.NeedMore) == 0 {
				break
			}
		}
		r.Passes++
		if happened || len(d.Admit)+len(d.Terminate)+len(d.Reasons) > 0 {
			lastChange = now
		}
		for _, u := range d.Reasons {
			w := queue.byID[u.JobID]
			if model.ReasonCode(u.Reason) != model.ReasonCode(w.reason) || w.blockedSince == 0 {
				w.blockedSince = now
			}
			w.reason = u.Reason
			r.Reasons[u.JobID] = u.Reason
		}
		for _, t := range d.Terminate {
			r.Terminated[t.JobID] = t.Reason
			queue.remove(t.JobID)
		}
		for _, a := range d.Admit {
			w := queue.remove(a.JobID)
			run := &running{job: w.job, share: queue.key(w.job), env: a.Environment, start: now, end: now + max(w.job.Duration.Milliseconds(), 1)}
			active = append(active, run)
			r.Admissions = append(r.Admissions, Admission{
				JobID: a.JobID, Share: run.share, Environment: a.Environment, At: now,
				Wait: time.Duration(now-w.job.Arrival) * time.Millisecond,
			})
		}
		r.record(now, active)
	}
	r.End = now
	r.Unfinished = queue.len() + len(active) + len(arrivals) - next
	return r
}

// idleHorizon stops a run without Until whose passes change nothing any more:
// no time limit action waits longer than a day.
const idleHorizon = (model.MaxTimeLimitSeconds + 3600) * 1000

func (r *Report) record(now int64, active []*running) {
	s := step{at: now, inUse: map[string]int64{}, shares: map[sched.ShareKey]int64{}}
	for _, a := range active {
		s.inUse[a.env] += a.job.Instances
		s.shares[a.share] += a.job.Instances
	}
	for env, n := range s.inUse {
		r.MaxInUse[env] = max(r.MaxInUse[env], n)
	}
	if len(r.steps) > 0 && r.steps[len(r.steps)-1].at == now {
		r.steps[len(r.steps)-1] = s
	} else {
		r.steps = append(r.steps, s)
	}
}

// accumulate adds the busy instance-seconds of the interval [from, to).
func (r *Report) accumulate(from, to int64) {
	if len(r.steps) == 0 || to <= from {
		return
	}
	last := r.steps[len(r.steps)-1]
	for env, n := range last.inUse {
		r.busy[env] += float64(n) * float64(to-from) / 1000
	}
}

// Utilization is the share of an environment's capacity that was in use
// between Start and End.
func (r *Report) Utilization(env string) float64 {
	span := float64(r.End-r.Start) / 1000
	if span <= 0 || r.envMax[env] == 0 {
		return 0
	}
	return r.busy[env] / (span * float64(r.envMax[env]))
}

// MeanAllocation is the time-weighted mean of the instances a share held
// between from and to (epoch ms).
func (r *Report) MeanAllocation(k sched.ShareKey, from, to int64) float64 {
	if to <= from {
		return 0
	}
	var sum float64
	for i, s := range r.steps {
		end := to
		if i+1 < len(r.steps) {
			end = min(end, r.steps[i+1].at)
		}
		start := max(s.at, from)
		if end > start {
			sum += float64(s.shares[k]) * float64(end-start)
		}
	}
	return sum / float64(to-from)
}

// AllocationAt is the instances a share held just after the last pass at or
// before t.
func (r *Report) AllocationAt(k sched.ShareKey, t int64) int64 {
	i := sort.Search(len(r.steps), func(i int) bool { return r.steps[i].at > t })
	if i == 0 {
		return 0
	}
	return r.steps[i-1].shares[k]
}

// Series returns a share's allocation after every pass, for plots.
func (r *Report) Series(k sched.ShareKey) (at []int64, instances []int64) {
	for _, s := range r.steps {
		at = append(at, s.at)
		instances = append(instances, s.shares[k])
	}
	return at, instances
}

// Percentiles of the wait between arrival and placement.
type Percentiles struct {
	Count              int
	P50, P90, P99, Max time.Duration
}

func (p Percentiles) String() string {
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", p.Count, p.P50, p.P90, p.P99, p.Max)
}

// Waits returns the wait percentiles of the admissions that match keep (all
// admissions when keep is nil).
func (r *Report) Waits(keep func(Admission) bool) Percentiles {
	var w []time.Duration
	for _, a := range r.Admissions {
		if keep == nil || keep(a) {
			w = append(w, a.Wait)
		}
	}
	if len(w) == 0 {
		return Percentiles{}
	}
	sort.Slice(w, func(a, b int) bool { return w[a] < w[b] })
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(w)))) - 1
		return w[max(i, 0)]
	}
	return Percentiles{Count: len(w), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: w[len(w)-1]}
}
