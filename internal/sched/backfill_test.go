package sched_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// bounded is a candidate with a runtime bound in seconds.
func bounded(c sched.Candidate, seconds int64) sched.Candidate {
	c.RuntimeBound = seconds
	return c
}

// holding is a running job that began age seconds ago with a runtime bound:
// it holds its instances until now - age + bound at the latest.
func holding(id, queue, share, env string, n, age, bound int64) sched.Allocation {
	a := running(id, queue, share, env, n)
	a.Since, a.RuntimeBound = now-age*1000, bound
	return a
}

// reserved is a candidate an earlier pass reserved for, seconds from now.
func reserved(c sched.Candidate, seconds int64) sched.Candidate {
	c.ReservedAt = now + seconds*1000
	return c
}

func backfillQueue(name string, priority int32, policy string, envs ...string) model.JobQueue {
	q := sim.Queue(name, priority, policy, envs...)
	q.Backfill = true
	return q
}

func reservationsOf(d sched.Decisions) map[string]int64 {
	out := map[string]int64{}
	for _, r := range d.Reservations {
		out[r.JobID] = (r.At - now) / 1000
	}
	return out
}

func reasonsOf(d sched.Decisions) map[string]string {
	out := map[string]string{}
	for _, r := range d.Reasons {
		out[r.JobID] = r.Reason
	}
	return out
}

func TestBackfillRules(t *testing.T) {
	policy := sim.Policy(fpol, 0, 0)
	tests := map[string]struct {
		snap         sched.Snapshot
		admit        []string
		reservations map[string]int64  // job -> seconds from now
		reasons      map[string]string // job -> prefix of the new reason
	}{
		"FIFO: a short job runs around the blocked head, a long one waits": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
				Active:       []sched.Allocation{holding("r1", fifo, "", envA, 2, 10, 100)}, // until +90 s
				Runnable: []sched.Candidate{
					bounded(job("head", fifo, "", 0, 30, 4), 600),
					bounded(job("long", fifo, "", 0, 20, 1), 200),
					bounded(job("short", fifo, "", 0, 10, 1), 60),
					bounded(job("exact", fifo, "", 0, 5, 1), 90),
				},
			},
			admit:        []string{"short", "exact"},
			reservations: map[string]int64{"head": 90, "long": 690},
			reasons: map[string]string{
				"head": "BACKFILL:RESERVED - Reserved in a from 2027-01-15T08:01:30Z, the latest start if the jobs ahead run to their runtime bounds. Waiting for 4 instances.",
				"long": "BACKFILL:RESERVED - Reserved in a from 2027-01-15T08:11:30Z, the latest start if the jobs ahead run to their runtime bounds. Not backfilled now: the 1 instances it needs are free, but running for its runtime bound (200 s) would delay job head's reservation.",
			},
		},
		"FIFO: a job that fits beside the reservation starts even if it runs long": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
				Active:       []sched.Allocation{holding("r1", fifo, "", envA, 2, 10, 100)},
				Runnable: []sched.Candidate{
					bounded(job("head", fifo, "", 0, 30, 3), 600),
					bounded(job("beside", fifo, "", 0, 20, 1), 100_000),
				},
			},
			admit:        []string{"beside"},
			reservations: map[string]int64{"head": 90},
		},
		"FIFO without backfill: the head blocks the queue": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{sim.Queue("fifo", 1, "", "a")},
				Active:       []sched.Allocation{holding("r1", fifo, "", envA, 2, 10, 100)},
				Runnable: []sched.Candidate{
					bounded(job("head", fifo, "", 0, 30, 4), 600),
					bounded(job("short", fifo, "", 0, 10, 1), 60),
				},
			},
			admit:        []string{},
			reservations: map[string]int64{},
		},
		"a head that can never fit does not block a backfill queue": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
				Runnable: []sched.Candidate{
					job("huge", fifo, "", 0, 30, 5),
					job("small", fifo, "", 0, 10, 1),
				},
			},
			admit:        []string{"small"},
			reservations: map[string]int64{},
			reasons:      map[string]string{"huge": model.ReasonMisconfigurationText},
		},
		"a lower-priority queue without backfill respects the reservation": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{backfillQueue("fifo", 10, "", "a"), sim.Queue("low", 1, "", "a")},
				Active:       []sched.Allocation{holding("r1", fifo, "", envA, 2, 10, 100)},
				Runnable: []sched.Candidate{
					bounded(job("head", fifo, "", 0, 30, 4), 600),
					bounded(job("low-short", low, "", 0, 20, 2), 30),
					bounded(job("low-long", low, "", 0, 10, 1), 3600),
				},
			},
			admit:        []string{"low-short"},
			reservations: map[string]int64{"head": 90},
		},
		"fair share: the blocked share keeps its reservation, the other fills the gap": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 8)},
				Queues:       []model.JobQueue{backfillQueue("fair", 1, fpol, "a")},
				Policies:     []model.SchedulingPolicy{policy},
				Active:       []sched.Allocation{holding("r1", fair, "b", envA, 4, 0, 300)},
				Runnable: []sched.Candidate{
					bounded(job("a-big", fair, "a", 0, 30, 8), 600),
					bounded(job("b-1", fair, "b", 0, 20, 1), 100),
					bounded(job("b-2", fair, "b", 0, 19, 1), 100),
					bounded(job("b-long", fair, "b", 0, 18, 1), 1000),
					bounded(job("b-3", fair, "b", 0, 17, 1), 100),
				},
			},
			admit:        []string{"b-1", "b-2", "b-3"},
			reservations: map[string]int64{"a-big": 300, "b-long": 900},
		},
		"fair share: a head reserved in an earlier pass goes first although its share's score is higher": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{backfillQueue("fair", 1, fpol, "a")},
				Policies:     []model.SchedulingPolicy{policy},
				Active:       []sched.Allocation{holding("r1", fair, "a", envA, 2, 0, 100)},
				Usage:        []model.ShareUsage{{Queue: fair, Share: "a", Instances: 10, AsOf: now}},
				Runnable: []sched.Candidate{
					reserved(withReason(bounded(job("a-head", fair, "a", 0, 30, 4), 600), model.ReasonBackfill+" - Waiting for 4 instances", 60), 100),
					bounded(job("b-long", fair, "b", 0, 20, 1), 1000),
					bounded(job("b-short", fair, "b", 0, 10, 1), 50),
				},
			},
			admit:        []string{"b-short"},
			reservations: map[string]int64{"a-head": 100, "b-long": 700},
		},
		"a job backing off gets a reservation from the end of its backoff": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
				Runnable: []sched.Candidate{
					func() sched.Candidate {
						c := withReason(bounded(job("backoff", fifo, "", 0, 30, 4), 600), model.ReasonCapacity+" - no capacity", 10)
						c.NotBefore = now + 120_000
						return c
					}(),
					bounded(job("short", fifo, "", 0, 20, 2), 120),
					bounded(job("long", fifo, "", 0, 10, 1), 121),
				},
			},
			admit:        []string{"short"},
			reservations: map[string]int64{"backoff": 120, "long": 720},
			// The capacity reason stays: time limits count from it.
			reasons: map[string]string{"long": model.ReasonBackfill},
		},
		"a backfill reason left from before is cleared": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{sim.Queue("fifo", 1, "", "a")},
				Active:       []sched.Allocation{holding("r1", fifo, "", envA, 4, 0, 100)},
				Runnable: []sched.Candidate{
					withReason(job("was-reserved", fifo, "", 0, 30, 4), model.ReasonBackfill+" - Waiting for 4 instances", 60),
				},
			},
			admit:        []string{},
			reservations: map[string]int64{},
			reasons:      map[string]string{"was-reserved": ""},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := sched.Plan(&tc.snap, now)
			if got := admitted(d); !reflect.DeepEqual(got, tc.admit) {
				t.Errorf("admitted %v, want %v", got, tc.admit)
			}
			if got := reservationsOf(d); !reflect.DeepEqual(got, tc.reservations) {
				t.Errorf("reservations (s from now) %v, want %v", got, tc.reservations)
			}
			got := reasonsOf(d)
			for job, want := range tc.reasons {
				r, ok := got[job]
				if !ok || !strings.HasPrefix(r, want) || want == "" && r != "" {
					t.Errorf("reason of %s: %q (set: %v), want one starting %q", job, r, ok, want)
				}
			}
			if _, ok := got["backoff"]; ok {
				t.Errorf("the capacity reason of a job backing off was replaced: %q", got["backoff"])
			}
		})
	}
}

// TestBackfillStopsAfterMaxReservations: a backfill queue passes over at
// most MaxReservations jobs in a pass; the ones behind wait for a later
// pass even when they would fit.
func TestBackfillStopsAfterMaxReservations(t *testing.T) {
	s := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
		Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
		Active:       []sched.Allocation{holding("r1", fifo, "", envA, 3, 0, 100)},
	}
	for i := range sched.MaxReservations {
		s.Runnable = append(s.Runnable, bounded(job(fmt.Sprintf("big%03d", i), fifo, "", 0, int64(1000-i), 4), 50))
	}
	s.Runnable = append(s.Runnable, bounded(job("small", fifo, "", 0, 1, 1), 10))
	d := sched.Plan(s, now)
	if len(d.Admit) != 0 || len(d.Reservations) != sched.MaxReservations {
		t.Fatalf("admitted %v with %d reservations; want none admitted and %d reservations", admitted(d), len(d.Reservations), sched.MaxReservations)
	}
	s.Runnable = s.Runnable[1:]
	if d := sched.Plan(s, now); !reflect.DeepEqual(admitted(d), []string{"small"}) {
		t.Fatalf("with one big job fewer, admitted %v, want [small]", admitted(d))
	}
}

// TestBackfillReasonsAreStable: a pass that finds the same reservations as
// the last one writes no reasons again, so a waiting backlog costs no
// writes per pass.
func TestBackfillReasonsAreStable(t *testing.T) {
	s := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
		Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
		Active:       []sched.Allocation{holding("r1", fifo, "", envA, 2, 10, 100)},
		Runnable: []sched.Candidate{
			bounded(job("head", fifo, "", 0, 30, 4), 600),
			bounded(job("long", fifo, "", 0, 20, 1), 200),
			bounded(job("later", fifo, "", 0, 10, 3), 300),
		},
	}
	d := sched.Plan(s, now)
	if len(d.Reasons) != 3 {
		t.Fatalf("first pass: %d reason updates, want 3: %+v", len(d.Reasons), d.Reasons)
	}
	for _, u := range d.Reasons {
		for i := range s.Runnable {
			if c := &s.Runnable[i]; c.JobID == u.JobID {
				c.StatusReason, c.ReservedAt = u.Reason, u.ReservedAt
			}
		}
	}
	if d2 := sched.Plan(s, now+5000); len(d2.Reasons) != 0 || !reflect.DeepEqual(d2.Reservations, d.Reservations) {
		t.Fatalf("second pass: reasons %+v, reservations %+v; want no updates and the same reservations %+v", d2.Reasons, d2.Reservations, d.Reservations)
	}
}

// TestBackfillReadsPastReservedJobs: when every job read of a truncated
// line holds a reservation, more of them may lie past what was read, and
// they must be served in the order of their reservations: the pass asks for
// more of the line instead of serving the queue.
func TestBackfillReadsPastReservedJobs(t *testing.T) {
	line := sched.ShareKey{Queue: fifo}
	s := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
		Queues:       []model.JobQueue{backfillQueue("fifo", 1, "", "a")},
		Active:       []sched.Allocation{holding("r1", fifo, "", envA, 4, 0, 100)},
		Runnable: []sched.Candidate{
			reserved(withReason(bounded(job("j1", fifo, "", 0, 30, 2), 60), model.ReasonBackfill+" - Reserved", 10), 100),
			reserved(withReason(bounded(job("j2", fifo, "", 0, 20, 2), 60), model.ReasonBackfill+" - Reserved", 10), 100),
		},
		Truncated: []sched.ShareKey{line},
	}
	d := sched.Plan(s, now)
	if !reflect.DeepEqual(d.NeedMore, []sched.ShareKey{line}) || len(d.Reservations) != 0 || len(d.Admit) != 0 {
		t.Fatalf("need more %v, reservations %v, admitted %v; want a request for more of the line and nothing else", d.NeedMore, d.Reservations, admitted(d))
	}
	s.Runnable = append(s.Runnable, bounded(job("j3", fifo, "", 0, 10, 1), 60))
	s.Truncated = nil // the whole line read
	if d := sched.Plan(s, now); len(d.NeedMore) != 0 || len(d.Reservations) != 3 {
		t.Fatalf("with the whole line read: need more %v, reservations %v; want 3 reservations", d.NeedMore, d.Reservations)
	}
}
