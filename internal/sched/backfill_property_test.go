package sched_test

import (
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
)

// The scheduler's capacity profiles checked from the outside: every job
// that holds, gets or is promised capacity, as intervals of time per
// environment, written independently of the scheduler's own code.

type held struct {
	job      string
	from, to int64 // ms, to exclusive
	n        int64
	planned  bool // placed or reserved by the pass (not running before it)
}

type load struct {
	max  int64
	held []held
}

func boundOf(seconds int64) int64 {
	if seconds <= 0 {
		seconds = model.DefaultMaxRuntimeSeconds
	}
	return seconds * 1000
}

// endOf is the contract of Allocation: a job holds its capacity until
// Since + RuntimeBound (Since 0: it started now), and at least until just
// after now.
func endOf(a sched.Allocation) int64 {
	since := a.Since
	if since <= 0 || since > now {
		since = now
	}
	return max(since+boundOf(a.RuntimeBound), now+1)
}

// loads is every environment's holds after the pass: running jobs, placed
// jobs (from now for their bound) and reservations, except the reservation
// of skip.
func loads(s *sched.Snapshot, d sched.Decisions, skip string) map[string]*load {
	out := map[string]*load{}
	for _, e := range s.Environments {
		out[e.Arn] = &load{max: e.MaxInstances()}
	}
	add := func(env string, h held) {
		if l := out[env]; l != nil {
			l.held = append(l.held, h)
		}
	}
	for _, a := range s.Active {
		add(a.Environment, held{job: a.JobID, from: now, to: endOf(a), n: a.Instances})
	}
	cands := candidates(s)
	for _, a := range d.Admit {
		add(a.Environment, held{job: a.JobID, from: now, to: now + boundOf(cands[a.JobID].RuntimeBound), n: a.Instances, planned: true})
	}
	for _, r := range d.Reservations {
		if r.JobID != skip {
			add(r.Environment, held{job: r.JobID, from: r.At, to: r.Until, n: r.Instances, planned: true})
		}
	}
	return out
}

func candidates(s *sched.Snapshot) map[string]sched.Candidate {
	out := map[string]sched.Candidate{}
	for _, c := range s.Runnable {
		out[c.JobID] = c
	}
	return out
}

// at is the instances held at t.
func (l *load) at(t int64) (total int64, planned bool) {
	for _, h := range l.held {
		if h.from <= t && t < h.to {
			total += h.n
			planned = planned || h.planned
		}
	}
	return total, planned
}

// fits reports whether n more instances fit over [t, t+d).
func (l *load) fits(t, d, n int64) bool {
	points := []int64{t}
	for _, h := range l.held {
		if h.from > t && h.from < t+d {
			points = append(points, h.from)
		}
	}
	for _, p := range points {
		if total, _ := l.at(p); total+n > l.max {
			return false
		}
	}
	return true
}

// TestPropertyReservationsHold checks backfill's promise over random
// snapshots: taking every placement for its runtime bound and every
// reservation for the reserved job's bound, no environment is ever over its
// capacity at a time a placement or reservation holds some of it (running
// jobs alone may be, in an environment whose capacity was lowered); every
// reservation is where its queue may place, no earlier than the job may
// start, and no later than needed: at no earlier time would the job have
// fitted in any environment of its queue.
func TestPropertyReservationsHold(t *testing.T) {
	forRandomSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		for env, l := range loads(s, d, "") {
			for _, h := range l.held {
				if !h.planned {
					continue
				}
				if total, _ := l.at(h.from); total > l.max {
					t.Fatalf("environment %s: %d instances held at +%d ms, when %s begins, capacity %d", env, total, h.from-now, h.job, l.max)
				}
			}
		}
		queues := map[string]model.JobQueue{}
		for _, q := range s.Queues {
			queues[q.Arn] = q
		}
		envs := map[string]model.ServiceEnvironment{}
		for _, e := range s.Environments {
			envs[e.Arn] = e
		}
		cands := candidates(s)
		taken := map[string]bool{}
		for _, a := range d.Admit {
			taken[a.JobID] = true
		}
		for _, x := range d.Terminate {
			taken[x.JobID] = true
		}
		for _, r := range d.Reservations {
			c, q := cands[r.JobID], queues[cands[r.JobID].Queue]
			switch {
			case taken[r.JobID]:
				t.Fatalf("%s both reserved and placed or ended", r.JobID)
			case !q.Backfill:
				t.Fatalf("%s reserved in queue %s, which does not backfill", r.JobID, q.Name)
			case !contains(q.Environments(), r.Environment) || !enabled(s, r.Environment):
				t.Fatalf("%s reserved in %s: not an enabled environment of its queue", r.JobID, r.Environment)
			case r.At < now || r.At < c.NotBefore:
				t.Fatalf("%s reserved from +%d ms, before it may start (backoff until +%d ms)", r.JobID, r.At-now, c.NotBefore-now)
			case r.Until-r.At != boundOf(c.RuntimeBound) || r.Instances != c.Instances:
				t.Fatalf("%s reserved %d instances for %d ms; it needs %d for %d ms", r.JobID, r.Instances, r.Until-r.At, c.Instances, boundOf(c.RuntimeBound))
			}
			taken[r.JobID] = true
			// The candidate start times before r.At: the earliest it may
			// start, and every end of a hold.
			from := max(now, c.NotBefore)
			others := loads(s, d, r.JobID)
			for _, env := range q.Environments() {
				l := others[env]
				if l == nil || !enabled(s, env) {
					continue
				}
				starts := []int64{from}
				for _, h := range l.held {
					if h.to > from && h.to < r.At {
						starts = append(starts, h.to)
					}
				}
				for _, t0 := range starts {
					if t0 < r.At && l.fits(t0, r.Until-r.At, r.Instances) {
						t.Fatalf("%s reserved in %s from +%d ms, but it fits in %s from +%d ms", r.JobID, r.Environment, r.At-now, env, t0-now)
					}
				}
			}
		}
	})
}
