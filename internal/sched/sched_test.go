package sched_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

const now = int64(1_800_000_000_000)

var (
	envA  = arn(model.KindServiceEnvironment, "a")
	envB  = arn(model.KindServiceEnvironment, "b")
	fifo  = arn(model.KindJobQueue, "fifo")
	low   = arn(model.KindJobQueue, "low")
	fair  = arn(model.KindJobQueue, "fair")
	fpol  = "fp"
	other = arn(model.KindJobQueue, "gone")
)

func arn(kind, name string) string { return model.LocalAccount.ARN(kind, name) }

// job is a RUNNABLE candidate created age seconds before now.
func job(id, queue, share string, prio int32, age int64, n int64) sched.Candidate {
	return sched.Candidate{JobID: id, Queue: queue, Share: share, Priority: prio, CreatedAt: now - age*1000, Instances: n}
}

func running(id, queue, share, env string, n int64) sched.Allocation {
	return sched.Allocation{JobID: id, Queue: queue, Share: share, Environment: env, Instances: n}
}

func withReason(c sched.Candidate, reason string, since int64) sched.Candidate {
	c.StatusReason, c.BlockedSince = reason, now-since*1000
	return c
}

func timeLimit(reason string, seconds int32) model.JobStateTimeLimitAction {
	return model.JobStateTimeLimitAction{Action: model.TimeLimitActionTerminate, MaxTimeSeconds: seconds, Reason: reason, State: "RUNNABLE"}
}

func weight(share string, w float64) model.ShareAttributes {
	return model.ShareAttributes{ShareIdentifier: share, WeightFactor: w}
}

func admitted(d sched.Decisions) []string {
	ids := []string{}
	for _, a := range d.Admit {
		ids = append(ids, a.JobID)
	}
	return ids
}

func TestPlanRules(t *testing.T) {
	fifoQ := sim.Queue("fifo", 10, "", "a")
	lowQ := sim.Queue("low", 1, "", "a")
	fairQ := sim.Queue("fair", 5, fpol, "a")
	policy := sim.Policy(fpol, 0, 0)

	tests := map[string]struct {
		snap          sched.Snapshot
		admit         []string
		envOf         map[string]string
		reasons       []sched.ReasonUpdate
		terminate     []string
		needMore      []sched.ShareKey
		admitAnyOrder bool
	}{
		"capacity: admits until the environment is full": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable: []sched.Candidate{
					job("j1", fifo, "", 0, 60, 1), job("j2", fifo, "", 0, 50, 1), job("j3", fifo, "", 0, 40, 1),
					job("j4", fifo, "", 0, 30, 1), job("j5", fifo, "", 0, 20, 1), job("j6", fifo, "", 0, 10, 1),
				},
			},
			admit: []string{"j1", "j2", "j3", "j4"},
		},
		"capacity: instances of active jobs are in use": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fifoQ},
				Active:       []sched.Allocation{running("r1", fifo, "", envA, 3)},
				Runnable:     []sched.Candidate{job("j1", fifo, "", 0, 60, 1), job("j2", fifo, "", 0, 50, 1)},
			},
			admit: []string{"j1"},
		},
		"capacity: active jobs of other queues count too": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fifoQ, lowQ},
				Active:       []sched.Allocation{running("r1", low, "", envA, 4)},
				Runnable:     []sched.Candidate{job("j1", fifo, "", 0, 60, 1)},
			},
			admit: []string{},
		},
		"capacity: an environment shrunk below its use takes nothing": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 2)},
				Queues:       []model.JobQueue{fifoQ},
				Active:       []sched.Allocation{running("r1", fifo, "", envA, 5)},
				Runnable:     []sched.Candidate{job("j1", fifo, "", 0, 60, 1)},
			},
			admit: []string{},
		},
		"capacity: a disabled environment takes nothing": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{func() model.ServiceEnvironment {
					e := sim.Env("a", 4)
					e.State = model.StateDisabled
					return e
				}()},
				Queues:   []model.JobQueue{fifoQ},
				Runnable: []sched.Candidate{job("j1", fifo, "", 0, 60, 1)},
			},
			admit: []string{},
		},
		"capacity: the next environment in order takes what the first cannot": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 2), sim.Env("b", 3)},
				Queues:       []model.JobQueue{sim.Queue("fifo", 1, "", "a", "b")},
				Runnable: []sched.Candidate{
					job("j1", fifo, "", 0, 60, 2), job("j2", fifo, "", 0, 50, 2), job("j3", fifo, "", 0, 40, 1), job("j4", fifo, "", 0, 30, 1),
				},
			},
			admit: []string{"j1", "j2", "j3"},
			envOf: map[string]string{"j1": envA, "j2": envB, "j3": envB},
		},
		"fifo: oldest first, then by job id": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 3)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable: []sched.Candidate{
					job("j9", fifo, "", 0, 10, 1), job("j2", fifo, "", 0, 30, 1), job("j3", fifo, "", 0, 20, 1), job("j1", fifo, "", 0, 20, 1),
				},
			},
			admit: []string{"j2", "j1", "j3"},
		},
		"fifo: schedulingPriority is ignored": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 1)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable:     []sched.Candidate{job("old", fifo, "", 1, 60, 1), job("urgent", fifo, "", 9999, 10, 1)},
			},
			admit: []string{"old"},
		},
		"fifo: a head that does not fit blocks the jobs behind it": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable:     []sched.Candidate{job("j1", fifo, "", 0, 60, 2), job("big", fifo, "", 0, 50, 3), job("small", fifo, "", 0, 40, 1)},
			},
			admit: []string{"j1"},
		},
		"fifo: a head larger than every environment blocks and gets MISCONFIGURATION": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable:     []sched.Candidate{job("huge", fifo, "", 0, 60, 5), job("small", fifo, "", 0, 40, 1)},
			},
			admit:   []string{},
			reasons: []sched.ReasonUpdate{{JobID: "huge", Reason: model.ReasonMisconfigurationText}},
		},
		"fifo: a queue with no known environment is a misconfiguration": {
			snap: sched.Snapshot{
				Queues:   []model.JobQueue{fifoQ},
				Runnable: []sched.Candidate{job("j1", fifo, "", 0, 60, 1)},
			},
			admit:   []string{},
			reasons: []sched.ReasonUpdate{{JobID: "j1", Reason: model.ReasonMisconfigurationText}},
		},
		"misconfiguration: the reason is not set twice": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable:     []sched.Candidate{withReason(job("huge", fifo, "", 0, 60, 5), model.ReasonMisconfigurationText, 10)},
			},
			admit: []string{},
		},
		"misconfiguration: the reason is cleared once the environment is large enough": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 8)},
				Queues:       []model.JobQueue{fifoQ},
				Active:       []sched.Allocation{running("r1", fifo, "", envA, 4)},
				Runnable:     []sched.Candidate{withReason(job("huge", fifo, "", 0, 60, 5), model.ReasonMisconfigurationText, 10)},
			},
			admit:   []string{},
			reasons: []sched.ReasonUpdate{{JobID: "huge", Reason: ""}},
		},
		"time limit: an expired head is ended and the job behind it runs": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues: []model.JobQueue{func() model.JobQueue {
					q := fifoQ
					q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{timeLimit(model.ReasonMisconfiguration, 600)}
					return q
				}()},
				Runnable: []sched.Candidate{
					withReason(job("huge", fifo, "", 0, 900, 5), model.ReasonMisconfigurationText, 601), job("small", fifo, "", 0, 40, 1),
				},
			},
			admit:     []string{"small"},
			terminate: []string{"huge"},
		},
		"time limit: a head is kept until maxTimeSeconds have passed": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues: []model.JobQueue{func() model.JobQueue {
					q := fifoQ
					q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{timeLimit(model.ReasonMisconfiguration, 600)}
					return q
				}()},
				Runnable: []sched.Candidate{
					withReason(job("huge", fifo, "", 0, 900, 5), model.ReasonMisconfigurationText, 599), job("small", fifo, "", 0, 40, 1),
				},
			},
			admit: []string{},
		},
		"time limit: a newly misconfigured head starts its clock now": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues: []model.JobQueue{func() model.JobQueue {
					q := fifoQ
					q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{timeLimit(model.ReasonMisconfiguration, 1)}
					return q
				}()},
				Runnable: []sched.Candidate{job("huge", fifo, "", 0, 9000, 5)},
			},
			admit:   []string{},
			reasons: []sched.ReasonUpdate{{JobID: "huge", Reason: model.ReasonMisconfigurationText}},
		},
		"time limit: a CAPACITY reason from SageMaker counts on a blocked head": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues: []model.JobQueue{func() model.JobQueue {
					q := fifoQ
					q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{
						timeLimit(model.ReasonMisconfiguration, 60), timeLimit(model.ReasonCapacity, 300),
					}
					return q
				}()},
				Active: []sched.Allocation{running("r1", fifo, "", envA, 4)},
				Runnable: []sched.Candidate{
					withReason(job("j1", fifo, "", 0, 900, 1), model.ReasonCapacity+" - Unable to provision requested compute resources", 301),
					job("j2", fifo, "", 0, 40, 1),
				},
			},
			admit:     []string{},
			terminate: []string{"j1"},
		},
		"time limit: only the head is judged": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues: []model.JobQueue{func() model.JobQueue {
					q := fifoQ
					q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{timeLimit(model.ReasonCapacity, 60)}
					return q
				}()},
				Active: []sched.Allocation{running("r1", fifo, "", envA, 4)},
				Runnable: []sched.Candidate{
					job("j1", fifo, "", 0, 900, 1),
					withReason(job("j2", fifo, "", 0, 800, 1), model.ReasonCapacity+" - x", 700),
				},
			},
			admit: []string{},
		},
		"time limit: a head that fits is placed, not ended": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues: []model.JobQueue{func() model.JobQueue {
					q := fifoQ
					q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{timeLimit(model.ReasonCapacity, 60)}
					return q
				}()},
				Runnable: []sched.Candidate{withReason(job("j1", fifo, "", 0, 900, 1), model.ReasonCapacity+" - x", 700)},
			},
			admit: []string{"j1"},
		},
		"queues: the higher priority queue is served first": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 3)},
				Queues:       []model.JobQueue{lowQ, fifoQ},
				Runnable: []sched.Candidate{
					job("l1", low, "", 0, 90, 1), job("l2", low, "", 0, 80, 1),
					job("h1", fifo, "", 0, 10, 1), job("h2", fifo, "", 0, 5, 1),
				},
			},
			admit: []string{"h1", "h2", "l1"},
		},
		"queues: a blocked head blocks only its own queue": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{lowQ, fifoQ},
				Active:       []sched.Allocation{running("r1", low, "", envA, 1)},
				Runnable: []sched.Candidate{
					job("hbig", fifo, "", 0, 60, 4), job("h2", fifo, "", 0, 50, 1),
					job("l1", low, "", 0, 90, 1), job("l2", low, "", 0, 80, 2), job("l3", low, "", 0, 70, 1),
				},
			},
			admit: []string{"l1", "l2"},
		},
		"queues: jobs of an unknown queue are left alone": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 3)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable:     []sched.Candidate{job("x", other, "", 0, 90, 1), job("h1", fifo, "", 0, 10, 1)},
			},
			admit: []string{"h1"},
		},
		"fair share: the share with the lowest weighted use goes first": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 5)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 0, 0, weight("heavy", 1), weight("light", 0.25))},
				Runnable: []sched.Candidate{
					job("h1", fair, "heavy", 0, 90, 1), job("h2", fair, "heavy", 0, 80, 1), job("h3", fair, "heavy", 0, 70, 1),
					job("l1", fair, "light", 0, 10, 1), job("l2", fair, "light", 0, 9, 1), job("l3", fair, "light", 0, 8, 1),
					job("l4", fair, "light", 0, 7, 1), job("l5", fair, "light", 0, 6, 1),
				},
			},
			// scores: heavy 0,1,2 ...; light 0,0.25,0.5,0.75,1 ... ties go to the lower name
			admit: []string{"h1", "l1", "l2", "l3", "l4"},
		},
		"fair share: allocation held now counts": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 6)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{policy},
				Active:       []sched.Allocation{running("r1", fair, "x", envA, 3)},
				Runnable: []sched.Candidate{
					job("x1", fair, "x", 0, 90, 1), job("y1", fair, "y", 0, 10, 1), job("y2", fair, "y", 0, 9, 1),
					job("y3", fair, "y", 0, 8, 1),
				},
			},
			admit: []string{"y1", "y2", "y3"},
		},
		"fair share: prefix weights apply to every share with the prefix": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 3)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 0, 0, weight("team*", 0.1))},
				Runnable: []sched.Candidate{
					job("a1", fair, "alice", 0, 90, 1), job("t1", fair, "team-x", 0, 10, 1), job("t2", fair, "team-x", 0, 9, 1),
					job("t3", fair, "team-x", 0, 8, 1),
				},
			},
			admit: []string{"a1", "t1", "t2"},
		},
		"fair share: higher schedulingPriority first inside a share, then older": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 3)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{policy},
				Runnable: []sched.Candidate{
					job("old", fair, "s", 1, 90, 1), job("urgent", fair, "s", 50, 10, 1),
					job("young", fair, "s", 1, 5, 1), job("urgent2", fair, "s", 50, 5, 1),
				},
			},
			admit: []string{"urgent", "urgent2", "old"},
		},
		"fair share: a head that does not fit stops the queue; no small job overtakes it": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{policy},
				Active:       []sched.Allocation{running("r1", fair, "busy", envA, 2)},
				Runnable:     []sched.Candidate{job("big", fair, "idle", 0, 90, 3), job("busy1", fair, "busy", 0, 10, 1)},
			},
			admit: []string{},
		},
		"fair share: decayed usage makes a heavy share yield": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 4)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 3600, 0)},
				Usage:        []model.ShareUsage{{Queue: fair, Share: "a", Instances: 3, AsOf: now - 60_000}},
				Runnable: []sched.Candidate{
					job("a1", fair, "a", 0, 90, 1), job("a2", fair, "a", 0, 80, 1),
					job("b1", fair, "b", 0, 10, 1), job("b2", fair, "b", 0, 9, 1), job("b3", fair, "b", 0, 8, 1), job("b4", fair, "b", 0, 7, 1),
				},
			},
			admit: []string{"b1", "b2", "b3", "a1"},
		},
		"fair share: computeReservation keeps capacity for shares without any": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 10)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 0, 50)},
				Runnable: []sched.Candidate{
					job("a1", fair, "a", 0, 90, 1), job("a2", fair, "a", 0, 89, 1), job("a3", fair, "a", 0, 88, 1),
					job("a4", fair, "a", 0, 87, 1), job("a5", fair, "a", 0, 86, 1), job("a6", fair, "a", 0, 85, 1),
					job("a7", fair, "a", 0, 84, 1),
				},
			},
			// one active share: floor(0.5^1*10) = 5 stay free
			admit: []string{"a1", "a2", "a3", "a4", "a5"},
		},
		"fair share: a share without capacity may use the reservation": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 10)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 0, 50)},
				Active:       []sched.Allocation{running("r1", fair, "a", envA, 5)},
				Usage:        []model.ShareUsage{{Queue: fair, Share: "b", Instances: 100, AsOf: now}},
				Runnable:     []sched.Candidate{job("a6", fair, "a", 0, 90, 1), job("b1", fair, "b", 0, 10, 1), job("b2", fair, "b", 0, 9, 1)},
			},
			// a is held back by the reservation; b (no capacity) takes one from
			// it; then two shares are active and floor(0.25*10)=2 stay free.
			admit: []string{"b1", "a6", "b2"},
		},
		"truncated: running off the end of a cut-short line asks for more": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 10)},
				Queues:       []model.JobQueue{fifoQ},
				Runnable:     []sched.Candidate{job("j1", fifo, "", 0, 90, 1), job("j2", fifo, "", 0, 80, 1)},
				Truncated:    []sched.ShareKey{{Queue: fifo}},
			},
			admit:    []string{"j1", "j2"},
			needMore: []sched.ShareKey{{Queue: fifo}},
		},
		"truncated: a fair-share line cut short stops its queue": {
			snap: sched.Snapshot{
				Environments: []model.ServiceEnvironment{sim.Env("a", 10)},
				Queues:       []model.JobQueue{fairQ},
				Policies:     []model.SchedulingPolicy{policy},
				Runnable:     []sched.Candidate{job("x1", fair, "x", 0, 90, 1), job("y1", fair, "y", 0, 80, 1), job("y2", fair, "y", 0, 70, 1)},
				Truncated:    []sched.ShareKey{{Queue: fair, Share: "x"}},
			},
			admit:    []string{"x1", "y1"},
			needMore: []sched.ShareKey{{Queue: fair, Share: "x"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := sched.Plan(&tc.snap, now)
			if got := admitted(d); !reflect.DeepEqual(got, tc.admit) {
				t.Errorf("admitted %v, want %v", got, tc.admit)
			}
			for _, a := range d.Admit {
				if want, ok := tc.envOf[a.JobID]; ok && a.Environment != want {
					t.Errorf("%s placed in %s, want %s", a.JobID, a.Environment, want)
				}
			}
			if !reflect.DeepEqual(d.Reasons, tc.reasons) {
				t.Errorf("reasons %+v, want %+v", d.Reasons, tc.reasons)
			}
			var term []string
			for _, x := range d.Terminate {
				term = append(term, x.JobID)
				if want := "Terminated by JobStateTimeLimit action due to reason: "; len(x.Reason) < len(want) || x.Reason[:len(want)] != want {
					t.Errorf("termination reason %q", x.Reason)
				}
			}
			if !reflect.DeepEqual(term, tc.terminate) {
				t.Errorf("terminated %v, want %v", term, tc.terminate)
			}
			if !reflect.DeepEqual(d.NeedMore, tc.needMore) {
				t.Errorf("needMore %v, want %v", d.NeedMore, tc.needMore)
			}
		})
	}
}

func TestCancelActionMessage(t *testing.T) {
	q := sim.Queue("fifo", 1, "", "a")
	q.JobStateTimeLimitActions = []model.JobStateTimeLimitAction{{
		Action: model.TimeLimitActionCancel, MaxTimeSeconds: 5, Reason: model.ReasonMisconfiguration, State: "RUNNABLE",
	}}
	d := sched.Plan(&sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("a", 1)},
		Queues:       []model.JobQueue{q},
		Runnable:     []sched.Candidate{withReason(job("huge", fifo, "", 0, 60, 2), model.ReasonMisconfigurationText, 6)},
	}, now)
	want := "Canceled by JobStateTimeLimit action due to reason: " + model.ReasonMisconfiguration
	if len(d.Terminate) != 1 || d.Terminate[0].Reason != want {
		t.Fatalf("got %+v, want one termination with %q", d.Terminate, want)
	}
}

func ExamplePlan() {
	snap := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("plan-20", 20)},
		Queues:       []model.JobQueue{sim.Queue("research", 1, "", "plan-20")},
		Runnable: []sched.Candidate{
			{JobID: "a", Queue: arn(model.KindJobQueue, "research"), CreatedAt: 1, Instances: 8},
			{JobID: "b", Queue: arn(model.KindJobQueue, "research"), CreatedAt: 2, Instances: 16},
		},
	}
	d := sched.Plan(snap, 1000)
	for _, a := range d.Admit {
		fmt.Println("admit", a.JobID, a.Instances)
	}
	// Output: admit a 8
}

func TestDispatchOrder(t *testing.T) {
	snap := &sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("a", 1)},
		Queues:       []model.JobQueue{sim.Queue("fifo", 1, "", "a"), sim.Queue("fair", 1, fpol, "a")},
		Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 0, 0, weight("b", 0.5))},
		Active:       []sched.Allocation{running("r", fair, "a", envA, 1)},
		Runnable: []sched.Candidate{
			job("f2", fifo, "", 9, 10, 1), job("f1", fifo, "", 0, 20, 1), job("f3", fifo, "", 0, 5, 1),
			job("a1", fair, "a", 0, 90, 1), job("a2", fair, "a", 0, 80, 1),
			job("b1", fair, "b", 0, 10, 2), job("b2", fair, "b", 5, 5, 1), job("b3", fair, "b", 0, 1, 1),
		},
	}
	order := func(q string, limit int) []string {
		var ids []string
		for _, c := range sched.DispatchOrder(snap, q, now, limit) {
			ids = append(ids, c.JobID)
		}
		return ids
	}
	if got := order(fifo, 10); !reflect.DeepEqual(got, []string{"f1", "f2", "f3"}) {
		t.Errorf("fifo order %v", got)
	}
	if got := order(fifo, 2); !reflect.DeepEqual(got, []string{"f1", "f2"}) {
		t.Errorf("fifo order with limit %v", got)
	}
	// Capacity is no object: the full environment does not stop the order.
	// a holds 1 (score 1); b (weight 0.5) scores 0, 0.5 after b2, 1.5 after
	// b1 (2 instances); a1 takes a to 2; b3 takes b to 2; a2 last.
	if got := order(fair, 10); !reflect.DeepEqual(got, []string{"b2", "b1", "a1", "b3", "a2"}) {
		t.Errorf("fair order %v", got)
	}
	if got := order(other, 10); got != nil {
		t.Errorf("unknown queue: %v", got)
	}
}

func TestBackoffHoldsTheHead(t *testing.T) {
	fifoQ := sim.Queue("fifo", 10, "", "a")
	fairQ := sim.Queue("fair", 5, fpol, "a")
	backing := func(c sched.Candidate, ms int64) sched.Candidate { c.NotBefore = now + ms; return c }
	d := sched.Plan(&sched.Snapshot{
		Environments: []model.ServiceEnvironment{sim.Env("a", 10)},
		Queues:       []model.JobQueue{fifoQ, fairQ},
		Policies:     []model.SchedulingPolicy{sim.Policy(fpol, 0, 0)},
		Runnable: []sched.Candidate{
			backing(job("f1", fifo, "", 0, 90, 1), 5000), job("f2", fifo, "", 0, 80, 1),
			backing(job("x1", fair, "x", 0, 90, 1), 5000), job("x2", fair, "x", 0, 80, 1), job("y1", fair, "y", 0, 70, 1),
			backing(job("z1", fair, "z", 0, 60, 1), -1), // its backoff is over
		},
	}, now)
	// The FIFO queue waits behind its backing-off head; in the fair-share
	// queue only share x waits, the others go on.
	if got := admitted(d); !reflect.DeepEqual(got, []string{"y1", "z1"}) {
		t.Fatalf("admitted %v", got)
	}
}
