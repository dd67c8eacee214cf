package sched

import (
	"fmt"
	"sort"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Quota management (a queue whose policy has a quotaSharePolicy) is served
// by serveQuota. The queue has one environment whose limits are per instance
// type, and its jobs are split into quota shares; each share owns a quota of
// each instance type. A pass, for the queue:
//
//  1. Enforces limits: a share holding more of a type than it may (its
//     quota, plus its borrow limit when it borrows) after an administrator
//     lowered them loses its lowest-priority, most recently started jobs to
//     preemption until it is back within them.
//  2. Serves each share's jobs within its own quota (shares in name order,
//     jobs by schedulingPriority, then createdAt). A job within quota that
//     does not fit because other shares borrow the capacity reclaims it by
//     cross-share preemption; with in-share preemption enabled, it may also
//     preempt lower-priority jobs of its own share. Either way it waits for
//     its victims to stop and is placed by a later pass.
//  3. Lends idle capacity to shares that borrow (LEND_AND_BORROW), in FIFO
//     order of their head jobs' createdAt (idleResourceAssignmentStrategy
//     FIFO), within each share's borrowLimit. Idle quota of a RESERVE share
//     is never lent, nor idle quota a lender's own waiting jobs need.
//
// Preemption never happens when the capacity already free, or being freed
// by jobs that are stopping, would serve the job; and a preemption is only
// made when the victims found free enough capacity for the job, so no job is
// stopped for nothing. Victims are chosen as AWS Batch describes its
// heuristic: first by the instances a job borrows (most first), then by
// priority (lowest first), then by runtime so far (shortest first, so the
// least work is lost), then by job ID.

// Preemption stops a job holding capacity to make room for another.
type Preemption struct {
	JobID        string
	Queue        string
	Share        string
	Instances    int64
	InstanceType string
	// For is the RUNNABLE job the capacity is for ("" when a share is cut
	// down to lowered limits).
	For string
	// Kind says why: cross-share, in-share or limit.
	Kind string
	// Reason is the statusReason of the preempted attempt.
	Reason string
}

// Kinds of preemption.
const (
	PreemptCrossShare = "cross-share"
	PreemptInShare    = "in-share"
	PreemptLimit      = "limit"
)

type qShare struct {
	name      string
	cfg       *model.QuotaShare // nil when the share is gone
	used      map[string]int64  // instances held per type, stopping jobs included
	claim     map[string]int64  // instances its waiting jobs want per type
	jobs      minHeap[int32]
	truncated bool
	done      bool // blocked or empty for the rest of the pass
	allocs    []*Allocation
	byType    map[string][]*Allocation // allocs by instance type, by job ID
	halted    map[string]int64         // instances being stopped, by type
}

func (sh *qShare) quota(t string) int64 {
	if sh.cfg == nil {
		return 0
	}
	return sh.cfg.Quota(t)
}

func (sh *qShare) maxHold(t string) int64 {
	if sh.cfg == nil {
		return 0
	}
	return sh.cfg.MaxHold(t)
}

func (sh *qShare) borrows() bool { return sh.cfg != nil && sh.cfg.Borrows() }

func (sh *qShare) lends() bool { return sh.cfg != nil && sh.cfg.Lends() }

type quotaPass struct {
	p      *pass
	qs     *queueState
	env    *model.ServiceEnvironment
	used   map[string]int64 // per type, every share
	shares []*qShare        // by name
	byName map[string]*qShare
	// halting holds the allocations being stopped, those of the snapshot
	// and the pass's own victims (the snapshot itself is never written).
	halting map[*Allocation]bool
}

// serveQuota runs one pass over a quota-management queue.
func (p *pass) serveQuota(qs *queueState) {
	qp := p.newQuotaPass(qs)
	if qp == nil {
		return
	}
	qp.enforceLimits()
	if !qp.env.Enabled() {
		return
	}
	// Own quota first, share by share.
	for _, sh := range qp.shares {
		for !sh.done {
			c, ok := qp.head(sh)
			if !ok {
				break
			}
			if sh.used[c.InstanceType]+max(c.Instances, 1) > sh.quota(c.InstanceType) {
				break // it would borrow: the borrowing round decides
			}
			qp.try(sh, c)
		}
	}
	// Then lend idle capacity in FIFO order of the heads that would borrow.
	for {
		var first *qShare
		var fc *Candidate
		for _, sh := range qp.shares {
			if sh.done {
				continue
			}
			c, ok := qp.head(sh)
			if !ok {
				continue
			}
			if fc == nil || c.CreatedAt < fc.CreatedAt || c.CreatedAt == fc.CreatedAt && c.JobID < fc.JobID {
				first, fc = sh, c
			}
		}
		if first == nil {
			return
		}
		qp.try(first, fc)
	}
}

func (p *pass) newQuotaPass(qs *queueState) *quotaPass {
	q := qs.q
	var env *model.ServiceEnvironment
	for _, arn := range q.Environments() {
		for i := range p.s.Environments {
			if e := &p.s.Environments[i]; e.Arn == arn && e.QuotaManaged() {
				env = e
			}
		}
		break // a quota-management queue has one environment
	}
	if env == nil {
		return nil
	}
	qp := &quotaPass{p: p, qs: qs, env: env, used: map[string]int64{}, byName: map[string]*qShare{}, halting: map[*Allocation]bool{}}
	share := func(name string) *qShare {
		sh := qp.byName[name]
		if sh == nil {
			sh = &qShare{name: name, used: map[string]int64{}, claim: map[string]int64{}, jobs: minHeap[int32]{less: p.shareLess},
				byType: map[string][]*Allocation{}, halted: map[string]int64{}}
			qp.byName[name] = sh
			qp.shares = append(qp.shares, sh)
		}
		return sh
	}
	for i := range p.s.QuotaShares {
		if s := &p.s.QuotaShares[i]; s.JobQueue == q.Arn {
			share(s.Name).cfg = s
		}
	}
	for i := range p.s.Active {
		a := &p.s.Active[i]
		if a.Queue != q.Arn {
			continue
		}
		sh := share(a.Share)
		if a.Stopping {
			qp.halting[a] = true
			sh.halted[a.InstanceType] += a.Instances
		}
		sh.used[a.InstanceType] += a.Instances
		sh.allocs = append(sh.allocs, a)
		qp.used[a.InstanceType] += a.Instances
	}
	for i := range p.s.Runnable {
		c := &p.s.Runnable[i]
		if c.Queue != q.Arn {
			continue
		}
		sh := share(c.Share)
		sh.jobs.items = append(sh.jobs.items, int32(i))
		if n := max(c.Instances, 1); n <= env.Limit(c.InstanceType) && n <= sh.maxHold(c.InstanceType) {
			sh.claim[c.InstanceType] += n
		}
	}
	for _, k := range p.s.Truncated {
		if k.Queue == q.Arn {
			share(k.Share).truncated = true
		}
	}
	sort.Slice(qp.shares, func(a, b int) bool { return qp.shares[a].name < qp.shares[b].name })
	for _, sh := range qp.shares {
		sh.jobs.init()
		sort.Slice(sh.allocs, func(a, b int) bool { return sh.allocs[a].JobID < sh.allocs[b].JobID })
		for _, a := range sh.allocs {
			sh.byType[a.InstanceType] = append(sh.byType[a.InstanceType], a)
		}
	}
	return qp
}

// head returns a share's next job, asking for more of a truncated line that
// ran out; ok is false (and the share done) when it has none.
func (qp *quotaPass) head(sh *qShare) (*Candidate, bool) {
	if sh.done {
		return nil, false
	}
	if sh.jobs.len() == 0 {
		if sh.truncated {
			qp.p.needMore(ShareKey{Queue: qp.qs.q.Arn, Share: sh.name})
		}
		sh.done = true
		return nil, false
	}
	return &qp.p.s.Runnable[sh.jobs.peek()], true
}

// try places a share's head job, or holds it back: misconfigured (reason,
// time limits), backing off, or waiting for capacity, perhaps after
// preempting for it. A held-back head blocks its share for the pass.
func (qp *quotaPass) try(sh *qShare, c *Candidate) {
	p := qp.p
	n, t := max(c.Instances, 1), c.InstanceType
	if misfit := qp.misfit(sh, c); misfit != "" || c.NotBefore > p.now {
		if p.holdBack(qp.qs, c, misfit) {
			sh.jobs.pop() // ended by a time limit action; the next job is the head
			return
		}
		sh.done = true
		return
	}
	if qp.fits(sh, t, n, nil) {
		sh.jobs.pop()
		sh.used[t] += n
		qp.used[t] += n
		if sh.claim[t] >= n {
			sh.claim[t] -= n
		}
		p.out.Admit = append(p.out.Admit, Admission{JobID: c.JobID, Queue: c.Queue, Share: sh.name, Environment: qp.env.Arn, Instances: n})
		return
	}
	// It could run but does not fit now: a stale MISCONFIGURATION reason
	// goes, and time limits apply to the reason it waits with.
	if p.holdBack(qp.qs, c, "") {
		sh.jobs.pop()
		return
	}
	if !qp.preemptFor(sh, c) {
		sh.done = true // nothing can make room now: the head waits
		return
	}
	// Capacity is on its way for c (stopping jobs, perhaps the victims just
	// chosen): it is spoken for, so count it as c's, and let the jobs behind
	// c claim theirs by preemption too. c itself is placed by a later pass,
	// once its capacity is free.
	sh.jobs.pop()
	sh.used[t] += n
	qp.used[t] += n
	if sh.claim[t] >= n {
		sh.claim[t] -= n
	}
}

// misfit is the MISCONFIGURATION reason of a job that can never run in its
// share as configured, "" for one that can.
func (qp *quotaPass) misfit(sh *qShare, c *Candidate) string {
	n, t := max(c.Instances, 1), c.InstanceType
	if n > qp.env.Limit(t) {
		return model.ReasonMisconfigurationText
	}
	if n > sh.maxHold(t) {
		if sh.borrows() {
			return model.ReasonQuotaBorrowLimitText
		}
		return model.ReasonQuotaLimitText
	}
	if n > sh.quota(t) {
		// It must borrow: is there enough quota that others lend (or that
		// no share owns) to borrow from?
		var owned, lendable int64
		for _, o := range qp.shares {
			owned += o.quota(t)
			if o != sh && o.lends() {
				lendable += o.quota(t)
			}
		}
		lendable += max(qp.env.Limit(t)-owned, 0)
		if n > sh.quota(t)+lendable {
			return model.ReasonQuotaBorrowableText
		}
	}
	return ""
}

// fits reports whether n instances of type t for share sh fit now, with the
// instances in gone (per share) treated as already given back.
func (qp *quotaPass) fits(sh *qShare, t string, n int64, gone map[*qShare]int64) bool {
	used := qp.used[t]
	for _, g := range gone {
		used -= g
	}
	free := qp.env.Limit(t) - used
	if free < n {
		return false
	}
	mine := sh.used[t] - gone[sh]
	if mine+n <= sh.quota(t) {
		return true // within its own quota
	}
	if !sh.borrows() || mine+n > sh.maxHold(t) {
		return false
	}
	// Borrowing: what stays free must still cover the idle quota of RESERVE
	// shares and the idle quota lenders' waiting jobs want back.
	var protected int64
	for _, o := range qp.shares {
		if o == sh {
			continue
		}
		idle := max(o.quota(t)-(o.used[t]-gone[o]), 0)
		if o.lends() {
			idle = min(idle, o.claim[t])
		}
		protected += idle
	}
	return free-n >= protected
}

// stopping is the instances per share of type t whose jobs are already being
// stopped: they will be free soon.
func (qp *quotaPass) stopping(t string) map[*qShare]int64 {
	gone := make(map[*qShare]int64, len(qp.shares))
	for _, sh := range qp.shares {
		if n := sh.halted[t]; n > 0 {
			gone[sh] = n
		}
	}
	return gone
}

type victim struct {
	sh *qShare
	a  *Allocation
}

// preemptFor chooses victims for a head job that does not fit, and preempts
// them only if together with the capacity already being freed they make it
// fit. Capacity being freed that suffices on its own preempts nothing. It
// reports whether capacity for the job is on its way.
func (qp *quotaPass) preemptFor(sh *qShare, c *Candidate) bool {
	n, t := max(c.Instances, 1), c.InstanceType
	gone := qp.stopping(t)
	if qp.fits(sh, t, n, gone) {
		return true // enough is on its way
	}
	var chosen []victim
	taken := map[*Allocation]bool{}
	within := sh.used[t]-gone[sh]+n <= sh.quota(t)
	if within {
		// Cross-share: take back what other shares borrow.
		for !qp.fits(sh, t, n, gone) {
			v, ok := qp.bestCrossShare(sh, t, gone, taken)
			if !ok {
				break
			}
			chosen, taken[v.a] = append(chosen, v), true
			gone[v.sh] += v.a.Instances
		}
	}
	if !qp.fits(sh, t, n, gone) && sh.cfg != nil && sh.cfg.InSharePreemption() {
		// In-share: lower-priority jobs of the same share.
		var own []*Allocation
		for _, a := range sh.byType[t] {
			if !qp.halting[a] && a.Priority < c.Priority && !taken[a] {
				own = append(own, a)
			}
		}
		sort.Slice(own, func(i, j int) bool { return qp.weaker(own[i], own[j]) })
		for _, a := range own {
			if qp.fits(sh, t, n, gone) {
				break
			}
			chosen = append(chosen, victim{sh, a})
			gone[sh] += a.Instances
		}
	}
	if len(chosen) == 0 || !qp.fits(sh, t, n, gone) {
		return false // preempting could not make room: stop nothing
	}
	// Spare the victims the job can do without (a later, larger victim may
	// have made an earlier one needless).
	for i := 0; i < len(chosen); {
		v := chosen[i]
		gone[v.sh] -= v.a.Instances
		if qp.fits(sh, t, n, gone) {
			chosen = append(chosen[:i], chosen[i+1:]...)
			continue
		}
		gone[v.sh] += v.a.Instances
		i++
	}
	for _, v := range chosen {
		kind, reason := PreemptInShare, fmt.Sprintf("%s - Preempted by job %s of higher priority (%d) in quota share %s", model.ReasonPreempted, c.JobID, c.Priority, sh.name)
		if v.sh != sh {
			kind = PreemptCrossShare
			reason = fmt.Sprintf("%s - Capacity lent by quota share %s reclaimed for its job %s; quota share %s was borrowing %s instances",
				model.ReasonPreempted, sh.name, c.JobID, v.sh.name, t)
		}
		qp.preempt(v, c.JobID, kind, reason)
	}
	return true
}

// bestCrossShare picks the next cross-share victim of type t: a job of a
// share that still borrows once gone is given back, the one borrowing the
// most instances first, then lowest priority, then shortest runtime.
func (qp *quotaPass) bestCrossShare(for_ *qShare, t string, gone map[*qShare]int64, taken map[*Allocation]bool) (victim, bool) {
	var best victim
	var bestLent int64
	found := false
	for _, o := range qp.shares {
		if o == for_ {
			continue
		}
		borrowed := o.used[t] - gone[o] - o.quota(t)
		if borrowed <= 0 {
			continue
		}
		for _, a := range o.byType[t] {
			if qp.halting[a] || taken[a] {
				continue
			}
			lent := min(a.Instances, borrowed)
			if !found || lent > bestLent || lent == bestLent && qp.weaker(a, best.a) {
				best, bestLent, found = victim{o, a}, lent, true
			}
		}
	}
	return best, found
}

// weaker orders victims: lower priority first, then shorter runtime so far
// (started later), then job ID.
func (qp *quotaPass) weaker(a, b *Allocation) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	if a.Since != b.Since {
		return a.Since > b.Since
	}
	return a.JobID < b.JobID
}

func (qp *quotaPass) preempt(v victim, forJob, kind, reason string) {
	qp.halting[v.a] = true
	v.sh.halted[v.a.InstanceType] += v.a.Instances
	qp.p.out.Preempt = append(qp.p.out.Preempt, Preemption{
		JobID: v.a.JobID, Queue: v.a.Queue, Share: v.sh.name, Instances: v.a.Instances, InstanceType: v.a.InstanceType,
		For: forJob, Kind: kind, Reason: reason,
	})
}

// enforceLimits preempts the jobs a share holds beyond its limits (quota,
// plus borrow limit) once its stopping jobs are discounted, weakest first.
func (qp *quotaPass) enforceLimits() {
	for _, sh := range qp.shares {
		types := map[string]bool{}
		for t := range sh.byType {
			types[t] = true
		}
		for _, t := range sortedKeys(types) {
			held := sh.used[t] - sh.halted[t]
			limit := sh.maxHold(t)
			if held <= limit {
				continue
			}
			var own []*Allocation
			for _, a := range sh.byType[t] {
				if !qp.halting[a] {
					own = append(own, a)
				}
			}
			sort.Slice(own, func(i, j int) bool { return qp.weaker(own[i], own[j]) })
			reason := fmt.Sprintf("%s - Quota share %s holds %d %s instances, more than its capacity limits allow (%d)",
				model.ReasonPreempted, sh.name, held, t, limit)
			for _, a := range own {
				if held <= limit {
					break
				}
				qp.preempt(victim{sh, a}, "", PreemptLimit, reason)
				held -= a.Instances
			}
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// isMisconfiguration reports whether a statusReason is one of the
// MISCONFIGURATION reasons the scheduler sets.
func isMisconfiguration(reason string) bool {
	switch model.ReasonCode(reason) {
	case model.ReasonMisconfiguration, model.ReasonQuotaLimit:
		return true
	}
	return false
}

// QuotaFront returns, for a quota-management queue, each share's RUNNABLE
// jobs in the order the share takes them (schedulingPriority, then
// createdAt), up to limit per share: GetJobQueueSnapshot's
// frontOfQuotaShares. A truncated line shows the prefix it has.
func QuotaFront(s *Snapshot, queue string, limit int) map[string][]Candidate {
	p := &pass{s: s}
	lines := map[string]*minHeap[int32]{}
	for i := range s.Runnable {
		c := &s.Runnable[i]
		if c.Queue != queue {
			continue
		}
		h := lines[c.Share]
		if h == nil {
			h = &minHeap[int32]{less: p.shareLess}
			lines[c.Share] = h
		}
		h.items = append(h.items, int32(i))
	}
	out := map[string][]Candidate{}
	for share, h := range lines {
		h.init()
		for h.len() > 0 && len(out[share]) < limit {
			out[share] = append(out[share], s.Runnable[h.pop()])
		}
	}
	return out
}
