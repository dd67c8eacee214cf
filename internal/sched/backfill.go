package sched

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
)

// MaxReservations is how many jobs of one backfill queue a pass looks at
// without starting them (reserved, or skipped because they can never fit)
// before it stops serving the queue, as Slurm's backfill stops after
// bf_max_job_test jobs: a pass costs O(admitted + MaxReservations) per queue
// whatever the backlog, and the jobs further back wait for a later pass.
const MaxReservations = 64

// Reservation is the latest time a job that could not start now will start,
// if the jobs that hold capacity run to their runtime bounds: the earliest
// time enough capacity frees up for the whole of its own runtime bound.
// Jobs placed later in the pass, and in later passes, may not take capacity
// that this would need.
type Reservation struct {
	JobID       string
	Queue       string
	Share       string
	Environment string
	Instances   int64
	At          int64 // epoch ms
	Until       int64 // At plus the job's runtime bound (epoch ms)
}

// boundMs is a runtime bound in ms; a job without one has SageMaker's
// default.
func boundMs(seconds int64) int64 {
	if seconds <= 0 {
		seconds = model.DefaultMaxRuntimeSeconds
	}
	return seconds * 1000
}

// allocationEnd is the latest time a running job holds its capacity. One
// past its bound still holds it (SageMaker is stopping it, or its event is
// late) and may end at any moment.
func allocationEnd(a *Allocation, now int64) int64 {
	since := a.Since
	if since <= 0 || since > now {
		since = now
	}
	return max(since+boundMs(a.RuntimeBound), now+1)
}

// placed is a job admitted in the pass, as the profiles built after it must
// see it.
type placed struct {
	env   *envState
	n, ms int64
}

// admit places c (n instances) in env.
func (p *pass) admit(env *envState, c *Candidate, n int64) {
	env.free -= n
	d := boundMs(c.RuntimeBound)
	p.placed = append(p.placed, placed{env, n, d})
	if env.prof != nil {
		env.prof.take(p.now, p.now+d, n)
	}
}

// fitsNow reports whether n instances for d ms can start in e now without
// taking capacity a reservation needs.
func (e *envState) fitsNow(now, d, n int64) bool {
	return e.free >= n && (e.prof == nil || e.prof.earliest(now, d, n) == now)
}

// profile returns the environment's capacity profile, building it on first
// use from the running jobs and the jobs placed so far in the pass.
func (p *pass) profile(e *envState) *profile {
	if e.prof != nil {
		return e.prof
	}
	var holds []hold
	for i := range p.s.Active {
		if a := &p.s.Active[i]; a.Environment == e.arn {
			holds = append(holds, hold{Until: allocationEnd(a, p.now), Instances: a.Instances})
		}
	}
	for _, pl := range p.placed {
		if pl.env == e {
			holds = append(holds, hold{Until: p.now + pl.ms, Instances: pl.n})
		}
	}
	e.prof = newProfile(p.now, []step{{At: p.now, Instances: e.max}}, holds)
	return e.prof
}

// goPast handles a job of a backfill queue that cannot start now (it does
// not fit, would delay a reservation, or is backing off until from): it
// gets a reservation, and the queue goes on to the jobs behind it. A job
// that can never fit gets none and does not hold the queue either (its
// MISCONFIGURATION reason and the queue's time limits deal with it). The
// queue stops once it has passed over MaxReservations jobs.
func (p *pass) goPast(qs *queueState, l *line, c *Candidate, n, from int64) {
	qs.looked++
	if n > qs.maxFit {
		return
	}
	d := boundMs(c.RuntimeBound)
	var blocker *Reservation
	if from <= p.now {
		blocker = p.wouldDelay(qs, d, n)
	}
	var best *envState
	at := int64(-1)
	for _, e := range qs.envs {
		if !e.enabled || e.max < n {
			continue
		}
		if t := p.profile(e).earliest(from, d, n); t >= 0 && (at < 0 || t < at) {
			best, at = e, t
		}
	}
	if best == nil {
		return // no enabled environment can take it; nothing to reserve
	}
	r := &Reservation{
		JobID: c.JobID, Queue: c.Queue, Share: l.key.Share, Environment: best.arn, Instances: n, At: at, Until: at + d,
	}
	best.prof.take(r.At, r.Until, n)
	best.prof.reservations = append(best.prof.reservations, r)
	p.out.Reservations = append(p.out.Reservations, *r)
	// The share is charged for what it reserved, so that the other shares
	// take their turns to fill the gap.
	l.reserved += n
	if cur := p.reasonOf(c); cur == "" || model.ReasonCode(cur) == model.ReasonBackfill {
		p.setReason(c, reservedReason(r, blocker, d))
	}
}

// wouldDelay finds the reservation that keeps a job of n instances for d ms
// from starting now in an environment where n instances are free.
func (p *pass) wouldDelay(qs *queueState, d, n int64) *Reservation {
	for _, e := range qs.envs {
		if !e.enabled || e.free < n || e.prof == nil {
			continue
		}
		t := e.prof.short(p.now, d, n)
		if t < 0 {
			continue
		}
		for _, r := range e.prof.reservations {
			if r.At <= t && t < r.Until {
				return r
			}
		}
	}
	return nil
}

func reservedReason(r, blocker *Reservation, d int64) string {
	at := fmt.Sprintf("reserved in %s from %s (the latest start if the jobs ahead run to their runtime bounds)", nameOf(r.Environment), stamp(r.At))
	if blocker != nil {
		return fmt.Sprintf("%s - Not backfilled: the %d instances it needs are free, but running for its runtime bound (%d s) would delay job %s, reserved from %s; %s.",
			model.ReasonBackfill, r.Instances, d/1000, blocker.JobID, stamp(blocker.At), at)
	}
	return fmt.Sprintf("%s - Waiting for %d instances; %s.", model.ReasonBackfill, r.Instances, at)
}

func stamp(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func nameOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// setReason gives c a new statusReason; a job's reason may change several
// times in a pass (a MISCONFIGURATION reason cleared, then a reservation),
// but the plan holds one update per job.
func (p *pass) setReason(c *Candidate, reason string) {
	if i, ok := p.reasonAt[c.JobID]; ok {
		p.out.Reasons[i].Reason = reason
		return
	}
	if p.reasonAt == nil {
		p.reasonAt = map[string]int{}
	}
	p.reasonAt[c.JobID] = len(p.out.Reasons)
	p.reasonFor = append(p.reasonFor, c)
	p.out.Reasons = append(p.out.Reasons, ReasonUpdate{JobID: c.JobID, Reason: reason})
}

// reasonOf is c's statusReason as the pass leaves it so far.
func (p *pass) reasonOf(c *Candidate) string {
	if i, ok := p.reasonAt[c.JobID]; ok {
		return p.out.Reasons[i].Reason
	}
	return c.StatusReason
}

// finishReasons drops the updates that end where they began, and clears the
// backfill reasons of jobs this pass did not reserve (a queue whose
// backfill was turned off, a job overtaken by one of higher priority), so
// that no job shows a reservation it no longer has.
func (p *pass) finishReasons() {
	kept := p.out.Reasons[:0]
	for i, u := range p.out.Reasons {
		if u.Reason != p.reasonFor[i].StatusReason {
			kept = append(kept, u)
		}
	}
	p.out.Reasons = kept
	var stale []string
	var gone map[string]bool
	for i := range p.s.Runnable {
		c := &p.s.Runnable[i]
		if c.StatusReason == "" || !strings.HasPrefix(c.StatusReason, model.ReasonBackfill) {
			continue
		}
		if _, ok := p.reasonAt[c.JobID]; ok {
			continue
		}
		if gone == nil {
			gone = map[string]bool{}
			for _, a := range p.out.Admit {
				gone[a.JobID] = true
			}
			for _, t := range p.out.Terminate {
				gone[t.JobID] = true
			}
		}
		if !gone[c.JobID] {
			stale = append(stale, c.JobID)
		}
	}
	sort.Strings(stale)
	for _, id := range stale {
		p.out.Reasons = append(p.out.Reasons, ReasonUpdate{JobID: id})
	}
}

// heldLine marks the lines of a backfill fair-share queue whose head holds
// a reservation from an earlier pass (its statusReason says so): they are
// served first, oldest reservation first, so that a blocked share keeps
// its reservation while the shares' order moves with their usage.
func (p *pass) heldLine(qs *queueState, l *line) {
	l.held = false
	if !qs.q.Backfill || l.jobs.len() == 0 {
		return
	}
	c := &p.s.Runnable[l.jobs.peek()]
	if model.ReasonCode(c.StatusReason) == model.ReasonBackfill {
		l.held, l.heldSince = true, c.BlockedSince
	}
}
