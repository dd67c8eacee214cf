package sched_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// randomSnapshot builds a snapshot with 1-3 environments (some disabled, some
// over-used), 1-4 queues of both kinds with random priorities, time limit
// actions and environment orders, random usage, and up to 80 RUNNABLE jobs
// whose createdAt and priority collide often.
func randomSnapshot(rng *rand.Rand) *sched.Snapshot {
	s := &sched.Snapshot{}
	nEnv := 1 + rng.IntN(3)
	for i := range nEnv {
		e := sim.Env(fmt.Sprintf("e%d", i), int64(1+rng.IntN(20)))
		if rng.IntN(8) == 0 {
			e.State = model.StateDisabled
		}
		s.Environments = append(s.Environments, e)
	}
	nQ := 1 + rng.IntN(4)
	for i := range nQ {
		policy := ""
		if rng.IntN(2) == 0 {
			policy = fmt.Sprintf("p%d", i)
			var w []model.ShareAttributes
			for k := range rng.IntN(3) {
				w = append(w, weight(fmt.Sprintf("s%d", k), 0.05+rng.Float64()*3))
			}
			if rng.IntN(3) == 0 {
				w = append(w, weight("t*", 0.5))
			}
			s.Policies = append(s.Policies, sim.Policy(policy, int32(rng.IntN(3600)), int32(rng.IntN(4)*25), w...))
		}
		var envs []string
		for _, k := range rng.Perm(nEnv)[:1+rng.IntN(nEnv)] {
			envs = append(envs, fmt.Sprintf("e%d", k))
		}
		q := sim.Queue(fmt.Sprintf("q%d", i), int32(rng.IntN(3)), policy, envs...)
		q.Backfill = rng.IntN(2) == 0
		if rng.IntN(3) == 0 {
			q.JobStateTimeLimitActions = append(q.JobStateTimeLimitActions, timeLimit(model.ReasonMisconfiguration, int32(1+rng.IntN(600))))
		}
		if rng.IntN(3) == 0 {
			q.JobStateTimeLimitActions = append(q.JobStateTimeLimitActions, timeLimit(model.ReasonCapacity, int32(1+rng.IntN(600))))
		}
		s.Queues = append(s.Queues, q)
	}
	shares := []string{"s0", "s1", "s2", "t1", "t2"}
	for i := range rng.IntN(12) {
		q := s.Queues[rng.IntN(nQ)]
		env := q.Environments()[rng.IntN(len(q.Environments()))]
		a := sched.Allocation{
			JobID: fmt.Sprintf("r%d", i), Queue: q.Arn, Share: shares[rng.IntN(len(shares))], Environment: env,
			Instances: int64(1 + rng.IntN(4)),
		}
		if rng.IntN(8) != 0 { // else started at an unknown time
			a.Since = now - int64(rng.IntN(900))*1000
		}
		if rng.IntN(8) != 0 { // else SageMaker's default bound
			a.RuntimeBound = int64(1 + rng.IntN(900))
		}
		s.Active = append(s.Active, a)
	}
	for i := range rng.IntN(80) {
		q := s.Queues[rng.IntN(nQ)]
		c := sched.Candidate{
			JobID: fmt.Sprintf("j%03d", i), Queue: q.Arn, Share: shares[rng.IntN(len(shares))],
			Priority: int32(rng.IntN(3)), CreatedAt: now - int64(rng.IntN(20))*1000, Instances: int64(1 + rng.IntN(8)),
		}
		if rng.IntN(10) == 0 {
			c.NotBefore = now + int64(rng.IntN(3)-1)*1000 // past, now or future
		}
		if rng.IntN(8) != 0 {
			c.RuntimeBound = int64(1 + rng.IntN(900))
		}
		switch rng.IntN(7) {
		case 0:
			c.StatusReason, c.BlockedSince = model.ReasonMisconfigurationText, now-int64(rng.IntN(1200))*1000
		case 1:
			c.StatusReason, c.BlockedSince = model.ReasonCapacity+" - Unable to provision requested compute resources", now-int64(rng.IntN(1200))*1000
		case 2:
			c.StatusReason, c.BlockedSince = model.ReasonBackfill+" - Waiting", now-int64(rng.IntN(1200))*1000
			c.ReservedAt = now + int64(rng.IntN(1200)-100)*1000
		}
		s.Runnable = append(s.Runnable, c)
	}
	for _, p := range s.Policies {
		for _, q := range s.Queues {
			if q.SchedulingPolicyArn == p.Arn && rng.IntN(2) == 0 {
				s.Usage = append(s.Usage, model.ShareUsage{Queue: q.Arn, Share: shares[rng.IntN(len(shares))], Instances: rng.Float64() * 10, AsOf: now - int64(rng.IntN(600_000))})
			}
		}
	}
	if rng.IntN(5) == 0 && len(s.Runnable) > 0 {
		c := s.Runnable[rng.IntN(len(s.Runnable))]
		s.Truncated = append(s.Truncated, sched.ShareKey{Queue: c.Queue, Share: c.Share})
	}
	return s
}

// shuffled returns a copy of s with every slice in a random order.
func shuffled(rng *rand.Rand, s *sched.Snapshot) *sched.Snapshot {
	c := &sched.Snapshot{
		Environments: append([]model.ServiceEnvironment(nil), s.Environments...),
		Queues:       append([]model.JobQueue(nil), s.Queues...),
		Policies:     append([]model.SchedulingPolicy(nil), s.Policies...),
		Active:       append([]sched.Allocation(nil), s.Active...),
		Runnable:     append([]sched.Candidate(nil), s.Runnable...),
		Usage:        append([]model.ShareUsage(nil), s.Usage...),
		Truncated:    append([]sched.ShareKey(nil), s.Truncated...),
		QuotaShares:  append([]model.QuotaShare(nil), s.QuotaShares...),
	}
	rng.Shuffle(len(c.QuotaShares), func(i, j int) { c.QuotaShares[i], c.QuotaShares[j] = c.QuotaShares[j], c.QuotaShares[i] })
	rng.Shuffle(len(c.Environments), func(i, j int) { c.Environments[i], c.Environments[j] = c.Environments[j], c.Environments[i] })
	rng.Shuffle(len(c.Queues), func(i, j int) { c.Queues[i], c.Queues[j] = c.Queues[j], c.Queues[i] })
	rng.Shuffle(len(c.Policies), func(i, j int) { c.Policies[i], c.Policies[j] = c.Policies[j], c.Policies[i] })
	rng.Shuffle(len(c.Active), func(i, j int) { c.Active[i], c.Active[j] = c.Active[j], c.Active[i] })
	rng.Shuffle(len(c.Runnable), func(i, j int) { c.Runnable[i], c.Runnable[j] = c.Runnable[j], c.Runnable[i] })
	rng.Shuffle(len(c.Usage), func(i, j int) { c.Usage[i], c.Usage[j] = c.Usage[j], c.Usage[i] })
	return c
}

const propertyRuns = 5000

func forRandomSnapshots(t *testing.T, check func(t *testing.T, s *sched.Snapshot, d sched.Decisions)) {
	t.Helper()
	forRandom(t, randomSnapshot, 42, check)
}

// forRandom runs check on the decisions of propertyRuns snapshots that gen
// makes from seeds (salted), stopping at the first that fails.
func forRandom(t *testing.T, gen func(*rand.Rand) *sched.Snapshot, salt uint64, check func(t *testing.T, s *sched.Snapshot, d sched.Decisions)) {
	t.Helper()
	for seed := range uint64(propertyRuns) {
		rng := rand.New(rand.NewPCG(seed, salt))
		s := gen(rng)
		d := sched.Plan(s, now)
		t.Run("", func(t *testing.T) {
			check(t, s, d)
			if t.Failed() {
				t.Logf("seed %d\nsnapshot %+v\ndecisions %+v", seed, s, d)
			}
		})
		if t.Failed() {
			return
		}
	}
}

func TestPropertyCapacityNeverExceeded(t *testing.T) {
	forRandomSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		inUse := map[string]int64{}
		for _, a := range s.Active {
			inUse[a.Environment] += a.Instances
		}
		before := map[string]int64{}
		for k, v := range inUse {
			before[k] = v
		}
		envs := map[string]model.ServiceEnvironment{}
		for _, e := range s.Environments {
			envs[e.Arn] = e
		}
		queues := map[string]model.JobQueue{}
		for _, q := range s.Queues {
			queues[q.Arn] = q
		}
		jobs := map[string]sched.Candidate{}
		for _, c := range s.Runnable {
			jobs[c.JobID] = c
		}
		seen := map[string]bool{}
		for _, a := range d.Admit {
			e, ok := envs[a.Environment]
			if !ok || !e.Enabled() {
				t.Fatalf("%s placed in unknown or disabled environment %s", a.JobID, a.Environment)
			}
			c := jobs[a.JobID]
			if c.NotBefore > now {
				t.Fatalf("%s admitted during its backoff (until %d, now %d)", a.JobID, c.NotBefore, now)
			}
			if a.Instances != c.Instances {
				t.Fatalf("%s admitted with %d instances, needs %d", a.JobID, a.Instances, c.Instances)
			}
			if q := queues[c.Queue]; !contains(q.Environments(), a.Environment) {
				t.Fatalf("%s placed in %s, which is not an environment of its queue", a.JobID, a.Environment)
			}
			if seen[a.JobID] {
				t.Fatalf("%s admitted twice", a.JobID)
			}
			seen[a.JobID] = true
			inUse[a.Environment] += a.Instances
		}
		for _, x := range d.Terminate {
			if seen[x.JobID] {
				t.Fatalf("%s both admitted and terminated", x.JobID)
			}
			seen[x.JobID] = true
		}
		for arn, n := range inUse {
			e := envs[arn]
			if n > before[arn] && n > e.MaxInstances() {
				t.Fatalf("environment %s: %d in use after the pass, capacity %d (before %d)", arn, n, e.MaxInstances(), before[arn])
			}
		}
	})
}

// lines groups a snapshot's candidates by queue line in the order the rules
// say they must be taken, independently of the scheduler's own code.
func lines(s *sched.Snapshot) map[sched.ShareKey][]sched.Candidate {
	fairQ := map[string]bool{}
	for _, q := range s.Queues {
		fairQ[q.Arn] = q.FairShare()
	}
	out := map[sched.ShareKey][]sched.Candidate{}
	for _, c := range s.Runnable {
		k := sched.ShareKey{Queue: c.Queue}
		if fairQ[c.Queue] {
			k.Share = c.Share
		}
		out[k] = append(out[k], c)
	}
	for k, l := range out {
		fair := fairQ[k.Queue]
		sort.Slice(l, func(a, b int) bool {
			if fair && l[a].Priority != l[b].Priority {
				return l[a].Priority > l[b].Priority
			}
			if l[a].CreatedAt != l[b].CreatedAt {
				return l[a].CreatedAt < l[b].CreatedAt
			}
			return l[a].JobID < l[b].JobID
		})
	}
	return out
}

// TestPropertyLineOrder checks that every line (a FIFO queue, or one share of a
// fair-share queue) is consumed from its front: the jobs a pass takes (placed
// or ended) are a prefix of the line, placed in line order. In a backfill
// queue a job may be passed over, but only with a reservation or when no
// enabled environment of its queue can ever take it.
func TestPropertyLineOrder(t *testing.T) {
	forRandomSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		taken := map[string]int{}
		for i, a := range d.Admit {
			taken[a.JobID] = i + 1
		}
		for _, x := range d.Terminate {
			taken[x.JobID] = -1
		}
		reserved := map[string]bool{}
		for _, r := range d.Reservations {
			reserved[r.JobID] = true
		}
		queues := map[string]model.JobQueue{}
		for _, q := range s.Queues {
			queues[q.Arn] = q
		}
		for k, l := range lines(s) {
			q := queues[k.Queue]
			prefix := true
			lastAdmit := 0
			for _, c := range l {
				pos, ok := taken[c.JobID]
				// A job reserved in an earlier pass is served ahead of its line.
				held := c.ReservedAt > 0 && model.ReasonCode(c.StatusReason) == model.ReasonBackfill
				if ok && q.Backfill && held {
					continue
				}
				if ok && !prefix {
					t.Fatalf("line %v: %s taken although a job before it was not", k, c.JobID)
				}
				passed := q.Backfill && (reserved[c.JobID] || c.Instances > largestEnabled(s, q))
				if !ok && !passed {
					prefix = false
				}
				if pos > 0 {
					if pos < lastAdmit {
						t.Fatalf("line %v: %s admitted before a job ahead of it", k, c.JobID)
					}
					lastAdmit = pos
				}
			}
		}
	})
}

// largestEnabled is the capacity of the largest enabled environment of q.
func largestEnabled(s *sched.Snapshot, q model.JobQueue) int64 {
	var m int64
	for _, e := range s.Environments {
		if e.Enabled() && contains(q.Environments(), e.Arn) {
			m = max(m, e.MaxInstances())
		}
	}
	return m
}

// TestPropertyFIFOHeadBlocked checks head-of-line blocking from the outside:
// when a FIFO queue keeps a head job, that job fits in none of the queue's
// enabled environments, with the capacity left after the pass and the
// reservations of backfill queues (capacity only shrinks during a pass, so
// it did not fit when it was judged either). A backfill queue keeps a job
// without a reservation only when it passed over MaxReservations jobs.
func TestPropertyFIFOHeadBlocked(t *testing.T) {
	forRandomSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		after := loads(s, d, "")
		taken := map[string]bool{}
		for _, a := range d.Admit {
			taken[a.JobID] = true
		}
		for _, x := range d.Terminate {
			taken[x.JobID] = true
		}
		passed := map[string]int{}
		for _, r := range d.Reservations {
			taken[r.JobID] = true
			passed[r.Queue]++
		}
		for _, q := range s.Queues {
			if q.FairShare() {
				continue
			}
			line := lines(s)[sched.ShareKey{Queue: q.Arn}]
			for _, c := range line {
				// Jobs reserved in an earlier pass are served first.
				if q.Backfill && !taken[c.JobID] && c.ReservedAt > 0 && model.ReasonCode(c.StatusReason) == model.ReasonBackfill && c.Instances > largestEnabled(s, q) {
					passed[q.Arn]++
					taken[c.JobID] = true
				}
			}
			for _, c := range line {
				if taken[c.JobID] {
					continue
				}
				if q.Backfill {
					if c.Instances > largestEnabled(s, q) {
						passed[q.Arn]++
						continue
					}
					if passed[q.Arn] < sched.MaxReservations {
						t.Fatalf("backfill queue %s kept %s without a reservation after passing over only %d jobs", q.Name, c.JobID, passed[q.Arn])
					}
					break
				}
				if c.NotBefore > now {
					break // held by its backoff, not by capacity
				}
				for _, env := range q.Environments() {
					e, ok := after[env]
					if ok && enabled(s, env) && e.fits(now, boundOf(c.RuntimeBound), c.Instances) {
						free, _ := e.at(now)
						t.Fatalf("queue %s: head %s (%d instances) was kept although it fits in %s (%d of %d in use now)", q.Name, c.JobID, c.Instances, env, free, e.max)
					}
				}
				break
			}
		}
	})
}

func enabled(s *sched.Snapshot, env string) bool {
	for _, e := range s.Environments {
		if e.Arn == env {
			return e.Enabled()
		}
	}
	return false
}

func TestPropertyDeterministic(t *testing.T) {
	for seed := range uint64(propertyRuns) {
		rng := rand.New(rand.NewPCG(seed, 7))
		s := randomSnapshot(rng)
		want := sched.Plan(s, now)
		for range 3 {
			if got := sched.Plan(shuffled(rng, s), now); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: the same snapshot in another order gave\n%+v\nwant\n%+v", seed, got, want)
			}
		}
		if got := sched.Plan(s, now); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: a second pass over the same snapshot differs", seed)
		}
	}
}

// TestPropertyPlanDoesNotModifySnapshot guards the read-only contract.
func TestPropertyPlanDoesNotModifySnapshot(t *testing.T) {
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 9))
		s := randomSnapshot(rng)
		c := shuffled(rand.New(rand.NewPCG(0, 0)), s)
		copyOrder := shuffled(rand.New(rand.NewPCG(0, 0)), s)
		sched.Plan(c, now)
		if !reflect.DeepEqual(c, copyOrder) {
			t.Fatalf("seed %d: Plan modified its snapshot", seed)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
