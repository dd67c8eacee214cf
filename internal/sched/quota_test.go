package sched_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
)

const (
	p5 = "ml.p5.48xlarge"
	g6 = "ml.g6.xlarge"
)

var qmQueue = arn(model.KindJobQueue, "qm")

// quotaWorld is a quota-management queue on one environment with the given
// per-type limits; shares are added with share().
func quotaWorld(limits map[string]int64) *sched.Snapshot {
	env := model.ServiceEnvironment{
		Name: "qe", Arn: arn(model.KindServiceEnvironment, "qe"), Type: model.ServiceJobTypeSageMakerTraining,
		State: model.StateEnabled, Status: model.StatusValid,
	}
	for _, t := range sortedTypes(limits) {
		env.CapacityLimits = append(env.CapacityLimits, model.CapacityLimit{CapacityUnit: t, MaxCapacity: limits[t]})
	}
	q := model.JobQueue{
		Name: "qm", Arn: qmQueue, Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Status: model.StatusValid,
		SchedulingPolicyArn: arn(model.KindSchedulingPolicy, "qp"), QuotaManagement: true,
		ServiceEnvironmentOrder: []model.ServiceEnvironmentOrder{{Order: 1, ServiceEnvironment: env.Arn}},
	}
	return &sched.Snapshot{
		Environments: []model.ServiceEnvironment{env}, Queues: []model.JobQueue{q},
		Policies: []model.SchedulingPolicy{{Name: "qp", Arn: q.SchedulingPolicyArn, QuotaSharePolicy: &model.QuotaSharePolicy{IdleResourceAssignmentStrategy: "FIFO"}}},
	}
}

func sortedTypes(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func share(name, strategy string, borrowLimit int32, inShare bool, quota map[string]int64) model.QuotaShare {
	s := model.QuotaShare{
		Name: name, Arn: model.QuotaShareARN(qmQueue, name), JobQueue: qmQueue,
		ResourceSharingConfiguration: model.ResourceSharing{Strategy: strategy, BorrowLimit: borrowLimit},
		PreemptionConfiguration:      model.QuotaSharePreemption{InSharePreemption: model.StateDisabled},
		State:                        model.StateEnabled, Status: model.StatusValid,
	}
	if inShare {
		s.PreemptionConfiguration.InSharePreemption = model.StateEnabled
	}
	for _, t := range sortedTypes(quota) {
		s.CapacityLimits = append(s.CapacityLimits, model.CapacityLimit{CapacityUnit: t, MaxCapacity: quota[t]})
	}
	return s
}

func qjob(id, share, typ string, prio int32, age, n int64) sched.Candidate {
	return sched.Candidate{JobID: id, Queue: qmQueue, Share: share, Priority: prio, CreatedAt: now - age*1000, Instances: n, InstanceType: typ}
}

func qrun(id, share, typ string, prio int32, startedAgo, n int64) sched.Allocation {
	return sched.Allocation{
		JobID: id, Queue: qmQueue, Share: share, Environment: arn(model.KindServiceEnvironment, "qe"),
		Instances: n, InstanceType: typ, Priority: prio, Since: now - startedAgo*1000,
	}
}

func preempted(d sched.Decisions) []string {
	var out []string
	for _, p := range d.Preempt {
		out = append(out, p.JobID)
	}
	return out
}

func TestQuotaRules(t *testing.T) {
	ab := func() *sched.Snapshot {
		s := quotaWorld(map[string]int64{p5: 4})
		s.QuotaShares = []model.QuotaShare{
			share("A", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 2}),
			share("B", model.SharingLend, -1, false, map[string]int64{p5: 2}),
		}
		return s
	}
	tests := []struct {
		name     string
		snap     func() *sched.Snapshot
		admit    []string
		preempt  []string
		reasons  map[string]string // job -> reason code
		terminal []string
	}{
		{
			name: "A borrows B's idle quota",
			snap: func() *sched.Snapshot {
				s := ab()
				for i := range 4 {
					s.Runnable = append(s.Runnable, qjob(fmt.Sprintf("a%d", i), "A", p5, 0, int64(10-i), 1))
				}
				return s
			},
			admit: []string{"a0", "a1", "a2", "a3"},
		},
		{
			name: "B's jobs take their lent quota back from A: two victims, the most recently started",
			snap: func() *sched.Snapshot {
				s := ab()
				s.Active = []sched.Allocation{qrun("a0", "A", p5, 0, 40, 1), qrun("a1", "A", p5, 0, 30, 1), qrun("a2", "A", p5, 0, 20, 1), qrun("a3", "A", p5, 0, 10, 1)}
				s.Runnable = []sched.Candidate{qjob("b0", "B", p5, 0, 2, 1), qjob("b1", "B", p5, 0, 1, 1)}
				return s
			},
			// b0 preempts a3 (newest), then b1 (still within B's quota, as
			// a3 is only stopping) preempts a2.
			preempt: []string{"a3", "a2"},
		},
		{
			name: "a lender waiting for victims to stop preempts no more",
			snap: func() *sched.Snapshot {
				s := ab()
				s.Active = []sched.Allocation{qrun("a0", "A", p5, 0, 40, 1), qrun("a1", "A", p5, 0, 30, 1), qrun("a2", "A", p5, 0, 20, 1), qrun("a3", "A", p5, 0, 10, 1)}
				s.Active[2].Stopping, s.Active[3].Stopping = true, true
				s.Runnable = []sched.Candidate{qjob("b0", "B", p5, 0, 2, 1), qjob("b1", "B", p5, 0, 1, 1)}
				return s
			},
		},
		{
			name: "no preemption while free capacity serves the lender",
			snap: func() *sched.Snapshot {
				s := ab()
				s.Active = []sched.Allocation{qrun("a0", "A", p5, 0, 40, 1), qrun("a1", "A", p5, 0, 30, 1), qrun("a2", "A", p5, 0, 20, 1)}
				s.Runnable = []sched.Candidate{qjob("b0", "B", p5, 0, 2, 1)}
				return s
			},
			admit: []string{"b0"},
		},
		{
			name: "freed capacity goes to the lender before the borrower",
			snap: func() *sched.Snapshot {
				s := ab()
				s.Active = []sched.Allocation{qrun("a0", "A", p5, 0, 40, 1), qrun("a1", "A", p5, 0, 30, 1)}
				s.Runnable = []sched.Candidate{qjob("a2", "A", p5, 0, 50, 1), qjob("a3", "A", p5, 0, 49, 1), qjob("a4", "A", p5, 0, 48, 1), qjob("b0", "B", p5, 0, 1, 1)}
				return s
			},
			// b0 takes one of B's two; A borrows only B's other instance.
			admit: []string{"b0", "a2"},
		},
		{
			name: "the victim borrowing the most goes first, then the lowest priority",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 8})
				s.QuotaShares = []model.QuotaShare{
					share("A", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 2}),
					share("B", model.SharingLend, -1, false, map[string]int64{p5: 4}),
					share("C", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 2}),
				}
				// A borrows 1 with a 3-instance job; C borrows 3 with jobs of 1.
				s.Active = []sched.Allocation{qrun("a0", "A", p5, 5, 60, 3), qrun("c0", "C", p5, 9, 60, 1), qrun("c1", "C", p5, 1, 60, 1), qrun("c2", "C", p5, 5, 60, 1), qrun("c3", "C", p5, 5, 50, 1), qrun("c4", "C", p5, 0, 70, 1)}
				s.Runnable = []sched.Candidate{qjob("b0", "B", p5, 0, 1, 2)}
				return s
			},
			// Free is 0; b0 needs 2. C borrows 3: its lowest-priority jobs go.
			preempt: []string{"c4", "c1"},
		},
		{
			name: "in-share preemption by priority",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 2})
				s.QuotaShares = []model.QuotaShare{share("A", model.SharingReserve, -1, true, map[string]int64{p5: 2})}
				s.Active = []sched.Allocation{qrun("lo1", "A", p5, 1, 100, 1), qrun("lo2", "A", p5, 1, 50, 1)}
				s.Runnable = []sched.Candidate{qjob("hi", "A", p5, 10, 1, 1)}
				return s
			},
			preempt: []string{"lo2"},
		},
		{
			name: "no in-share preemption when disabled, or of equal priority",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 2})
				s.QuotaShares = []model.QuotaShare{
					share("A", model.SharingReserve, -1, false, map[string]int64{p5: 1}),
					share("B", model.SharingReserve, -1, true, map[string]int64{p5: 1}),
				}
				s.Active = []sched.Allocation{qrun("a", "A", p5, 1, 100, 1), qrun("b", "B", p5, 5, 50, 1)}
				s.Runnable = []sched.Candidate{qjob("a-hi", "A", p5, 10, 1, 1), qjob("b-eq", "B", p5, 5, 1, 1)}
				return s
			},
		},
		{
			name: "a RESERVE share never lends",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 4})
				s.QuotaShares = []model.QuotaShare{
					share("A", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 2}),
					share("R", model.SharingReserve, -1, false, map[string]int64{p5: 2}),
				}
				for i := range 4 {
					s.Runnable = append(s.Runnable, qjob(fmt.Sprintf("a%d", i), "A", p5, 0, int64(10-i), 1))
				}
				return s
			},
			admit: []string{"a0", "a1"},
		},
		{
			name: "borrowing stops at the borrow limit",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 10})
				s.QuotaShares = []model.QuotaShare{
					share("A", model.SharingLendAndBorrow, 50, false, map[string]int64{p5: 2}),
					share("B", model.SharingLend, -1, false, map[string]int64{p5: 8}),
				}
				for i := range 6 {
					s.Runnable = append(s.Runnable, qjob(fmt.Sprintf("a%d", i), "A", p5, 0, int64(10-i), 1))
				}
				return s
			},
			admit: []string{"a0", "a1", "a2"},
		},
		{
			name: "lowered limits preempt down to the new quota, weakest first",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 4})
				s.QuotaShares = []model.QuotaShare{share("B", model.SharingLend, -1, false, map[string]int64{p5: 1})}
				s.Active = []sched.Allocation{qrun("b0", "B", p5, 5, 60, 1), qrun("b1", "B", p5, 1, 50, 1), qrun("b2", "B", p5, 5, 10, 1)}
				return s
			},
			preempt: []string{"b1", "b2"},
		},
		{
			name: "misconfiguration reasons as AWS Batch words them",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 8, g6: 2})
				s.QuotaShares = []model.QuotaShare{
					share("R", model.SharingReserve, -1, false, map[string]int64{p5: 4}),
					share("L", model.SharingLendAndBorrow, 100, false, map[string]int64{p5: 2}),
					share("U", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 1}),
					share("E", model.SharingLend, -1, false, map[string]int64{p5: 1, g6: 1}),
				}
				s.Runnable = []sched.Candidate{
					qjob("r", "R", p5, 0, 1, 5), qjob("l", "L", p5, 0, 1, 5), qjob("u", "U", p5, 0, 1, 8), qjob("e", "E", g6, 0, 1, 3),
				}
				return s
			},
			reasons: map[string]string{
				"r": model.ReasonQuotaLimitText, "l": model.ReasonQuotaBorrowLimitText,
				"u": model.ReasonQuotaBorrowableText, "e": model.ReasonMisconfigurationText,
			},
		},
		{
			name: "a time limit on the quota reason ends the head",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 8})
				s.Queues[0].JobStateTimeLimitActions = []model.JobStateTimeLimitAction{timeLimit(model.ReasonQuotaLimit, 60)}
				s.QuotaShares = []model.QuotaShare{share("R", model.SharingReserve, -1, false, map[string]int64{p5: 2})}
				s.Runnable = []sched.Candidate{withReason(qjob("big", "R", p5, 5, 100, 3), model.ReasonQuotaLimitText, now-61_000), qjob("small", "R", p5, 0, 1, 1)}
				return s
			},
			terminal: []string{"big"},
			admit:    []string{"small"},
		},
		{
			name: "borrowers get idle capacity in FIFO order of their heads",
			snap: func() *sched.Snapshot {
				s := quotaWorld(map[string]int64{p5: 4})
				s.QuotaShares = []model.QuotaShare{
					share("A", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 1}),
					share("B", model.SharingLendAndBorrow, -1, false, map[string]int64{p5: 1}),
					share("L", model.SharingLend, -1, false, map[string]int64{p5: 2}),
				}
				s.Runnable = []sched.Candidate{
					qjob("a0", "A", p5, 0, 50, 1), qjob("a1", "A", p5, 0, 10, 1), qjob("a2", "A", p5, 0, 5, 1),
					qjob("b0", "B", p5, 0, 40, 1), qjob("b1", "B", p5, 0, 30, 1), qjob("b2", "B", p5, 0, 1, 1),
				}
				return s
			},
			// Own quota: a0, b0. Then borrowing in createdAt order: b1, a1.
			admit: []string{"a0", "b0", "b1", "a1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.snap()
			d := sched.Plan(s, now)
			if got := admitted(d); !slices.Equal(got, tc.admit) {
				t.Errorf("admitted %v, want %v", got, tc.admit)
			}
			if got := preempted(d); !slices.Equal(got, tc.preempt) {
				t.Errorf("preempted %v, want %v (%+v)", got, tc.preempt, d.Preempt)
			}
			got := map[string]string{}
			for _, r := range d.Reasons {
				got[r.JobID] = r.Reason
			}
			for id, want := range tc.reasons {
				if got[id] != want {
					t.Errorf("%s: reason %q, want %q", id, got[id], want)
				}
			}
			var ended []string
			for _, x := range d.Terminate {
				ended = append(ended, x.JobID)
			}
			if !slices.Equal(ended, tc.terminal) {
				t.Errorf("terminated %v, want %v", ended, tc.terminal)
			}
			if again := sched.Plan(s, now); fmt.Sprint(again) != fmt.Sprint(d) {
				t.Errorf("a second Plan of the same snapshot decided otherwise: the pass must not write its input")
			}
		})
	}
}

func TestPreemptionReasons(t *testing.T) {
	s := quotaWorld(map[string]int64{p5: 2})
	s.QuotaShares = []model.QuotaShare{
		share("A", model.SharingLendAndBorrow, -1, true, map[string]int64{p5: 1}),
		share("B", model.SharingLend, -1, false, map[string]int64{p5: 1}),
	}
	s.Active = []sched.Allocation{qrun("a0", "A", p5, 0, 10, 1), qrun("a1", "A", p5, 0, 5, 1)}
	s.Runnable = []sched.Candidate{qjob("b0", "B", p5, 0, 1, 1)}
	d := sched.Plan(s, now)
	if len(d.Preempt) != 1 {
		t.Fatalf("preemptions %+v", d.Preempt)
	}
	p := d.Preempt[0]
	if p.JobID != "a1" || p.For != "b0" || p.Kind != sched.PreemptCrossShare || p.InstanceType != p5 ||
		!strings.HasPrefix(p.Reason, model.ReasonPreempted+" - ") || !strings.Contains(p.Reason, "b0") || !strings.Contains(p.Reason, "quota share B") {
		t.Fatalf("preemption %+v", p)
	}
}

// randomQuotaSnapshot is a quota-management queue with 1-2 instance types,
// 1-5 shares of every strategy and borrow limit, random running jobs
// (some stopping, some over their share's limits) and random RUNNABLE jobs.
func randomQuotaSnapshot(rng *rand.Rand) *sched.Snapshot {
	types := []string{p5, g6}[:1+rng.IntN(2)]
	limits := map[string]int64{}
	for _, t := range types {
		limits[t] = int64(1 + rng.IntN(12))
	}
	s := quotaWorld(limits)
	if rng.IntN(10) == 0 {
		s.Environments[0].State = model.StateDisabled
	}
	strategies := []string{model.SharingReserve, model.SharingLend, model.SharingLendAndBorrow}
	nShares := 1 + rng.IntN(5)
	for i := range nShares {
		st := strategies[rng.IntN(3)]
		bl := int32(-1)
		if st == model.SharingLendAndBorrow && rng.IntN(2) == 0 {
			bl = int32(rng.IntN(4) * 50)
		}
		q := map[string]int64{}
		for _, t := range types {
			q[t] = int64(rng.IntN(int(limits[t])/2 + 2))
		}
		s.QuotaShares = append(s.QuotaShares, share(fmt.Sprintf("s%d", i), st, bl, rng.IntN(2) == 0, q))
	}
	used := map[string]int64{}
	for i := range rng.IntN(12) {
		t := types[rng.IntN(len(types))]
		n := int64(1 + rng.IntN(3))
		if used[t]+n > limits[t] {
			continue
		}
		used[t] += n
		a := qrun(fmt.Sprintf("r%02d", i), fmt.Sprintf("s%d", rng.IntN(nShares)), t, int32(rng.IntN(4)), int64(rng.IntN(100)), n)
		a.Stopping = rng.IntN(6) == 0
		s.Active = append(s.Active, a)
	}
	for i := range rng.IntN(30) {
		c := qjob(fmt.Sprintf("j%02d", i), fmt.Sprintf("s%d", rng.IntN(nShares)), types[rng.IntN(len(types))], int32(rng.IntN(4)), int64(rng.IntN(20)), int64(1+rng.IntN(4)))
		if rng.IntN(12) == 0 {
			c.NotBefore = now + 1000
		}
		s.Runnable = append(s.Runnable, c)
	}
	return s
}

func forRandomQuotaSnapshots(t *testing.T, check func(t *testing.T, s *sched.Snapshot, d sched.Decisions)) {
	t.Helper()
	for seed := range uint64(propertyRuns) {
		rng := rand.New(rand.NewPCG(seed, 12))
		s := randomQuotaSnapshot(rng)
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

// quotaUse is a snapshot's use per share and type, before and after a pass.
type quotaUse struct {
	env      model.ServiceEnvironment
	shares   map[string]model.QuotaShare
	before   map[[2]string]int64 // share, type
	after    map[[2]string]int64
	total    map[string]int64 // type, after
	stopping map[string]int64 // type: being freed before the pass
	jobs     map[string]sched.Candidate
	allocs   map[string]sched.Allocation
}

func useOf(s *sched.Snapshot, d sched.Decisions) quotaUse {
	u := quotaUse{env: s.Environments[0], shares: map[string]model.QuotaShare{}, before: map[[2]string]int64{}, after: map[[2]string]int64{},
		total: map[string]int64{}, stopping: map[string]int64{}, jobs: map[string]sched.Candidate{}, allocs: map[string]sched.Allocation{}}
	for _, sh := range s.QuotaShares {
		u.shares[sh.Name] = sh
	}
	for _, a := range s.Active {
		u.before[[2]string{a.Share, a.InstanceType}] += a.Instances
		u.after[[2]string{a.Share, a.InstanceType}] += a.Instances
		u.total[a.InstanceType] += a.Instances
		u.allocs[a.JobID] = a
		if a.Stopping {
			u.stopping[a.InstanceType] += a.Instances
		}
	}
	for _, c := range s.Runnable {
		u.jobs[c.JobID] = c
	}
	for _, a := range d.Admit {
		c := u.jobs[a.JobID]
		u.after[[2]string{a.Share, c.InstanceType}] += a.Instances
		u.total[c.InstanceType] += a.Instances
	}
	return u
}

func TestPropertyQuotaNeverOverEnvironmentLimit(t *testing.T) {
	forRandomQuotaSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		u := useOf(s, d)
		for typ, n := range u.total {
			if len(d.Admit) > 0 && n > u.env.Limit(typ) {
				t.Fatalf("%s: %d in use after the pass, the environment's limit is %d", typ, n, u.env.Limit(typ))
			}
		}
		if !u.env.Enabled() && len(d.Admit) > 0 {
			t.Fatalf("admitted into a disabled environment: %v", admitted(d))
		}
	})
}

func TestPropertyQuotaBorrowLimitAndReserve(t *testing.T) {
	forRandomQuotaSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		u := useOf(s, d)
		for k, n := range u.after {
			sh := u.shares[k[0]]
			if n > u.before[k] && n > sh.MaxHold(k[1]) {
				t.Fatalf("share %s holds %d %s after the pass (%d before), more than it may (%d): strategy %s, borrowLimit %d",
					k[0], n, k[1], u.before[k], sh.MaxHold(k[1]), sh.ResourceSharingConfiguration.Strategy, sh.ResourceSharingConfiguration.BorrowLimit)
			}
		}
		// A RESERVE share never lends: whenever some share borrows more of a
		// type in the pass, the capacity left free covers the idle quota of
		// every RESERVE share.
		for _, typ := range []string{p5, g6} {
			borrowedMore := false
			for k, n := range u.after {
				sh := u.shares[k[0]]
				if k[1] == typ && n > u.before[k] && n > sh.Quota(typ) {
					borrowedMore = true
				}
			}
			if !borrowedMore {
				continue
			}
			var reserved int64
			for name, sh := range u.shares {
				if sh.ResourceSharingConfiguration.Strategy == model.SharingReserve {
					reserved += max(sh.Quota(typ)-u.after[[2]string{name, typ}], 0)
				}
			}
			if free := u.env.Limit(typ) - u.total[typ]; free < reserved {
				t.Fatalf("%s: a share borrowed, leaving %d free, less than the idle quota of RESERVE shares (%d)", typ, free, reserved)
			}
		}
	})
}

func TestPropertyPreemptionOnlyWhenNeeded(t *testing.T) {
	forRandomQuotaSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		u := useOf(s, d)
		seen := map[string]bool{}
		for _, p := range d.Preempt {
			a, ok := u.allocs[p.JobID]
			if !ok || a.Stopping || seen[p.JobID] {
				t.Fatalf("preempted %s: not running, already stopping, or twice", p.JobID)
			}
			seen[p.JobID] = true
			if p.Kind == sched.PreemptLimit {
				sh := u.shares[a.Share]
				if u.before[[2]string{a.Share, a.InstanceType}]-u.stopping[a.InstanceType] <= sh.MaxHold(a.InstanceType) &&
					u.before[[2]string{a.Share, a.InstanceType}] <= sh.MaxHold(a.InstanceType) {
					t.Fatalf("%s preempted for limits, but share %s was within them", p.JobID, a.Share)
				}
				continue
			}
			c, ok := u.jobs[p.For]
			if !ok {
				t.Fatalf("preemption of %s for unknown job %q", p.JobID, p.For)
			}
			if slices.Contains(admitted(d), c.JobID) {
				t.Fatalf("%s preempted for %s, which was admitted in the same pass", p.JobID, c.JobID)
			}
			if c.InstanceType != a.InstanceType {
				t.Fatalf("%s (%s) preempted for %s (%s)", p.JobID, a.InstanceType, c.JobID, c.InstanceType)
			}
			switch p.Kind {
			case sched.PreemptInShare:
				if a.Share != c.Share || a.Priority >= c.Priority || u.shares[c.Share].PreemptionConfiguration.InSharePreemption != model.StateEnabled {
					t.Fatalf("in-share preemption of %s (share %s, priority %d) for %s (share %s, priority %d)", p.JobID, a.Share, a.Priority, c.JobID, c.Share, c.Priority)
				}
			case sched.PreemptCrossShare:
				sh := u.shares[a.Share]
				_ = sh
				if a.Share == c.Share || u.before[[2]string{a.Share, a.InstanceType}] <= sh.Quota(a.InstanceType) {
					t.Fatalf("cross-share preemption of %s of share %s, which was not borrowing", p.JobID, a.Share)
				}
			default:
				t.Fatalf("preemption of kind %q", p.Kind)
			}
		}
		// No preemption when the capacity left free, with the capacity
		// already being freed, would serve every job preempted for.
	})
}

// TestPropertyNoPreemptionWhenCapacityServes gives every share quota for
// all it holds and waits for, and the environment room for all of it: then
// every job ready to start is admitted, and nothing is preempted.
func TestPropertyNoPreemptionWhenCapacityServes(t *testing.T) {
	for seed := range uint64(propertyRuns) {
		rng := rand.New(rand.NewPCG(seed, 14))
		s := randomQuotaSnapshot(rng)
		s.Environments[0].State = model.StateEnabled
		need := map[[2]string]int64{}
		for i := range s.Active {
			s.Active[i].Stopping = false
			need[[2]string{s.Active[i].Share, s.Active[i].InstanceType}] += s.Active[i].Instances
		}
		for _, c := range s.Runnable {
			need[[2]string{c.Share, c.InstanceType}] += c.Instances
		}
		total := map[string]int64{}
		for i := range s.QuotaShares {
			sh := &s.QuotaShares[i]
			for k := range sh.CapacityLimits {
				l := &sh.CapacityLimits[k]
				l.MaxCapacity = need[[2]string{sh.Name, l.CapacityUnit}] + int64(rng.IntN(2))
				total[l.CapacityUnit] += l.MaxCapacity
			}
		}
		for k := range s.Environments[0].CapacityLimits {
			l := &s.Environments[0].CapacityLimits[k]
			l.MaxCapacity = total[l.CapacityUnit] + int64(rng.IntN(3))
		}
		d := sched.Plan(s, now)
		if len(d.Preempt) > 0 {
			t.Fatalf("seed %d: preempted %v although every share had quota and room for all its jobs", seed, preempted(d))
		}
		want := 0
		for _, c := range s.Runnable {
			if c.NotBefore <= now && need[[2]string{c.Share, c.InstanceType}] > 0 {
				want++
			}
		}
		// A share's line stops at a job backing off, so count per share.
		if len(d.Admit) > want {
			t.Fatalf("seed %d: admitted %d of %d ready jobs", seed, len(d.Admit), want)
		}
		ready := map[string]bool{}
		for _, c := range s.Runnable {
			ready[c.Share] = true
		}
		for _, c := range s.Runnable {
			if c.NotBefore > now {
				ready[c.Share] = false
			}
		}
		got := map[string]bool{}
		for _, a := range d.Admit {
			got[a.JobID] = true
		}
		for _, c := range s.Runnable {
			if ready[c.Share] && !got[c.JobID] {
				t.Fatalf("seed %d: %s of share %s not admitted although its share had quota and room", seed, c.JobID, c.Share)
			}
		}
	}
}

func TestPropertyQuotaDeterministic(t *testing.T) {
	for seed := range uint64(propertyRuns / 5) {
		rng := rand.New(rand.NewPCG(seed, 13))
		s := randomQuotaSnapshot(rng)
		want := fmt.Sprint(sched.Plan(s, now))
		if got := fmt.Sprint(sched.Plan(shuffled(rng, s), now)); got != want {
			t.Fatalf("seed %d: decisions depend on the order of the snapshot:\n%s\n%s", seed, want, got)
		}
	}
}
