package sched_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
)

// randomPlanSnapshot is randomSnapshot with training plans: some
// environments draw on one of two plans (shared), whose windows lie before,
// around or after now, with capacities that may be below the environments',
// unknown plans and plans of other instance types; jobs get random runtime
// bounds and instance types, and queues and environments random
// partialWindows settings.
func randomPlanSnapshot(rng *rand.Rand) *sched.Snapshot {
	s := randomSnapshot(rng)
	types := []string{"ml.p5.48xlarge", "ml.p4d.24xlarge", ""}
	for k := range 2 {
		v := sched.PlanView{Arn: fmt.Sprintf("arn:aws:sagemaker:us-east-1:111122223333:training-plan/p%d", k), Name: fmt.Sprintf("p%d", k),
			Status: model.PlanScheduled, InstanceTypes: []string{types[rng.IntN(2)]}}
		at := now - int64(rng.IntN(200))*1000
		for range rng.IntN(4) {
			w := model.PlanWindow{Start: at, End: at + int64(1+rng.IntN(300))*1000, Instances: int64(rng.IntN(12))}
			w.Close = w.End
			v.Windows = append(v.Windows, w)
			at = w.End + int64(rng.IntN(100))*1000
		}
		if w, ok := v.Current(now); ok {
			v.Status, v.Capacity = model.PlanActive, max(w.Instances-int64(rng.IntN(3)), 0)
		}
		switch rng.IntN(8) {
		case 0:
			v = sched.PlanView{Arn: v.Arn, Name: v.Name, Error: "ResourceNotFound: no such plan"}
		case 1:
			v.InstanceTypes = nil
		}
		s.Plans = append(s.Plans, v)
	}
	for i := range s.Environments {
		if k := rng.IntN(3); k < 2 {
			s.Environments[i].TrainingPlanArn = s.Plans[k].Arn
		}
		s.Environments[i].PartialWindows = rng.IntN(4) == 0
	}
	for i := range s.Queues {
		s.Queues[i].PartialWindows = rng.IntN(4) == 0
	}
	for i := range s.Runnable {
		s.Runnable[i].RuntimeBound = int64(1 + rng.IntN(400))
		s.Runnable[i].InstanceType = types[rng.IntN(len(types))]
	}
	if rng.IntN(4) == 0 {
		s.Plans = s.Plans[:1] // an environment naming a plan without a view is not limited by it
	}
	return s
}

func forRandomPlanSnapshots(t *testing.T, check func(t *testing.T, s *sched.Snapshot, d sched.Decisions)) {
	t.Helper()
	forRandom(t, randomPlanSnapshot, 1010, check)
}

// planIndex maps what the properties look up.
type planIndex struct {
	envs   map[string]model.ServiceEnvironment
	queues map[string]model.JobQueue
	plans  map[string]sched.PlanView
	jobs   map[string]sched.Candidate
}

func indexOf(s *sched.Snapshot) planIndex {
	x := planIndex{envs: map[string]model.ServiceEnvironment{}, queues: map[string]model.JobQueue{}, plans: map[string]sched.PlanView{}, jobs: map[string]sched.Candidate{}}
	for _, e := range s.Environments {
		x.envs[e.Arn] = e
	}
	for _, q := range s.Queues {
		x.queues[q.Arn] = q
	}
	for _, p := range s.Plans {
		x.plans[p.Arn] = p
	}
	for _, c := range s.Runnable {
		x.jobs[c.JobID] = c
	}
	return x
}

// TestPropertyPlanAdmission checks every admission onto a plan against the
// plan rules, from the outside: the plan offers capacity now, its window
// holds the job's runtime bound (unless partial windows are allowed), it
// reserves the job's instance type, and the environments sharing it never
// hold more than it gives.
func TestPropertyPlanAdmission(t *testing.T) {
	forRandomPlanSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		x := indexOf(s)
		used := map[string]int64{}
		for _, a := range s.Active {
			if p, ok := x.plans[x.envs[a.Environment].TrainingPlanArn]; ok {
				used[p.Arn] += a.Instances
			}
		}
		before := map[string]int64{}
		for k, v := range used {
			before[k] = v
		}
		for _, a := range d.Admit {
			e := x.envs[a.Environment]
			p, ok := x.plans[e.TrainingPlanArn]
			if !ok {
				continue
			}
			c := x.jobs[a.JobID]
			w, open := p.Current(now)
			switch {
			case !open || p.Capacity <= 0 || p.Error != "":
				t.Fatalf("%s admitted onto plan %s, which offers nothing now", a.JobID, p.Name)
			case !e.PartialWindows && !x.queues[c.Queue].PartialWindows && now+c.RuntimeBound*1000 > w.End:
				t.Fatalf("%s (bound %ds) admitted onto plan %s whose window ends in %dms", a.JobID, c.RuntimeBound, p.Name, w.End-now)
			case c.InstanceType != "" && len(p.InstanceTypes) > 0 && !contains(p.InstanceTypes, c.InstanceType):
				t.Fatalf("%s (%s) admitted onto plan %s of %v", a.JobID, c.InstanceType, p.Name, p.InstanceTypes)
			}
			used[p.Arn] += a.Instances
		}
		for arn, n := range used {
			if n > before[arn] && n > x.plans[arn].Capacity {
				t.Fatalf("plan %s: %d instances in use after the pass, it gives %d (before %d)", arn, n, x.plans[arn].Capacity, before[arn])
			}
		}
	})
}

// TestPropertyPlanLineOrder relaxes the line order of queues without
// backfill for the one exception the plans make: a job held because its plan's window ends too soon lets
// the jobs behind it go; it must say so. Every other job is taken from the
// front of its line, in order.
func TestPropertyPlanLineOrder(t *testing.T) {
	forRandomPlanSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		taken := map[string]int{}
		for i, a := range d.Admit {
			taken[a.JobID] = i + 1
		}
		for _, x := range d.Terminate {
			taken[x.JobID] = -1
		}
		reasons := reasonsOf(d)
		x := indexOf(s)
		for k, l := range lines(s) {
			if x.queues[k.Queue].Backfill {
				continue // backfill lets jobs by on rules of its own (backfill_property_test.go)
			}
			prefix := true
			lastAdmit := 0
			for _, c := range l {
				pos, ok := taken[c.JobID]
				if ok && !prefix {
					t.Fatalf("line %v: %s taken although a job before it was not", k, c.JobID)
				}
				if !ok {
					r, set := reasons[c.JobID]
					if !set {
						r = c.StatusReason
					}
					if !strings.HasPrefix(r, model.ReasonPlanWindowTooShort) {
						prefix = false
					} else if x.queues[c.Queue].PartialWindows {
						t.Fatalf("%s held for a short window in a queue that allows partial windows", c.JobID)
					}
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

// TestPropertyPlanReasons checks the reasons a pass writes: at most one per
// job, only for RUNNABLE jobs of the snapshot, never for a job it admits,
// and never a plan reason for a job none of whose queue's environments
// draws on a plan.
func TestPropertyPlanReasons(t *testing.T) {
	forRandomPlanSnapshots(t, func(t *testing.T, s *sched.Snapshot, d sched.Decisions) {
		x := indexOf(s)
		admitted := map[string]bool{}
		for _, a := range d.Admit {
			admitted[a.JobID] = true
		}
		seen := map[string]bool{}
		for _, r := range d.Reasons {
			c, ok := x.jobs[r.JobID]
			switch {
			case !ok:
				t.Fatalf("reason for %s, which is not a candidate", r.JobID)
			case seen[r.JobID]:
				t.Fatalf("two reasons for %s", r.JobID)
			case admitted[r.JobID]:
				t.Fatalf("%s both admitted and given reason %q", r.JobID, r.Reason)
			case r.Reason == c.StatusReason:
				t.Fatalf("%s: reason %q written again", r.JobID, r.Reason)
			}
			seen[r.JobID] = true
			if model.IsPlanReason(r.Reason) {
				planned := false
				q := x.queues[c.Queue]
				for _, env := range q.Environments() {
					_, ok := x.plans[x.envs[env].TrainingPlanArn]
					planned = planned || ok
				}
				if !planned {
					t.Fatalf("%s: plan reason %q in a queue without plans", r.JobID, r.Reason)
				}
			}
		}
	})
}

func TestPropertyPlanDeterministic(t *testing.T) {
	for seed := range uint64(propertyRuns) {
		rng := rand.New(rand.NewPCG(seed, 77))
		s := randomPlanSnapshot(rng)
		want := sched.Plan(s, now)
		for range 3 {
			c := shuffled(rng, s)
			c.Plans = append([]sched.PlanView(nil), s.Plans...)
			rng.Shuffle(len(c.Plans), func(i, j int) { c.Plans[i], c.Plans[j] = c.Plans[j], c.Plans[i] })
			if got := sched.Plan(c, now); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: the same snapshot in another order gave\n%+v\nwant\n%+v", seed, got, want)
			}
		}
	}
}
