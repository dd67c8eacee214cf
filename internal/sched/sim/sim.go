// Package sim runs sched.Plan against a virtual clock: jobs arrive, passes
// place them, placed jobs finish after their duration (or when SageMaker
// would stop them, at their runtime bound), and the report tells how well
// the capacity was used, how it was split between shares over time, and how
// long jobs waited. Tests use it to check properties that only show over
// many passes (weighted shares converging, reservations, decay); the same
// runs serve benchmarks and `sagequeue simulate`'s what-if questions ("what
// if research had weight 0.5?").
//
// A run is deterministic: the same Config and jobs give the same Report.
package sim

import (
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
	// MaxRuntime is the job's StoppingCondition.MaxRuntimeInSeconds (0:
	// SageMaker's default of one day). The scheduler plans with it, and the
	// job ends at it if Duration is longer, as SageMaker stops it there.
	MaxRuntime time.Duration
}

// Bound is the job's runtime bound in seconds, as sched sees it.
func (j *Job) Bound() int64 {
	if s := int64(math.Ceil(j.MaxRuntime.Seconds())); s > 0 {
		return s
	}
	return model.DefaultMaxRuntimeSeconds
}

// runtime is how long the job holds its instances once placed (ms).
func (j *Job) runtime() int64 {
	return max(min(j.Duration.Milliseconds(), j.Bound()*1000), 1)
}

// DefaultTick is the production tick: the cloud deployment runs a pass every
// minute when nothing else triggers one.
const DefaultTick = time.Minute

// Config is the world a run happens in.
type Config struct {
	Environments []model.ServiceEnvironment
	Queues       []model.JobQueue
	Policies     []model.SchedulingPolicy
	// Start is the virtual time the run begins at (epoch ms).
	Start int64
	// Tick adds a pass every Tick while jobs wait, even when nothing arrives
	// or finishes, as production does; 0 means DefaultTick, a negative Tick
	// none (passes only on arrivals and completions).
	Tick time.Duration
	// Until ends the run; 0 runs until every job has finished or ended.
	Until int64
	// OnPass, if set, is called after every pass with its snapshot and
	// decisions (both read-only), for tests that follow a run pass by pass.
	OnPass func(now int64, s *sched.Snapshot, d *sched.Decisions)
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
	// Start and Until are the window the figures are over; End is the last
	// event (<= Until when Until was set, else Until = End).
	Start, End, Until int64
	Passes            int
	Admissions        []Admission
	// Terminated maps jobs ended by time limit actions to their reason.
	Terminated map[string]string
	// Reasons maps jobs to the last statusReason a pass gave them.
	Reasons map[string]string
	// Unfinished counts jobs that did not finish by the end: still waiting,
	// still running, or arriving after Until.
	Unfinished int
	// NeverStarted counts jobs that arrived but never started (and were not
	// ended by a time limit action).
	NeverStarted int
	// Stopped counts jobs that ran into their runtime bound: SageMaker would
	// have stopped them before their Duration.
	Stopped int
	// MaxInUse is the highest in-use count each environment ever reached.
	MaxInUse map[string]int64

	envs   []string // environment ARNs, by index
	envMax []int64
	// startedCompeting adds up, per reporting share, the capacity-time
	// (instance-ms) of the jobs it was given while it competed (see
	// Fairness.Started).
	startedCompeting []float64
	keys             []sched.ShareKey // reporting shares (queue, job share), by index
	keyIndex         map[sched.ShareKey]int
	fair             map[string]*model.FairsharePolicy // fair-share queues by ARN
	jobs             []record
	steps            []step // the state after each pass that changed it
}

// record is what became of one job.
type record struct {
	job   *Job
	key   int   // index into keys
	start int64 // -1: never started
}

// step is the state of the run from at until the next step.
type step struct {
	at      int64
	inUse   []int64 // per environment
	alloc   []int64 // per reporting share
	waiting []int32 // per reporting share
}

type running struct {
	job   *Job
	rec   int
	key   int
	env   int
	start int64
	end   int64
}

type waiting struct {
	job          *Job
	rec          int
	reason       string
	code         string // the code whose clock blockedSince is
	blockedSince int64
	reservedAt   int64
}

// Run plays jobs through the scheduler and reports.
func Run(cfg Config, jobs []Job) *Report {
	r := &Report{
		Start: cfg.Start, Terminated: map[string]string{}, Reasons: map[string]string{},
		MaxInUse: map[string]int64{}, keyIndex: map[sched.ShareKey]int{}, fair: map[string]*model.FairsharePolicy{},
	}
	envIndex := map[string]int{}
	var capacity int64
	for i := range cfg.Environments {
		e := &cfg.Environments[i]
		envIndex[e.Arn] = len(r.envs)
		r.envs = append(r.envs, e.Arn)
		r.envMax = append(r.envMax, e.MaxInstances())
		capacity += e.MaxInstances()
	}
	isFair := map[string]bool{}
	policies := map[string]*model.SchedulingPolicy{}
	for i := range cfg.Policies {
		policies[cfg.Policies[i].Arn] = &cfg.Policies[i]
	}
	for _, q := range cfg.Queues {
		if q.FairShare() {
			isFair[q.Arn] = true
			r.fair[q.Arn] = nil
			if p := policies[q.SchedulingPolicyArn]; p != nil {
				r.fair[q.Arn] = p.FairsharePolicy
			}
		}
	}

	arrivals := make([]*Job, len(jobs))
	for i := range jobs {
		arrivals[i] = &jobs[i]
	}
	sort.SliceStable(arrivals, func(a, b int) bool { return arrivals[a].Arrival < arrivals[b].Arrival })
	var (
		queue      = newBacklog(isFair)
		active     []*running
		usage      = map[sched.ShareKey]model.ShareUsage{}
		now        = cfg.Start
		next       = 0
		lastChange = cfg.Start
		cur        = step{inUse: make([]int64, len(r.envs))}
		snap       = &sched.Snapshot{Environments: cfg.Environments, Queues: cfg.Queues, Policies: cfg.Policies}
	)
	tick := cfg.Tick.Milliseconds()
	if cfg.Tick == 0 {
		tick = DefaultTick.Milliseconds()
	}
	// A pass reads this many jobs of each line, and more when Plan asks:
	// enough for the capacity, and for a backfill queue's reservations.
	heads := int(min(capacity, 1000)) + 1
	for _, q := range cfg.Queues {
		if q.Backfill {
			heads += sched.MaxReservations
			break
		}
	}

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
		now = max(t, now)

		// Completions first: they free capacity for this pass.
		happened := false
		kept := active[:0]
		for _, a := range active {
			if a.end <= now {
				happened = true
				k := queue.key(a.job)
				tau := r.fair[k.Queue].DecaySeconds()
				u := usage[k]
				u.Queue, u.Share = k.Queue, k.Share
				usage[k] = u.Add(a.job.Instances, a.start, a.end, tau)
				cur.alloc[a.key] -= a.job.Instances
				cur.inUse[a.env] -= a.job.Instances
				continue
			}
			kept = append(kept, a)
		}
		active = kept
		for next < len(arrivals) && arrivals[next].Arrival <= now {
			j := arrivals[next]
			rec := r.add(j)
			queue.add(&waiting{job: j, rec: rec})
			cur.waitingAdd(r.jobs[rec].key, 1)
			next++
			happened = true
		}

		snap.Active = snap.Active[:0]
		for _, a := range active {
			snap.Active = append(snap.Active, sched.Allocation{
				JobID: a.job.ID, Queue: a.job.Queue, Share: a.job.Share, Environment: r.envs[a.env], Instances: a.job.Instances,
				Since: a.start, RuntimeBound: a.job.Bound(),
			})
		}
		snap.Usage = snap.Usage[:0]
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
			snap.Runnable, snap.Truncated = queue.heads(n, snap.Runnable[:0], snap.Truncated[:0])
			d = sched.Plan(snap, now)
			if len(d.NeedMore) == 0 {
				break
			}
		}
		r.Passes++
		if cfg.OnPass != nil {
			cfg.OnPass(now, snap, &d)
		}
		if happened || len(d.Admit)+len(d.Terminate)+len(d.Reasons) > 0 {
			lastChange = now
		}
		for _, u := range d.Reasons {
			// As model.ServiceJob.SetReason keeps the time limit clock.
			w := queue.byID[u.JobID]
			if code := model.ReasonCode(u.Reason); code != "" && code != w.code {
				w.code, w.blockedSince = code, now
			}
			w.reason, w.reservedAt = u.Reason, u.ReservedAt
			r.Reasons[u.JobID] = u.Reason
		}
		for _, t := range d.Terminate {
			r.Terminated[t.JobID] = t.Reason
			w := queue.remove(t.JobID)
			cur.waitingAdd(r.jobs[w.rec].key, -1)
		}
		r.countCompeting(&cur, d.Admit, queue)
		for _, a := range d.Admit {
			w := queue.remove(a.JobID)
			rec := &r.jobs[w.rec]
			rec.start = now
			run := &running{job: w.job, rec: w.rec, key: rec.key, env: envIndex[a.Environment], start: now, end: now + w.job.runtime()}
			if w.job.Duration.Milliseconds() > w.job.Bound()*1000 {
				r.Stopped++
			}
			active = append(active, run)
			cur.waitingAdd(rec.key, -1)
			cur.alloc[rec.key] += w.job.Instances
			cur.inUse[run.env] += w.job.Instances
			r.MaxInUse[a.Environment] = max(r.MaxInUse[a.Environment], cur.inUse[run.env])
			r.Admissions = append(r.Admissions, Admission{
				JobID: a.JobID, Share: r.keys[rec.key], Environment: a.Environment, At: now,
				Wait: time.Duration(now-w.job.Arrival) * time.Millisecond,
			})
		}
		cur.at = now
		r.record(&cur)
	}
	r.End = now
	r.Until = cfg.Until
	if r.Until == 0 {
		r.Until = r.End
	}
	r.Unfinished = queue.len() + len(active) + len(arrivals) - next
	r.NeverStarted = queue.len()
	return r
}

// countCompeting adds the admissions of a pass to the instances given to
// shares while they competed: before the pass placed them, the share and at
// least one other of its queue had jobs waiting.
func (r *Report) countCompeting(cur *step, admit []sched.Admission, queue *backlog) {
	if len(admit) == 0 {
		return
	}
	backlogged := map[string]int{} // queue ARN -> shares with jobs waiting
	for k, w := range cur.waiting {
		if w > 0 {
			backlogged[r.keys[k].Queue]++
		}
	}
	for len(r.startedCompeting) < len(r.keys) {
		r.startedCompeting = append(r.startedCompeting, 0)
	}
	for _, a := range admit {
		w := queue.byID[a.JobID]
		if k := r.jobs[w.rec].key; backlogged[a.Queue] >= 2 && cur.waitingOf(k) > 0 {
			r.startedCompeting[k] += float64(a.Instances) * float64(w.job.runtime())
		}
	}
}

// idleHorizon stops a run without Until whose passes change nothing any more:
// no time limit action waits longer than a day.
const idleHorizon = (model.MaxTimeLimitSeconds + 3600) * 1000

// add records a job's arrival and returns its record's index.
func (r *Report) add(j *Job) int {
	k := sched.ShareKey{Queue: j.Queue, Share: j.Share}
	i, ok := r.keyIndex[k]
	if !ok {
		i = len(r.keys)
		r.keyIndex[k] = i
		r.keys = append(r.keys, k)
	}
	r.jobs = append(r.jobs, record{job: j, key: i, start: -1})
	return len(r.jobs) - 1
}

func (s *step) waitingAdd(key int, n int32) {
	for len(s.waiting) <= key {
		s.waiting = append(s.waiting, 0)
		s.alloc = append(s.alloc, 0)
	}
	s.waiting[key] += n
}

// record keeps the state after a pass when it differs from the last one.
func (r *Report) record(cur *step) {
	if n := len(r.steps); n > 0 {
		last := &r.steps[n-1]
		if last.same(cur) {
			return
		}
		if last.at == cur.at {
			r.steps = r.steps[:n-1]
		}
	}
	r.steps = append(r.steps, step{
		at: cur.at, inUse: append([]int64(nil), cur.inUse...),
		alloc: append([]int64(nil), cur.alloc...), waiting: append([]int32(nil), cur.waiting...),
	})
}

func (s *step) same(o *step) bool {
	if len(s.alloc) != len(o.alloc) {
		return false
	}
	for i := range s.inUse {
		if s.inUse[i] != o.inUse[i] {
			return false
		}
	}
	for i := range s.alloc {
		if s.alloc[i] != o.alloc[i] || s.waiting[i] != o.waiting[i] {
			return false
		}
	}
	return true
}

// span calls fn for each step with the part of [from, to) it covers (ms).
func (r *Report) span(from, to int64, fn func(s *step, ms int64)) {
	for i := range r.steps {
		s := &r.steps[i]
		end := to
		if i+1 < len(r.steps) {
			end = min(end, r.steps[i+1].at)
		}
		if start := max(s.at, from); end > start {
			fn(s, end-start)
		}
	}
}

func (s *step) allocOf(key int) int64 {
	if key < len(s.alloc) {
		return s.alloc[key]
	}
	return 0
}

func (s *step) waitingOf(key int) int32 {
	if key < len(s.waiting) {
		return s.waiting[key]
	}
	return 0
}

func (s *step) queued() (n int64) {
	for _, w := range s.waiting {
		n += int64(w)
	}
	return n
}

// Utilization is the share of an environment's capacity that was in use
// between Start and Until.
func (r *Report) Utilization(env string) float64 {
	for i, e := range r.envs {
		if e == env {
			return r.utilization(i)
		}
	}
	return 0
}

func (r *Report) utilization(env int) float64 {
	window := float64(r.Until - r.Start)
	if window <= 0 || r.envMax[env] == 0 {
		return 0
	}
	var busy float64
	r.span(r.Start, r.Until, func(s *step, ms int64) { busy += float64(s.inUse[env]) * float64(ms) })
	return busy / (window * float64(r.envMax[env]))
}

// TotalUtilization is the share of all environments' capacity that was in
// use between Start and Until.
func (r *Report) TotalUtilization() float64 {
	var capacity, busy float64
	for i, m := range r.envMax {
		capacity += float64(m)
		busy += r.utilization(i) * float64(m)
	}
	if capacity == 0 {
		return 0
	}
	return busy / capacity
}

// IdleWhileWaiting is the share of the capacity that was left free while
// jobs waited: of all environments' capacity-time between Start and Until
// during which at least one job waited, the part no job used.
func (r *Report) IdleWhileWaiting() float64 {
	var capacity int64
	for _, m := range r.envMax {
		capacity += m
	}
	var idle, waited float64
	r.span(r.Start, r.Until, func(s *step, ms int64) {
		if s.queued() == 0 {
			return
		}
		waited += float64(ms)
		for i, m := range r.envMax {
			idle += float64(max(m-s.inUse[i], 0)) * float64(ms)
		}
	})
	if waited == 0 || capacity == 0 {
		return 0
	}
	return idle / (waited * float64(capacity))
}

// MeanAllocation is the time-weighted mean of the instances a share held
// between from and to (epoch ms).
func (r *Report) MeanAllocation(k sched.ShareKey, from, to int64) float64 {
	key, ok := r.keyIndex[k]
	if to <= from || !ok {
		return 0
	}
	var sum float64
	r.span(from, to, func(s *step, ms int64) { sum += float64(s.allocOf(key)) * float64(ms) })
	return sum / float64(to-from)
}

// AllocationAt is the instances a share held just after the last pass at or
// before t.
func (r *Report) AllocationAt(k sched.ShareKey, t int64) int64 {
	i := sort.Search(len(r.steps), func(i int) bool { return r.steps[i].at > t })
	key, ok := r.keyIndex[k]
	if i == 0 || !ok {
		return 0
	}
	return r.steps[i-1].allocOf(key)
}

// Series returns a share's allocation after every pass that changed
// something, for plots.
func (r *Report) Series(k sched.ShareKey) (at []int64, instances []int64) {
	key := r.keyIndex[k]
	for i := range r.steps {
		at = append(at, r.steps[i].at)
		instances = append(instances, r.steps[i].allocOf(key))
	}
	return at, instances
}

// Shares are the (queue, share) pairs jobs came in, in order of first
// arrival. A FIFO queue's jobs keep their share for reports, though the
// queue ignores it.
func (r *Report) Shares() []sched.ShareKey { return append([]sched.ShareKey(nil), r.keys...) }
