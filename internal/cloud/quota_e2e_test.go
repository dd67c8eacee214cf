package cloud_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/ddbfault"
)

// TestCloudQuotaPreemption runs quota management in the cloud shape: the
// Lambda handlers on DynamoDB (Local). Share A borrows B's idle instance;
// B's job takes it back by preemption, and A's victim runs again, its
// attempt not used up, once B's job has ended.
func TestCloudQuotaPreemption(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := newStack(t, stackOptions{faults: ddbfault.Realistic})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := s.batch
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.CreateSchedulingPolicy(ctx, &batch.CreateSchedulingPolicyInput{Name: aws.String("qp"),
		QuotaSharePolicy: &types.QuotaSharePolicy{IdleResourceAssignmentStrategy: types.QuotaShareIdleResourceAssignmentStrategyFifo}}))
	must(c.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("qe"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("ml.m5.xlarge"), MaxCapacity: aws.Int32(2)}},
	}))
	must(c.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
		JobQueueName: aws.String("qm"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
		SchedulingPolicyArn:     aws.String("qp"),
		ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("qe")}},
	}))
	for _, sh := range []struct {
		name     string
		strategy types.QuotaShareResourceSharingStrategy
	}{{"A", types.QuotaShareResourceSharingStrategyLendAndBorrow}, {"B", types.QuotaShareResourceSharingStrategyLend}} {
		must(c.CreateQuotaShare(ctx, &batch.CreateQuotaShareInput{
			QuotaShareName: aws.String(sh.name), JobQueue: aws.String("qm"),
			CapacityLimits:               []types.QuotaShareCapacityLimit{{CapacityUnit: aws.String("ml.m5.xlarge"), MaxCapacity: aws.Int32(1)}},
			ResourceSharingConfiguration: &types.QuotaShareResourceSharingConfiguration{Strategy: sh.strategy},
			PreemptionConfiguration:      &types.QuotaSharePreemptionConfiguration{InSharePreemption: types.QuotaShareInSharePreemptionStateDisabled},
		}))
	}
	release := filepath.Join(s.dir, "release")
	hold := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done", release)
	submit := func(name, share string) string {
		out, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String(name), JobQueue: aws.String("qm"), QuotaShareName: aws.String(share),
			ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(payload(hold)),
		})
		if err != nil {
			t.Fatalf("submit %s: %v", name, err)
		}
		return aws.ToString(out.JobId)
	}
	running := func(d *batch.DescribeServiceJobOutput) bool { return d.Status == types.ServiceJobStatusRunning }
	a1, a2 := submit("a1", "A"), submit("a2", "A")
	s.waitFor(ctx, a1, 60*time.Second, "RUNNING", running)
	s.waitFor(ctx, a2, 60*time.Second, "RUNNING", running)

	b := submit("b", "B")
	s.waitFor(ctx, b, 60*time.Second, "RUNNING", running)
	var victim string
	for _, id := range []string{a1, a2} {
		if d := s.describe(ctx, id); d.Status == types.ServiceJobStatusRunnable {
			victim = id
			if d.PreemptionSummary == nil || aws.ToInt32(d.PreemptionSummary.PreemptedAttemptCount) != 1 ||
				!strings.HasPrefix(aws.ToString(d.StatusReason), "PREEMPTED - ") || aws.ToString(d.QuotaShareName) != "A" {
				t.Fatalf("victim %+v", d)
			}
		}
	}
	if victim == "" {
		t.Fatal("no job of A was preempted for B's")
	}
	// B's job ends; A borrows again and the victim runs its second attempt.
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a1, a2, b} {
		d := s.waitFor(ctx, id, 60*time.Second, "SUCCEEDED", func(d *batch.DescribeServiceJobOutput) bool { return d.Status == types.ServiceJobStatusSucceeded })
		if id == victim && len(d.Attempts) != 2 {
			t.Fatalf("victim ended with %d attempts, want 2 (one preempted)", len(d.Attempts))
		}
	}
}
