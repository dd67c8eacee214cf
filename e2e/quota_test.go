package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// The quota management scenarios of issue 12, on a real `sagequeue serve`
// through the real SDK: each on its own queue and environment of
// ml.m5.xlarge instances, with jobs that hold their instances until a file
// appears.

const quotaType = "ml.m5.xlarge"

func quotaPayload(script string) string {
	b, err := json.Marshal(map[string]any{
		"AlgorithmSpecification": map[string]any{"ContainerEntrypoint": []string{"sh", "-c"}, "ContainerArguments": []string{script}},
		"ResourceConfig":         map[string]any{"InstanceType": quotaType, "InstanceCount": 1},
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// quotaQueue creates a quota management queue with its own environment of
// capacity ml.m5.xlarge instances (the policy "qp" is shared).
func quotaQueue(t *testing.T, s *Server, name string, capacity int32) {
	t.Helper()
	c, ctx := s.Batch, context.Background()
	if _, err := c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String(name + "-env"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String(quotaType), MaxCapacity: aws.Int32(capacity)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String(name), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		SchedulingPolicyArn:     aws.String("qp"),
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String(name + "-env")}},
	}); err != nil {
		t.Fatal(err)
	}
}

func quotaShare(t *testing.T, s *Server, queue, name string, quota int32, strategy types.QuotaShareResourceSharingStrategy, inShare types.QuotaShareInSharePreemptionState) string {
	t.Helper()
	out, err := s.Batch.CreateQuotaShare(context.Background(), &batch.CreateQuotaShareInput{
		QuotaShareName: aws.String(name), JobQueue: aws.String(queue),
		CapacityLimits:               []types.QuotaShareCapacityLimit{{CapacityUnit: aws.String(quotaType), MaxCapacity: aws.Int32(quota)}},
		ResourceSharingConfiguration: &types.QuotaShareResourceSharingConfiguration{Strategy: strategy},
		PreemptionConfiguration:      &types.QuotaSharePreemptionConfiguration{InSharePreemption: inShare},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QuotaShareArn)
}

func inQuotaShare(share string, priority int32) func(*batch.SubmitServiceJobInput) {
	return func(in *batch.SubmitServiceJobInput) {
		in.QuotaShareName, in.SchedulingPriority = aws.String(share), aws.Int32(priority)
	}
}

func preemptedOnce(d *batch.DescribeServiceJobOutput) bool {
	return d.Status == types.ServiceJobStatusRunnable && d.PreemptionSummary != nil && aws.ToInt32(d.PreemptionSummary.PreemptedAttemptCount) == 1
}

func TestQuotaManagement(t *testing.T) {
	s := StartServer(t, "environments: []\n", ServerOptions{})
	if _, err := s.Batch.CreateSchedulingPolicy(context.Background(), &batch.CreateSchedulingPolicyInput{
		Name: aws.String("qp"), QuotaSharePolicy: &types.QuotaSharePolicy{IdleResourceAssignmentStrategy: types.QuotaShareIdleResourceAssignmentStrategyFifo},
	}); err != nil {
		t.Fatal(err)
	}
	const wait = 90 * time.Second // a loaded machine starts processes slowly

	t.Run("borrow, then preempt to give the lender its quota back", func(t *testing.T) {
		quotaQueue(t, s, "cross", 4)
		quotaShare(t, s, "cross", "A", 2, types.QuotaShareResourceSharingStrategyLendAndBorrow, types.QuotaShareInSharePreemptionStateDisabled)
		quotaShare(t, s, "cross", "B", 2, types.QuotaShareResourceSharingStrategyLend, types.QuotaShareInSharePreemptionStateDisabled)
		releaseA, releaseB := s.File("cross-a"), s.File("cross-b")
		var as []string
		for i := range 4 {
			as = append(as, s.Submit("cross", fmt.Sprintf("a%d", i), quotaPayload(blocker(releaseA)), inQuotaShare("A", 0)))
		}
		// A's 4 jobs borrow B's idle quota.
		for _, id := range as {
			s.WaitStatus(id, types.ServiceJobStatusRunning, wait)
		}
		// B's 2 jobs preempt two of A's.
		b0 := s.Submit("cross", "b0", quotaPayload(blocker(releaseB)), inQuotaShare("B", 0))
		b1 := s.Submit("cross", "b1", quotaPayload(blocker(releaseB)), inQuotaShare("B", 0))
		s.WaitStatus(b0, types.ServiceJobStatusRunning, wait)
		s.WaitStatus(b1, types.ServiceJobStatusRunning, wait)
		var victims []string
		for _, id := range as {
			d := s.Describe(id)
			switch {
			case preemptedOnce(d):
				victims = append(victims, id)
				if r := aws.ToString(d.StatusReason); !strings.HasPrefix(r, "PREEMPTED - ") || !strings.Contains(r, "quota share B") {
					t.Errorf("victim %s: statusReason %q", id, r)
				}
				if a := d.PreemptionSummary.RecentPreemptedAttempts; len(a) != 1 || !strings.HasPrefix(aws.ToString(a[0].StatusReason), "PREEMPTED") || aws.ToInt64(a[0].StoppedAt) == 0 {
					t.Errorf("victim %s: recent preempted attempts %+v", id, a)
				}
			case d.Status != types.ServiceJobStatusRunning:
				t.Errorf("A's job %s is %s (%q): neither running nor preempted", id, d.Status, aws.ToString(d.StatusReason))
			}
		}
		if len(victims) != 2 {
			t.Fatalf("%d of A's jobs were preempted, want 2", len(victims))
		}
		// While B runs, A gets nothing back.
		snap, err := s.Batch.GetJobQueueSnapshot(context.Background(), &batch.GetJobQueueSnapshotInput{JobQueue: aws.String("cross")})
		if err != nil {
			t.Fatal(err)
		}
		if fq := snap.FrontOfQuotaShares; fq == nil || len(fq.QuotaShares["A"]) != 2 {
			t.Fatalf("frontOfQuotaShares %+v", snap.FrontOfQuotaShares)
		}
		// B's jobs end: A's victims run again, without having used an attempt
		// (they have the default single attempt).
		touch(t, releaseB)
		s.WaitDone([]string{b0, b1}, wait)
		for _, id := range victims {
			d := s.WaitStatus(id, types.ServiceJobStatusRunning, wait)
			if len(d.Attempts) != 2 {
				t.Errorf("victim %s runs again with %d attempts recorded, want 2", id, len(d.Attempts))
			}
		}
		touch(t, releaseA)
		for _, d := range s.WaitDone(as, wait) {
			if d.Status != types.ServiceJobStatusSucceeded {
				t.Errorf("A's job %s ended %s: %q", aws.ToString(d.JobId), d.Status, aws.ToString(d.StatusReason))
			}
		}
	})

	t.Run("in-share preemption by priority", func(t *testing.T) {
		quotaQueue(t, s, "inshare", 2)
		quotaShare(t, s, "inshare", "P", 2, types.QuotaShareResourceSharingStrategyReserve, types.QuotaShareInSharePreemptionStateEnabled)
		release := s.File("inshare")
		lo0 := s.Submit("inshare", "lo0", quotaPayload(blocker(release)), inQuotaShare("P", 1))
		lo1 := s.Submit("inshare", "lo1", quotaPayload(blocker(release)), inQuotaShare("P", 1))
		s.WaitStatus(lo0, types.ServiceJobStatusRunning, wait)
		s.WaitStatus(lo1, types.ServiceJobStatusRunning, wait)
		// A waiting job raised above them with UpdateServiceJob preempts one.
		hi := s.Submit("inshare", "hi", quotaPayload(blocker(release)), inQuotaShare("P", 1))
		s.WaitStatus(hi, types.ServiceJobStatusRunnable, wait)
		if _, err := s.Batch.UpdateServiceJob(context.Background(), &batch.UpdateServiceJobInput{JobId: aws.String(hi), SchedulingPriority: aws.Int32(50)}); err != nil {
			t.Fatal(err)
		}
		s.WaitStatus(hi, types.ServiceJobStatusRunning, wait)
		n := 0
		for _, id := range []string{lo0, lo1} {
			if d := s.Describe(id); preemptedOnce(d) {
				n++
				if !strings.Contains(aws.ToString(d.StatusReason), "higher priority") {
					t.Errorf("in-share victim's reason %q", aws.ToString(d.StatusReason))
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d low-priority jobs preempted, want 1", n)
		}
		touch(t, release)
		s.WaitDone([]string{lo0, lo1, hi}, wait)
	})

	t.Run("lowering a quota preempts down to the new limit", func(t *testing.T) {
		quotaQueue(t, s, "lower", 4)
		arn := quotaShare(t, s, "lower", "C", 4, types.QuotaShareResourceSharingStrategyLend, types.QuotaShareInSharePreemptionStateDisabled)
		release := s.File("lower")
		var cs []string
		for i := range 4 {
			cs = append(cs, s.Submit("lower", fmt.Sprintf("c%d", i), quotaPayload(blocker(release)), inQuotaShare("C", 0)))
		}
		for _, id := range cs {
			s.WaitStatus(id, types.ServiceJobStatusRunning, wait)
		}
		if _, err := s.Batch.UpdateQuotaShare(context.Background(), &batch.UpdateQuotaShareInput{
			QuotaShareArn:  aws.String(arn),
			CapacityLimits: []types.QuotaShareCapacityLimit{{CapacityUnit: aws.String(quotaType), MaxCapacity: aws.Int32(2)}},
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(wait)
		for {
			running, preempted := 0, 0
			for _, id := range cs {
				d := s.Describe(id)
				if d.Status == types.ServiceJobStatusRunning {
					running++
				}
				if preemptedOnce(d) {
					preempted++
				}
			}
			if running == 2 && preempted == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after lowering the quota to 2: %d running, %d preempted", running, preempted)
			}
			time.Sleep(50 * time.Millisecond)
		}
		touch(t, release)
		s.WaitDone(cs, wait)
	})
}
