package sched_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

const planArn = "arn:aws:sagemaker:us-east-1:111122223333:training-plan/p5"

// planEnv is an environment of max instances on the plan.
func planEnv(name string, max int64, partial bool) model.ServiceEnvironment {
	e := sim.Env(name, max)
	e.TrainingPlanArn, e.PartialWindows = planArn, partial
	return e
}

// window is a plan window from..to seconds around now, of n instances.
func window(from, to, n int64) model.PlanWindow {
	return model.PlanWindow{Start: now + from*1000, End: now + to*1000, Close: now + to*1000, Instances: n}
}

// plan is a view of the plan with windows; its capacity now is that of the
// window in force.
func plan(ws ...model.PlanWindow) sched.PlanView {
	v := sched.PlanView{Arn: planArn, Name: "p5", Status: model.PlanScheduled, Windows: ws, InstanceTypes: []string{"ml.p5.48xlarge"}}
	if w, ok := model.WindowAt(ws, now); ok {
		v.Status, v.Capacity = model.PlanActive, w.Instances
	}
	return v
}

// long is a job of n instances whose runtime bound is bound seconds.
func long(id, queue string, age, n, bound int64) sched.Candidate {
	c := job(id, queue, "", 0, age, n)
	c.RuntimeBound, c.InstanceType = bound, "ml.p5.48xlarge"
	return c
}

func TestTrainingPlanRules(t *testing.T) {
	fifoQ := sim.Queue("fifo", 10, "", "a")
	partialQ := sim.Queue("fifo", 10, "", "a")
	partialQ.PartialWindows = true
	twoEnvs := sim.Queue("fifo", 10, "", "a", "b")
	stamp := func(s int64) string { return time.UnixMilli(now + s*1000).UTC().Format(time.RFC3339) }

	tests := map[string]struct {
		snap    sched.Snapshot
		admit   []string
		reasons map[string]string // job -> reason prefix ("" means cleared)
	}{
		"closed: nothing starts, every loaded job says when the plan opens": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(3, 23, 4))},
				Runnable:     []sched.Candidate{long("j1", fifo, 20, 1, 10), long("j2", fifo, 10, 1, 10)},
			},
			reasons: map[string]string{
				"j1": model.ReasonPlanNotActive + " - Training plan p5 is not in a window; its next window opens at " + stamp(3),
				"j2": model.ReasonPlanNotActive + " - Training plan p5 is not in a window; its next window opens at " + stamp(3),
			},
		},
		"open: jobs start and the plan's reasons go": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(-1, 19, 4))},
				Runnable: []sched.Candidate{
					withReason(long("j1", fifo, 20, 2, 10), model.ReasonPlanNotActive+" - x", 5),
					withReason(long("j2", fifo, 10, 2, 10), model.ReasonPlanNotActive+" - x", 5),
					withReason(long("j3", fifo, 5, 2, 10), model.ReasonPlanNotActive+" - x", 5),
				},
			},
			admit:   []string{"j1", "j2"},
			reasons: map[string]string{"j3": ""},
		},
		"a job that would outlast the window waits for the next one; the jobs behind it use this one": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(-5, 15, 4), window(100, 200, 4))},
				Runnable:     []sched.Candidate{long("long", fifo, 20, 1, 60), long("short", fifo, 10, 1, 10)},
			},
			admit: []string{"short"},
			reasons: map[string]string{
				"long": model.ReasonPlanWindowTooShort + " - The job's runtime bound (1m0s) does not fit in the current window of training plan p5, which ends at " + stamp(15) + "; it starts in the window that opens at " + stamp(100) + ".",
			},
		},
		"no window is long enough: the reason says so": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(-5, 15, 4))},
				Runnable:     []sched.Candidate{long("long", fifo, 20, 1, 86400)},
			},
			reasons: map[string]string{"long": model.ReasonPlanWindowTooShort + " - The job's runtime bound (24h0m0s) does not fit"},
		},
		"an environment that allows partial windows starts the long job": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, true)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(-5, 15, 4))},
				Runnable:     []sched.Candidate{long("long", fifo, 20, 1, 86400)},
			},
			admit: []string{"long"},
		},
		"a queue that allows partial windows starts the long job": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{partialQ},
				Plans:        []sched.PlanView{plan(window(-5, 15, 4))},
				Runnable:     []sched.Candidate{long("long", fifo, 20, 1, 86400)},
			},
			admit: []string{"long"},
		},
		"environments sharing a plan share its capacity": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false), planEnv("b", 4, false)},
				Queues:       []model.JobQueue{twoEnvs},
				Plans:        []sched.PlanView{plan(window(-5, 100, 5))},
				Active:       []sched.Allocation{running("r", fifo, "", envA, 2)},
				Runnable:     []sched.Candidate{long("j1", fifo, 30, 2, 10), long("j2", fifo, 20, 2, 10), long("j3", fifo, 10, 1, 10)},
			},
			admit: []string{"j1"}, // j2 does not fit in what the plan has left (1) and blocks the FIFO queue
		},
		"the plan can give less than the environment: it caps": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 8, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans: []sched.PlanView{func() sched.PlanView {
					v := plan(window(-5, 100, 4))
					v.Capacity = 3 // one unhealthy instance
					return v
				}()},
				Runnable: []sched.Candidate{long("j1", fifo, 30, 2, 10), long("j2", fifo, 20, 2, 10)},
			},
			admit: []string{"j1"},
		},
		"a job larger than every window can never run": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 8, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(-5, 100, 4))},
				Runnable:     []sched.Candidate{long("big", fifo, 30, 6, 10)},
			},
			reasons: map[string]string{"big": model.ReasonMisconfigurationText},
		},
		"another instance type than the plan's": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 8, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(-5, 100, 4))},
				Runnable: []sched.Candidate{func() sched.Candidate {
					c := long("g5", fifo, 30, 1, 10)
					c.InstanceType = "ml.g5.xlarge"
					return c
				}()},
			},
			reasons: map[string]string{"g5": model.ReasonMisconfiguration + " - Training plan p5 reserves ml.p5.48xlarge instances; the job asks for ml.g5.xlarge."},
		},
		"a plan that could not be described offers nothing": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{{Arn: planArn, Name: "p5", Error: "AccessDeniedException: not allowed"}},
				Runnable:     []sched.Candidate{long("j1", fifo, 20, 1, 10)},
			},
			reasons: map[string]string{"j1": model.ReasonPlanNotActive + " - Training plan p5 could not be described: AccessDeniedException: not allowed"},
		},
		"an expired plan has no more windows": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{{Arn: planArn, Name: "p5", Status: model.PlanExpired}},
				Runnable:     []sched.Candidate{long("j1", fifo, 20, 1, 10)},
			},
			reasons: map[string]string{"j1": model.ReasonPlanNotActive + " - Training plan p5 is Expired; it has no more windows."},
		},
		"a closed plan leaves the queue's other environment to work": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false), sim.Env("b", 1)},
				Queues:       []model.JobQueue{twoEnvs},
				Plans:        []sched.PlanView{plan(window(3, 23, 4))},
				Runnable:     []sched.Candidate{long("j1", fifo, 20, 1, 10), long("j2", fifo, 10, 1, 10)},
			},
			admit: []string{"j1"},
		},
		"a reason already right is not written again": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
				Queues:       []model.JobQueue{fifoQ},
				Plans:        []sched.PlanView{plan(window(3, 23, 4))},
				Runnable: []sched.Candidate{withReason(long("j1", fifo, 20, 1, 10),
					model.ReasonPlanNotActive+" - Training plan p5 is not in a window; its next window opens at "+stamp(3)+".", 5)},
			},
			reasons: map[string]string{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := sched.Plan(&tc.snap, now)
			if got := admitted(d); !reflect.DeepEqual(got, append([]string{}, tc.admit...)) {
				t.Errorf("admitted %v, want %v", got, tc.admit)
			}
			got := reasonsOf(d)
			if len(got) != len(tc.reasons) {
				t.Errorf("reasons %q, want %d of them", got, len(tc.reasons))
			}
			for id, want := range tc.reasons {
				r, ok := got[id]
				switch {
				case !ok:
					t.Errorf("%s: no reason set, want %q", id, want)
				case want == "" && r != "":
					t.Errorf("%s: reason %q, want it cleared", id, r)
				case !strings.HasPrefix(r, want):
					t.Errorf("%s: reason %q, want %q", id, r, want)
				}
			}
			seen := map[string]bool{}
			for _, r := range d.Reasons {
				if seen[r.JobID] {
					t.Errorf("%s: two reason updates in one pass", r.JobID)
				}
				seen[r.JobID] = true
			}
		})
	}
}

func TestPlanViewWindows(t *testing.T) {
	v := plan(window(-10, 10, 2), window(20, 30, 4), window(40, 200, 4))
	if w, ok := v.Current(now); !ok || w.Instances != 2 {
		t.Errorf("current = %+v, %v", w, ok)
	}
	if w, ok := v.Next(now); !ok || w.Start != now+20_000 {
		t.Errorf("next = %+v, %v", w, ok)
	}
	if w, ok := v.NextFitting(now, 60); !ok || w.Start != now+40_000 {
		t.Errorf("next fitting 60s = %+v, %v", w, ok)
	}
	if _, ok := v.NextFitting(now, 1000); ok {
		t.Error("a window of 160s fits a job of 1000s")
	}
}

// TestHeldJobsAreBounded: a pass passes over at most maxHeldPerLine (256)
// jobs of a line that the window is too short for, so that a line of long
// jobs does not make it read the whole backlog; the line waits behind them.
func TestHeldJobsAreBounded(t *testing.T) {
	fifoQ := sim.Queue("fifo", 10, "", "a")
	build := func(n int) *sched.Snapshot {
		s := &sched.Snapshot{
			Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
			Queues:       []model.JobQueue{fifoQ},
			Plans:        []sched.PlanView{plan(window(-5, 60, 4))},
		}
		for i := range n {
			s.Runnable = append(s.Runnable, long(fmt.Sprintf("long%03d", i), fifo, int64(10_000-i), 1, 3600))
		}
		s.Runnable = append(s.Runnable, long("short", fifo, 1, 1, 10))
		return s
	}
	if d := sched.Plan(build(256), now); !reflect.DeepEqual(admitted(d), []string{"short"}) || len(d.Reasons) != 256 {
		t.Errorf("256 long jobs ahead: admitted %v, %d reasons", admitted(d), len(d.Reasons))
	}
	if d := sched.Plan(build(257), now); len(d.Admit) != 0 || len(d.Reasons) != 257 {
		t.Errorf("257 long jobs ahead: admitted %v, %d reasons; want the line to wait behind the 257th", admitted(d), len(d.Reasons))
	}
}

// TestBackfillOnAPlan: backfill's profile of an environment on a plan
// follows the plan's windows, so a job that cannot start now is reserved
// in the next window, not in the gap before it; it keeps the plan's reason.
func TestBackfillOnAPlan(t *testing.T) {
	q := sim.Queue("fifo", 10, "", "a")
	q.Backfill = true
	s := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{planEnv("a", 4, false)},
		Queues:       []model.JobQueue{q},
		Plans:        []sched.PlanView{plan(window(100, 200, 4))},
		Runnable:     []sched.Candidate{long("j1", fifo, 20, 2, 10)},
	}
	d := sched.Plan(s, now)
	if len(d.Admit) != 0 || len(d.Reservations) != 1 || d.Reservations[0].At != now+100_000 {
		t.Fatalf("admitted %v, reservations %+v; want one at the window's start", admitted(d), d.Reservations)
	}
	if r := reasonsOf(d)["j1"]; !strings.HasPrefix(r, model.ReasonPlanNotActive) {
		t.Errorf("reason %q", r)
	}
}
