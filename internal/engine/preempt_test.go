package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
)

// configureQuota creates a quota management queue "qm" on an environment of
// 2 ml.m5.xlarge, with shares A (quota 1, LEND_AND_BORROW) and B (quota 1,
// LEND, in-share preemption).
func (r *rig) configureQuota() {
	r.t.Helper()
	env := model.ServiceEnvironment{
		Name: "qe", Arn: model.LocalAccount.ARN(model.KindServiceEnvironment, "qe"), Type: model.ServiceJobTypeSageMakerTraining,
		State: model.StateEnabled, Status: model.StatusValid, CapacityLimits: []model.CapacityLimit{{CapacityUnit: "ml.m5.xlarge", MaxCapacity: 2}},
	}
	pol := model.SchedulingPolicy{Name: "qp", Arn: model.LocalAccount.ARN(model.KindSchedulingPolicy, "qp"), QuotaSharePolicy: &model.QuotaSharePolicy{IdleResourceAssignmentStrategy: "FIFO"}}
	q := model.JobQueue{
		Name: "qm", Arn: model.LocalAccount.ARN(model.KindJobQueue, "qm"), Type: model.ServiceJobTypeSageMakerTraining,
		State: model.StateEnabled, Status: model.StatusValid, Priority: 1, SchedulingPolicyArn: pol.Arn, QuotaManagement: true,
		ServiceEnvironmentOrder: []model.ServiceEnvironmentOrder{{Order: 1, ServiceEnvironment: env.Arn}},
	}
	share := func(name, strategy string, inShare string) *model.QuotaShare {
		return &model.QuotaShare{
			Name: name, Arn: model.QuotaShareARN(q.Arn, name), JobQueue: q.Arn,
			CapacityLimits:               []model.CapacityLimit{{CapacityUnit: "ml.m5.xlarge", MaxCapacity: 1}},
			ResourceSharingConfiguration: model.ResourceSharing{Strategy: strategy, BorrowLimit: -1},
			PreemptionConfiguration:      model.QuotaSharePreemption{InSharePreemption: inShare},
			State:                        model.StateEnabled, Status: model.StatusValid,
		}
	}
	for _, err := range []error{
		func() error { _, err := r.store.CreateEnvironment(ctx, &env); return err }(),
		func() error { _, err := r.store.CreatePolicy(ctx, &pol); return err }(),
		func() error { _, err := r.store.CreateQueue(ctx, &q); return err }(),
		func() error {
			_, err := r.store.CreateQuotaShare(ctx, share("A", model.SharingLendAndBorrow, model.StateDisabled))
			return err
		}(),
		func() error {
			_, err := r.store.CreateQuotaShare(ctx, share("B", model.SharingLend, model.StateEnabled))
			return err
		}(),
	} {
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

func quotaJob(share string, retries *int32, prio int32) func(j *model.ServiceJob) {
	return func(j *model.ServiceJob) {
		j.ShareIdentifier, j.QuotaShareName, j.InstanceType, j.SchedulingPriority = share, share, "ml.m5.xlarge", prio
		j.RetryStrategy = &model.RetryStrategy{Attempts: 1}
		if retries != nil {
			j.PreemptionConfiguration = &model.ServiceJobPreemption{RetriesBeforeTermination: retries}
		}
	}
}

func TestPreemptionRequeuesWithoutUsingAnAttempt(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configureQuota()
	one := int32(1)
	// A borrows B's idle instance with two long jobs.
	a1 := r.submit("qm", "A", "sleep 60", quotaJob("A", &one, 0))
	a2 := r.submit("qm", "A", "sleep 60", quotaJob("A", &one, 0))
	r.drive(15*time.Second, func() bool {
		return r.job(a1).Status == model.StatusRunning && r.job(a2).Status == model.StatusRunning
	})
	// B's job arrives: one of A's jobs is preempted for it.
	b1 := r.submit("qm", "B", "sleep 1", quotaJob("B", nil, 0))
	victim := func() string {
		for _, id := range []string{a1, a2} {
			if r.job(id).Status == model.StatusRunnable {
				return id
			}
		}
		return ""
	}
	r.drive(20*time.Second, func() bool { return victim() != "" && r.job(b1).Status.HoldsCapacity() })
	v, other := victim(), a1
	if v == a1 {
		other = a2
	}
	j := r.job(v)
	if j.Placements != 1 || j.Preemptions != 1 || len(j.PreemptedAttempts) != 1 || !strings.HasPrefix(j.StatusReason, model.ReasonPreempted+" - ") ||
		!strings.Contains(j.StatusReason, b1) || j.PreemptReason != "" || !strings.HasPrefix(j.Attempts[0].StatusReason, model.ReasonPreempted) {
		t.Fatalf("preempted job %+v", j)
	}
	if r.job(other).Status != model.StatusRunning {
		t.Fatalf("%s %s: only one victim was needed", other, r.job(other).Status)
	}
	// When B's job ends, A borrows again: the victim runs its second attempt.
	r.drive(20*time.Second, func() bool { return r.job(v).Status == model.StatusRunning })
	if j := r.job(v); j.Launches != 2 || j.Placements != 1 {
		t.Fatalf("victim rerun %+v", j)
	}
	// A second preemption uses up its one preemption retry: FAILED. The
	// victim runs its attempt the latest, so it is the one preempted again.
	b2 := r.submit("qm", "B", "sleep 60", quotaJob("B", nil, 0))
	r.drive(20*time.Second, func() bool { return r.job(v).Status.Terminal() })
	j = r.job(v)
	if j.Status != model.StatusFailed || j.Preemptions != 2 || !strings.Contains(j.StatusReason, model.ReasonPreemptionRetriesExhausted) {
		t.Fatalf("victim after its second preemption %+v", j)
	}
	r.drive(20*time.Second, func() bool { return r.job(b2).Status == model.StatusRunning })
}

func TestInSharePreemptionByPriority(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.configureQuota()
	// B (quota 1, LEND, in-share preemption) runs a low-priority job; a
	// higher-priority one of B preempts it, as B may not borrow.
	lo := r.submit("qm", "B", "sleep 60", quotaJob("B", nil, 1))
	r.drive(15*time.Second, func() bool { return r.job(lo).Status == model.StatusRunning })
	hi := r.submit("qm", "B", "sleep 60", quotaJob("B", nil, 9))
	r.drive(20*time.Second, func() bool { return r.job(hi).Status == model.StatusRunning })
	j := r.job(lo)
	if j.Status != model.StatusRunnable || j.Preemptions != 1 || !strings.Contains(j.StatusReason, "higher priority") {
		t.Fatalf("low-priority job %+v", j)
	}
}
