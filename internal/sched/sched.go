package sched

import (
	"sort"
	"strings"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Snapshot is everything a scheduling pass reads. Runnable need not hold the
// whole backlog: the store reads the heads of each queue and share, and lists
// the lines it cut short in Truncated.
type Snapshot struct {
	Environments []model.ServiceEnvironment
	Queues       []model.JobQueue
	Policies     []model.SchedulingPolicy
	// Active are the jobs that hold capacity (SCHEDULED, STARTING, RUNNING).
	Active []Allocation
	// Runnable are RUNNABLE jobs, in any order.
	Runnable []Candidate
	// Truncated names the lines (a FIFO queue, Share "", or one share of a
	// fair-share queue) of which Runnable holds only a prefix. Plan never
	// places past the end of a truncated line; it stops that queue and asks
	// for more in Decisions.NeedMore.
	Truncated []ShareKey
	// Usage is the decayed past usage of the shares of fair-share queues.
	Usage []model.ShareUsage
	// QuotaShares are the quota shares of quota-management queues.
	QuotaShares []model.QuotaShare
	// Plans are the training plans the environments name (plans.go).
	Plans []PlanView
}

// ShareKey names one line of a queue: a share of a fair-share queue, or the
// whole of a FIFO queue with Share "".
type ShareKey struct {
	Queue string
	Share string
}

// Allocation is a job holding capacity.
type Allocation struct {
	JobID       string
	Queue       string
	Share       string
	Environment string
	Instances   int64
	// InstanceType is the job's instance type ("" when the payload names none).
	InstanceType string
	// Since is when the job began to hold capacity (epoch ms, its scheduledAt).
	// Backfill takes 0 (unknown) as now, and a job past its bound as ending
	// at any moment.
	Since int64
	// RuntimeBound is the longest the job may train, in seconds
	// (model.ServiceJob.RuntimeBound).
	RuntimeBound int64
	// Priority is the job's schedulingPriority (in-share preemption).
	Priority int32
	// Stopping means the job's attempt is being stopped (preempted,
	// terminated or timed out): it holds capacity until it has stopped, and
	// it is not preempted again.
	Stopping bool
}

// Candidate is a RUNNABLE job.
type Candidate struct {
	JobID        string
	Queue        string
	Share        string
	Priority     int32
	CreatedAt    int64
	Instances    int64
	StatusReason string
	// BlockedSince is when the code of StatusReason was first set (epoch ms).
	BlockedSince int64
	// NotBefore holds the job back until then (epoch ms): a backoff after a
	// capacity failure. A job not ready yet is a head that does not fit.
	NotBefore int64
	// InstanceType is the job's instance type ("" when the payload names none).
	InstanceType string
	// RuntimeBound is the longest the job may train once started, in seconds
	// (model.ServiceJob.RuntimeBound).
	RuntimeBound int64
	// ReservedAt is the reservation an earlier pass gave the job (epoch ms,
	// model.ServiceJob.ReservedAt); it counts while its statusReason is a
	// backfill reason.
	ReservedAt int64
}

// Decisions is the output of a pass.
type Decisions struct {
	// Admit lists the jobs to place, in the order they were chosen.
	Admit []Admission
	// Reasons lists RUNNABLE jobs whose statusReason changes.
	Reasons []ReasonUpdate
	// Terminate lists jobs ended by job state time limit actions.
	Terminate []Termination
	// NeedMore lists truncated lines the pass ran off the end of; a pass with
	// more of those lines loaded may place more.
	NeedMore []ShareKey
	// Reservations lists the jobs of backfill queues that could not start,
	// with where and when they are reserved to start, in the order they
	// were made.
	Reservations []Reservation
	// Preempt lists jobs holding capacity to stop for others (quota
	// management).
	Preempt []Preemption
}

// Admission places a job into an environment.
type Admission struct {
	JobID       string
	Queue       string
	Share       string
	Environment string
	Instances   int64
}

// ReasonUpdate sets a RUNNABLE job's statusReason ("" clears it) and
// ReservedAt (0 clears it).
type ReasonUpdate struct {
	JobID      string
	Reason     string
	ReservedAt int64
}

// Termination ends a RUNNABLE job (FAILED) with Reason.
type Termination struct {
	JobID  string
	Queue  string
	Reason string
}

type envState struct {
	arn     string
	max     int64
	free    int64
	enabled bool
	prof    *profile   // built when backfill first reserves here
	plan    *planState // the training plan the environment draws on, if any
	partial bool       // jobs may start in windows they cannot finish in
}

// line is the ordered RUNNABLE jobs of one ShareKey.
type line struct {
	key       ShareKey
	jobs      minHeap[int32] // indexes into Snapshot.Runnable
	truncated bool
	alloc     int64   // instances the share holds, updated in the pass
	reserved  int64   // instances the share reserved in the pass (backfill)
	usage     float64 // decayed usage of ended and running jobs, in instances
	weight    float64
	pos       int // position in the queue's share heap
	held      int // jobs passed over in the pass for a plan window too short
}

func (l *line) score() float64 { return (float64(l.alloc+l.reserved) + l.usage) * l.weight }

type queueState struct {
	q      *model.JobQueue
	fair   bool
	policy *model.FairsharePolicy
	envs   []*envState
	maxFit int64 // the largest job any environment of the queue can ever take
	lines  map[string]*line
	active int // shares holding capacity
	looked int // jobs passed over by backfill (see MaxReservations)
}

// Plan runs one scheduling pass over s at time now (epoch ms).
func Plan(s *Snapshot, now int64) Decisions {
	p := newPass(s, now)
	for _, qs := range p.queues {
		if qs.q.QuotaShares() {
			p.serveQuota(qs)
		} else {
			p.serve(qs)
		}
	}
	p.clearPlanReasons()
	p.finishReasons()
	return p.out
}

type pass struct {
	s      *Snapshot
	now    int64
	envs   map[string]*envState
	queues []*queueState
	out    Decisions
	asked  map[ShareKey]bool
	placed []placed
	// reasonAt indexes out.Reasons by job; reasonFor holds their candidates.
	reasonAt  map[string]int
	reasonFor []*Candidate
	marks     []uint8 // by candidate (markServed, markKept)
	// reasoned are the jobs whose plan or MISCONFIGURATION reason the
	// pass decided (set, kept or cleared).
	reasoned map[string]bool
	// texts memoizes the plans' reasons: many held jobs share one.
	texts map[reasonKey]string
}

func newPass(s *Snapshot, now int64) *pass {
	p := &pass{s: s, now: now, envs: make(map[string]*envState, len(s.Environments)), asked: map[ShareKey]bool{}, reasoned: map[string]bool{}}
	plans := make(map[string]*planState, len(s.Plans))
	for i := range s.Plans {
		plans[s.Plans[i].Arn] = newPlanState(&s.Plans[i])
	}
	for i := range s.Environments {
		e := &s.Environments[i]
		m := e.MaxInstances()
		p.envs[e.Arn] = &envState{arn: e.Arn, max: m, free: m, enabled: e.Enabled(), plan: plans[e.TrainingPlanArn], partial: e.PartialWindows}
	}
	policies := make(map[string]*model.SchedulingPolicy, len(s.Policies))
	for i := range s.Policies {
		policies[s.Policies[i].Arn] = &s.Policies[i]
	}

	byArn := make(map[string]*queueState, len(s.Queues))
	for i := range s.Queues {
		q := &s.Queues[i]
		qs := &queueState{q: q, fair: q.FairShare(), lines: map[string]*line{}}
		if qs.fair {
			if pol := policies[q.SchedulingPolicyArn]; pol != nil {
				qs.policy = pol.FairsharePolicy
			}
		}
		for _, arn := range q.Environments() {
			if e := p.envs[arn]; e != nil {
				qs.envs = append(qs.envs, e)
				fit := e.max
				if e.plan != nil && e.plan.largest > 0 {
					fit = min(fit, e.plan.largest)
				}
				qs.maxFit = max(qs.maxFit, fit)
			}
		}
		byArn[q.Arn] = qs
		p.queues = append(p.queues, qs)
	}
	sort.SliceStable(p.queues, func(a, b int) bool {
		qa, qb := p.queues[a].q, p.queues[b].q
		if qa.Priority != qb.Priority {
			return qa.Priority > qb.Priority
		}
		return qa.Arn < qb.Arn
	})

	for _, a := range s.Active {
		if e := p.envs[a.Environment]; e != nil {
			e.free -= a.Instances
			if e.plan != nil {
				e.plan.free -= a.Instances
			}
		}
		if qs := byArn[a.Queue]; qs != nil && qs.fair {
			l := qs.line(a.Share)
			if l.alloc == 0 && a.Instances > 0 {
				qs.active++
			}
			l.alloc += a.Instances
			l.usage += model.Running(a.Instances, a.Since, now, qs.policy.DecaySeconds())
		}
	}

	// Group the candidates by line. Consecutive candidates usually share a
	// line (the store reads them line by line), so remember the last one.
	var last *line
	var lastQ *queueState
	for i := range s.Runnable {
		c := &s.Runnable[i]
		qs := lastQ
		if qs == nil || qs.q.Arn != c.Queue {
			qs = byArn[c.Queue]
			if qs == nil {
				continue // the queue is gone; its jobs wait for an operator
			}
			lastQ, last = qs, nil
		}
		share := ""
		if qs.fair {
			share = c.Share
		}
		if last == nil || last.key.Share != share {
			last = qs.line(share)
		}
		last.jobs.items = append(last.jobs.items, int32(i))
	}
	for _, k := range s.Truncated {
		if qs := byArn[k.Queue]; qs != nil {
			if !qs.fair {
				k.Share = ""
			}
			qs.line(k.Share).truncated = true
		}
	}

	for _, qs := range p.queues {
		tau := qs.policy.DecaySeconds()
		less := p.fifoLess
		if qs.fair {
			less = p.shareLess
		}
		for _, l := range qs.lines {
			l.jobs.less = less
			l.jobs.init()
			if qs.fair {
				l.weight = qs.policy.Weight(l.key.Share)
			}
		}
		if qs.fair {
			for _, u := range s.Usage {
				if u.Queue == qs.q.Arn {
					if l := qs.lines[u.Share]; l != nil {
						l.usage += u.At(now, tau)
					}
				}
			}
		}
	}
	return p
}

func (qs *queueState) line(share string) *line {
	l := qs.lines[share]
	if l == nil {
		l = &line{key: ShareKey{Queue: qs.q.Arn, Share: share}, weight: 1, pos: -1}
		qs.lines[share] = l
	}
	return l
}

func (p *pass) fifoLess(a, b int32) bool {
	ca, cb := &p.s.Runnable[a], &p.s.Runnable[b]
	if ca.CreatedAt != cb.CreatedAt {
		return ca.CreatedAt < cb.CreatedAt
	}
	return ca.JobID < cb.JobID
}

func (p *pass) shareLess(a, b int32) bool {
	ca, cb := &p.s.Runnable[a], &p.s.Runnable[b]
	if ca.Priority != cb.Priority {
		return ca.Priority > cb.Priority
	}
	if ca.CreatedAt != cb.CreatedAt {
		return ca.CreatedAt < cb.CreatedAt
	}
	return ca.JobID < cb.JobID
}

// shareHeap orders the lines of a fair-share queue by score, then share.
func shareHeap(qs *queueState) *minHeap[*line] {
	h := &minHeap[*line]{
		less: func(a, b *line) bool {
			if sa, sb := a.score(), b.score(); sa != sb {
				return sa < sb
			}
			return a.key.Share < b.key.Share
		},
		moved: func(l *line, i int) { l.pos = i },
	}
	for _, l := range sortedLines(qs) {
		if l.jobs.len() > 0 || l.truncated {
			h.items = append(h.items, l)
		}
	}
	h.init()
	return h
}

func sortedLines(qs *queueState) []*line {
	ls := make([]*line, 0, len(qs.lines))
	for _, l := range qs.lines {
		ls = append(ls, l)
	}
	sort.Slice(ls, func(a, b int) bool { return ls[a].key.Share < ls[b].key.Share })
	return ls
}

// serve places jobs from one queue until it is empty or blocked.
func (p *pass) serve(qs *queueState) {
	if qs.q.Backfill && !p.serveReserved(qs) {
		return
	}
	var shares *minHeap[*line]
	var parked []*line // held back by the compute reservation
	if qs.fair {
		shares = shareHeap(qs)
	}
	// next takes the head of l: placed, ended, or passed over by backfill.
	next := func(l *line) {
		l.jobs.pop()
		if qs.fair {
			shares.fix(l.pos)
		}
	}
	// goPast passes over a job of a backfill queue that cannot start now
	// (from is when it may) with a reservation.
	goPast := func(l *line, n, from int64) {
		p.goPast(qs, l, l.jobs.peek(), n, from)
		next(l)
	}
	for {
		var l *line
		if qs.fair {
			if shares.len() == 0 {
				return
			}
			l = shares.peek()
		} else if l = qs.lines[""]; l == nil {
			return
		}
		if l.jobs.len() == 0 {
			if l.truncated {
				p.needMore(l.key)
				return
			}
			if !qs.fair {
				return
			}
			shares.remove(l.pos)
			continue
		}
		if qs.looked >= MaxReservations {
			return
		}
		if p.marked(l.jobs.peek(), markServed) {
			next(l) // served first, as a reserved job
			continue
		}
		c := &p.s.Runnable[l.jobs.peek()]
		n := max(c.Instances, 1)
		if c.NotBefore > p.now {
			// Backing off after a capacity failure: like a head that does
			// not fit, it holds its line, and a FIFO queue, until then.
			if p.blocked(qs, c, n, "") {
				next(l)
				continue
			}
			if qs.q.Backfill {
				goPast(l, n, c.NotBefore)
				continue
			}
			if !qs.fair {
				return
			}
			shares.remove(l.pos)
			continue
		}
		env, reservationOnly, refusal := p.place(qs, l, c, n)
		if env != nil {
			l.jobs.pop()
			if p.admit(qs, l, env, c, n) {
				// One more active share shrinks the reservation: the shares
				// it held back may fit again.
				for _, pl := range parked {
					shares.push(pl)
				}
				parked = parked[:0]
			}
			if qs.fair {
				shares.fix(l.pos)
			}
			continue
		}
		if reservationOnly {
			// Only the compute reservation holds this share back; it waits
			// until another share becomes active and the shares without
			// capacity go on.
			shares.remove(l.pos)
			parked = append(parked, l)
			continue
		}
		want := ""
		if refusal != nil {
			want = p.reasonText(refusal, c)
		}
		if p.blocked(qs, c, n, want) {
			next(l) // ended by a time limit action; the next job is the head
			continue
		}
		if refusal != nil && refusal.hold == holdShort && n <= qs.maxFit && l.held < maxHeldPerLine {
			// Held only because the plan's window ends too soon for it:
			// the jobs behind it may use the window, since they too must
			// end within it, so they cannot delay it. It keeps its place
			// for the next window.
			l.held++
			next(l)
			continue
		}
		if qs.q.Backfill {
			goPast(l, n, p.now)
			continue
		}
		if refusal != nil && refusal.hold == holdClosed {
			p.holdQueue(qs, want)
		}
		return
	}
}

// place finds the first environment of the queue where c's n instances fit
// now, for its whole runtime bound where backfill holds reservations. When
// none does only because of the fair-share compute reservation,
// reservationOnly is true; when none does only because of training plans
// (closed, a window too short, another instance type), refusal says which
// plan held it back first.
func (p *pass) place(qs *queueState, l *line, c *Candidate, n int64) (env *envState, reservationOnly bool, refusal *planRefusal) {
	other := false // an environment refused for a reason other than its plan
	for _, e := range qs.envs {
		if !e.enabled {
			continue
		}
		if ps := e.plan; ps != nil {
			if hold, w := p.check(ps, qs, e, c); hold != holdNone {
				// A window that opens later says more than a plan that
				// never takes the job.
				if refusal == nil || refusal.hold == holdType {
					refusal = &planRefusal{hold: hold, plan: ps, win: w}
				}
				continue
			}
			if ps.free < n {
				other = true
				continue
			}
		}
		if !e.fitsNow(p.now, p.holdMs(qs, e, c), n) {
			other = true
			continue
		}
		if qs.fair && l.alloc > 0 {
			if e.free-n < qs.policy.Reserved(e.max, qs.active) {
				reservationOnly = true
				continue
			}
		}
		return e, false, nil
	}
	if other || reservationOnly {
		refusal = nil
	}
	return nil, reservationOnly, refusal
}

// blocked handles a head job that does not fit: it sets or clears the
// reasons the scheduler owns: MISCONFIGURATION when no environment can ever
// take the job, else want (a training plan's reason, or none). It applies
// the queue's time limit actions and reports whether the job was ended.
func (p *pass) blocked(qs *queueState, c *Candidate, n int64, want string) bool {
	if n > qs.maxFit {
		want = model.ReasonMisconfigurationText
	}
	return p.holdBack(qs, c, want)
}

// holdBack handles a head job that does not fit now: want is the reason
// the scheduler gives it (a MISCONFIGURATION reason for a job that can
// never fit, a training plan's reason), "" for one that only waits for
// capacity to free. It sets that reason, or clears one of the scheduler's
// that no longer holds (the environment grew, the window opened), applies
// the queue's time limit actions, and reports whether the job was ended.
func (p *pass) holdBack(qs *queueState, c *Candidate, want string) bool {
	reason, since := c.StatusReason, c.BlockedSince
	owned := isMisconfiguration(c.StatusReason) || model.IsPlanReason(c.StatusReason)
	if want != c.StatusReason && (want != "" || owned) {
		reason = want
		if model.ReasonCode(want) != model.ReasonCode(c.StatusReason) || since == 0 {
			since = p.now
		}
		p.setReason(c, reason, 0)
	}
	p.reasoned[c.JobID] = true
	if reason == "" {
		return false
	}
	if since == 0 {
		since = p.now
	}
	for _, a := range qs.q.JobStateTimeLimitActions {
		if a.State != string(model.StatusRunnable) || a.Reason == "" || !strings.HasPrefix(reason, a.Reason) {
			continue
		}
		if p.now-since >= int64(a.MaxTimeSeconds)*1000 {
			p.out.Terminate = append(p.out.Terminate, Termination{JobID: c.JobID, Queue: c.Queue, Reason: model.TimeLimitMessage(a)})
			return true
		}
	}
	return false
}

func (p *pass) needMore(k ShareKey) {
	if !p.asked[k] {
		p.asked[k] = true
		p.out.NeedMore = append(p.out.NeedMore, k)
	}
}

// DispatchOrder returns up to limit RUNNABLE jobs of one queue in the order
// Plan would take them if capacity were no object: FIFO order, or fair-share
// order with each job taken counted against its share. It stops where a
// truncated line runs out. GetJobQueueSnapshot shows it as the front of the
// queue.
func DispatchOrder(s *Snapshot, queue string, now int64, limit int) []Candidate {
	p := newPass(s, now)
	var qs *queueState
	for _, q := range p.queues {
		if q.q.Arn == queue {
			qs = q
		}
	}
	if qs == nil {
		return nil
	}
	var out []Candidate
	if !qs.fair {
		l := qs.lines[""]
		for l != nil && l.jobs.len() > 0 && len(out) < limit {
			out = append(out, p.s.Runnable[l.jobs.pop()])
		}
		return out
	}
	shares := shareHeap(qs)
	for shares.len() > 0 && len(out) < limit {
		l := shares.peek()
		if l.jobs.len() == 0 {
			if l.truncated {
				break
			}
			shares.remove(l.pos)
			continue
		}
		c := p.s.Runnable[l.jobs.pop()]
		l.alloc += max(c.Instances, 1)
		shares.fix(l.pos)
		out = append(out, c)
	}
	return out
}

// CandidateOf is the scheduler's view of a RUNNABLE job.
func CandidateOf(j *model.ServiceJob) Candidate {
	return Candidate{
		JobID: j.JobID, Queue: j.JobQueue, Share: j.ShareIdentifier, Priority: j.SchedulingPriority,
		CreatedAt: j.CreatedAt, Instances: j.Instances, StatusReason: j.StatusReason, BlockedSince: j.BlockedSince,
		NotBefore: j.NotBefore, InstanceType: j.InstanceType, RuntimeBound: j.RuntimeBound(), ReservedAt: j.ReservedAt,
	}
}

// AllocationOf is the scheduler's view of a job holding capacity.
func AllocationOf(j *model.ServiceJob) Allocation {
	return Allocation{
		JobID: j.JobID, Queue: j.JobQueue, Share: j.ShareIdentifier, Environment: j.ServiceEnvironment, Instances: j.Instances,
		InstanceType: j.InstanceType, Since: j.ScheduledAt, RuntimeBound: j.RuntimeBound(),
		Priority: j.SchedulingPriority, Stopping: j.StopRequestedAt != 0 || j.TerminateReason != "" || j.PreemptReason != "",
	}
}
