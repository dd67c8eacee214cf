package sched

import (
	"cmp"
	"fmt"
	"slices"
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
// On the openb trace (docs/benchmarks.md) 64 gave the same waits as 32 at
// 1.6 times the cost.
const MaxReservations = 32

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

// admit places c (n instances of line l) in env. It reports whether the
// placement made the share active (one more share holding capacity).
func (p *pass) admit(qs *queueState, l *line, env *envState, c *Candidate, n int64) (activated bool) {
	env.free -= n
	if env.plan != nil {
		env.plan.free -= n
	}
	d := p.holdMs(qs, env, c)
	p.placed = append(p.placed, placed{env, n, d})
	if env.prof != nil {
		env.prof.take(p.now, p.now+d, n)
	}
	if qs.fair && l.alloc == 0 {
		qs.active++
		activated = true
	}
	l.alloc += n
	p.out.Admit = append(p.out.Admit, Admission{
		JobID: c.JobID, Queue: c.Queue, Share: l.key.Share, Environment: env.arn, Instances: n,
	})
	return activated
}

// held reports whether c holds a reservation from an earlier pass.
func held(c *Candidate) bool { return c.ReservedAt > 0 && isBackfillReason(c.StatusReason) }

func isBackfillReason(s string) bool { return strings.HasPrefix(s, model.ReasonBackfill+" - ") }

// serveReserved serves the jobs of a backfill queue that hold a reservation
// from an earlier pass before all others, in the order of their
// reservations, as conservative backfill compresses its schedule: each of
// them placed now or reserved again over the capacity the ones before it
// left, so that no reservation moves later (the jobs that started since
// were placed around it). The rest of the queue follows in its own order.
// It reports false, having asked for more, when a line it read is all
// reserved jobs: the queue waits for a pass that read further.
func (p *pass) serveReserved(qs *queueState) bool {
	type job struct {
		l   *line
		idx int32
	}
	var jobs []job
	more := false
	for _, l := range sortedLines(qs) {
		all := true
		for _, idx := range l.jobs.items {
			if held(&p.s.Runnable[idx]) {
				jobs = append(jobs, job{l, idx})
			} else {
				all = false
			}
		}
		if all && l.truncated {
			// The reserved jobs are the front of their line (the last pass
			// went through it in order): some may be past what was read.
			p.needMore(l.key)
			more = true
		}
	}
	if more {
		return false
	}
	slices.SortFunc(jobs, func(a, b job) int {
		ca, cb := &p.s.Runnable[a.idx], &p.s.Runnable[b.idx]
		if c := cmp.Compare(ca.ReservedAt, cb.ReservedAt); c != 0 {
			return c
		}
		if c := cmp.Compare(ca.CreatedAt, cb.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(ca.JobID, cb.JobID)
	})
	for _, j := range jobs {
		if qs.looked >= MaxReservations {
			return true
		}
		c := &p.s.Runnable[j.idx]
		n := max(c.Instances, 1)
		if p.blocked(qs, c, n, "") {
			p.mark(j.idx, markServed)
			continue
		}
		var env *envState
		reservationOnly := false
		if c.NotBefore <= p.now {
			env, reservationOnly, _ = p.place(qs, j.l, c, n)
		}
		switch {
		case env != nil:
			p.admit(qs, j.l, env, c, n)
		case reservationOnly:
			// computeReservation holds it back now; the queue's own order
			// decides, and it keeps its reason meanwhile.
			continue
		default:
			p.goPast(qs, j.l, j.idx, n, max(p.now, c.NotBefore))
		}
		p.mark(j.idx, markServed)
	}
	return true
}

// Marks of candidates, by index into Snapshot.Runnable.
const (
	markServed = 1 << iota // served ahead of its line, as a reserved job
	markKept               // its backfill reason is still true: no update
)

func (p *pass) mark(idx int32, m uint8) {
	if p.marks == nil {
		p.marks = make([]uint8, len(p.s.Runnable))
	}
	p.marks[idx] |= m
}

func (p *pass) marked(idx int32, m uint8) bool { return p.marks != nil && p.marks[idx]&m != 0 }

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
	e.prof = newProfile(p.now, p.capacitySteps(e), holds)
	return e.prof
}

// goPast handles a job of a backfill queue that cannot start now (it does
// not fit, would delay a reservation, or is backing off until from): it
// gets a reservation, and the queue goes on to the jobs behind it. A job
// that can never fit gets none and does not hold the queue either (its
// MISCONFIGURATION reason and the queue's time limits deal with it). The
// queue stops once it has passed over MaxReservations jobs.
func (p *pass) goPast(qs *queueState, l *line, idx int32, n, from int64) {
	c := &p.s.Runnable[idx]
	qs.looked++
	if n > qs.maxFit {
		return
	}
	d := boundMs(c.RuntimeBound)
	blocker := "" // the job whose reservation keeps it from starting now
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
	if p.out.Reservations == nil {
		p.out.Reservations = make([]Reservation, 0, 16)
	}
	best.prof.reservations = append(best.prof.reservations, int32(len(p.out.Reservations)))
	p.out.Reservations = append(p.out.Reservations, Reservation{
		JobID: c.JobID, Queue: c.Queue, Share: l.key.Share, Environment: best.arn, Instances: n, At: at, Until: at + d,
	})
	r := &p.out.Reservations[len(p.out.Reservations)-1]
	best.prof.take(r.At, r.Until, n)
	// The share is charged for what it reserved, so that the other shares
	// take their turns to fill the gap.
	l.reserved += n
	_, changed := p.reasonAt[c.JobID]
	switch cur := p.reasonOf(c); {
	case cur != "" && !isBackfillReason(cur):
		// Another reason (a capacity failure) keeps its time limit clock.
	case !changed && saysSo(cur, c.ReservedAt, r, blocker):
		p.mark(idx, markKept)
	default:
		p.setReason(c, reservedReason(r, blocker, d), r.At)
	}
}

// saysSo reports whether a job's backfill reason (for a reservation at
// reservedAt) already tells of reservation r and blocker, so that a pass
// need not write it again. It reads the text reservedReason writes, whose
// variable parts sit at known places, without scanning it.
func saysSo(reason string, reservedAt int64, r *Reservation, blocker string) bool {
	if reservedAt != r.At {
		return false
	}
	s, ok := cutPrefixes(reason, textReserved, nameOf(r.Environment), textFrom)
	if !ok || len(s) < stampLen {
		return false
	}
	if s, ok = cutPrefixes(s[stampLen:], textLatest); !ok {
		return false
	}
	if blocker == "" {
		return strings.HasPrefix(s, textWaiting)
	}
	rest, ok := strings.CutSuffix(s, "'s reservation.")
	rest, ok2 := strings.CutSuffix(rest, blocker)
	return ok && ok2 && strings.HasPrefix(s, textNotBackfilled) && strings.HasSuffix(rest, textWouldDelay)
}

// cutPrefixes cuts the prefixes off s one after the other.
func cutPrefixes(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		var ok bool
		if s, ok = strings.CutPrefix(s, p); !ok {
			return "", false
		}
	}
	return s, true
}

// The parts of a backfill reason.
const (
	textReserved      = model.ReasonBackfill + " - Reserved in "
	textFrom          = " from "
	stampLen          = len("2006-01-02T15:04:05Z") // RFC 3339 in UTC, to the second
	textLatest        = ", the latest start if the jobs ahead run to their runtime bounds. "
	textWaiting       = "Waiting for "
	textNotBackfilled = "Not backfilled now: "
	textWouldDelay    = " would delay job "
)

// wouldDelay finds the reservation that keeps a job of n instances for d ms
// from starting now in an environment where n instances are free.
func (p *pass) wouldDelay(qs *queueState, d, n int64) string {
	for _, e := range qs.envs {
		if !e.enabled || e.free < n || e.prof == nil {
			continue
		}
		t := e.prof.short(p.now, d, n)
		if t < 0 {
			continue
		}
		for _, i := range e.prof.reservations {
			if r := &p.out.Reservations[i]; r.At <= t && t < r.Until {
				return r.JobID
			}
		}
	}
	return ""
}

func reservedReason(r *Reservation, blocker string, d int64) string {
	head := textReserved + nameOf(r.Environment) + textFrom + time.UnixMilli(r.At).UTC().Format(time.RFC3339) + textLatest
	if blocker != "" {
		return fmt.Sprintf("%s%sthe %d instances it needs are free, but running for its runtime bound (%d s)%s%s's reservation.",
			head, textNotBackfilled, r.Instances, d/1000, textWouldDelay, blocker)
	}
	return fmt.Sprintf("%s%s%d instances.", head, textWaiting, r.Instances)
}

// setReason gives c a new statusReason and ReservedAt; a job's reason may
// change several times in a pass (a MISCONFIGURATION reason cleared, then a
// reservation), but the plan holds one update per job.
func (p *pass) setReason(c *Candidate, reason string, reservedAt int64) {
	if i, ok := p.reasonAt[c.JobID]; ok {
		p.out.Reasons[i].Reason, p.out.Reasons[i].ReservedAt = reason, reservedAt
		return
	}
	if p.reasonAt == nil {
		p.reasonAt = map[string]int{}
	}
	p.reasonAt[c.JobID] = len(p.out.Reasons)
	p.reasonFor = append(p.reasonFor, c)
	p.out.Reasons = append(p.out.Reasons, ReasonUpdate{JobID: c.JobID, Reason: reason, ReservedAt: reservedAt})
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
		if c := p.reasonFor[i]; u.Reason != c.StatusReason || u.ReservedAt != c.ReservedAt {
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
		if _, ok := p.reasonAt[c.JobID]; ok || p.marked(int32(i), markKept) || held(c) && !p.marked(int32(i), markServed) && p.queueBackfills(c.Queue) {
			// Set in this pass, or a reserved job that computeReservation
			// or MaxReservations kept from being served: it keeps its place.
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

// queueBackfills reports whether the queue of that ARN backfills.
func (p *pass) queueBackfills(arn string) bool {
	for _, qs := range p.queues {
		if qs.q.Arn == arn {
			return qs.q.Backfill
		}
	}
	return false
}

func nameOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }
