package dynamo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, in := range []string{"", "x", `{"jobId":"a"}`, strings.Repeat("training ", 5000)} {
		enc := encode([]byte(in))
		out, err := decode(enc)
		if err != nil || string(out) != in {
			t.Fatalf("round trip of %d bytes: %d bytes back, %v", len(in), len(out), err)
		}
	}
	if _, err := decode([]byte{99, 1, 2}); err == nil {
		t.Fatal("an unknown format decoded")
	}
	if _, err := decode(nil); err == nil {
		t.Fatal("an empty value decoded")
	}
}

// TestItemsFitOneWriteUnit guards the size of a typical finished job's
// items: META, the ACTIVE copy and the heads entry must each stay under
// 1 KB, the unit DynamoDB bills writes by.
func TestItemsFitOneWriteUnit(t *testing.T) {
	j := &model.ServiceJob{
		JobID: "0190f5a4-7c2e-7d3b-9a61-5f0e2d4c8b17", JobArn: "arn:aws:batch:us-east-1:123456789012:service-job/0190f5a4-7c2e-7d3b-9a61-5f0e2d4c8b17",
		JobName: "resnet-50-imagenet-lr-0001", JobQueue: "arn:aws:batch:us-east-1:123456789012:job-queue/research-training",
		ServiceJobType: model.ServiceJobTypeSageMakerTraining, Status: model.StatusRunnable, StatusReason: "Received status from SageMaker: CapacityError: Unable to provision requested ML compute capacity",
		ShareIdentifier: "vision-team", SchedulingPriority: 50,
		RetryStrategy: &model.RetryStrategy{Attempts: 3, EvaluateOnExit: []model.EvaluateOnExit{{Action: "EXIT", OnStatusReason: "Received status from SageMaker: ClientError*"}}},
		TimeoutConfig: &model.TimeoutConfig{AttemptDurationSeconds: 86400},
		Tags:          map[string]string{"team": "vision", "project": "resnet", "cost-center": "4711"},
		Attempts: []model.Attempt{{
			TrainingJobName: "sagequeue-0190f5a4-7c2e-7d3b-9a61-5f0e2d4c8b17-1", TrainingJobArn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/sagequeue-0190f5a4-7c2e-7d3b-9a61-5f0e2d4c8b17-1",
			ServiceEnvironment: "arn:aws:batch:us-east-1:123456789012:service-environment/p5-training-plan", StartedAt: 1_790_000_100_000, StoppedAt: 1_790_000_200_000,
			StatusReason: "Received status from SageMaker: CapacityError: Unable to provision requested ML compute capacity",
		}},
		CreatedAt: 1_790_000_000_000, ScheduledAt: 1_790_000_100_000, ClientToken: "9f0c2b7e-1d5a-4c3b-8e6f-2a1b0c9d8e7f",
		RequestDigest: "3f2a9c1e8b7d6f5a4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a19", SubmittedBy: "arn:aws:sts::123456789012:assumed-role/Researcher/alice",
		Instances: 8, InstanceType: "ml.p5.48xlarge", Placements: 1, Launches: 1, RunnableAt: 1_790_000_200_000,
		BlockedCode: "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", BlockedSince: 1_790_000_200_000, CheckedAt: 1_790_000_200_000, UpdatedAt: 1_790_000_200_000, Version: 9,
	}
	st, err := newJobState(j, 0)
	if err != nil {
		t.Fatal(err)
	}
	meta := st.meta()
	j.Status = model.StatusRunning
	active := st.copyItem()
	for name, it := range map[string]item{"META": meta, "ACTIVE": active} {
		if n := itemSize(it); n > 1000 {
			t.Errorf("%s item of a typical job is %d bytes, more than one write unit", name, n)
		} else {
			t.Logf("%s: %d bytes (doc %d)", name, n, len(st.doc))
		}
	}
}

// itemSize is an item's size as DynamoDB bills it: attribute names and
// values (numbers counted generously).
func itemSize(it item) int {
	n := 0
	for k, v := range it {
		n += len(k)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)/2 + 2
		}
	}
	return n
}

func TestTransactionConflictsAreRetriedThenConflict(t *testing.T) {
	conflict := &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: aws.String("None")}, {Code: aws.String("TransactionConflict")}}}
	refused := &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: aws.String("ConditionalCheckFailed")}, {Code: aws.String("TransactionConflict")}}}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{conflict, true}, {refused, false}, {&types.TransactionConflictException{}, true},
		{&types.ConditionalCheckFailedException{}, false}, {errors.New("other"), false},
	} {
		if got := isTransactionConflict(tc.err); got != tc.want {
			t.Errorf("isTransactionConflict(%v) = %v", tc.err, got)
		}
	}
	calls := 0
	err := retryContention(context.Background(), func() error { calls++; return conflict })
	if calls != conflictAttempts || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("%d calls, %v; want %d calls and ErrConflict", calls, err, conflictAttempts)
	}
	calls = 0
	err = retryContention(context.Background(), func() error {
		if calls++; calls < 3 {
			return conflict
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("a conflict that clears: %d calls, %v", calls, err)
	}
	if err := retryContention(context.Background(), func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a refused condition was retried: %v", err)
	}
}

// TestThrottledTransactionsAreRetriedThenThrottled: a transaction cancelled
// for throughput (a ThrottlingError or ProvisionedThroughputExceeded
// reason, which the SDK's retryer does not see) is tried again, and
// reported as ErrThrottled when it stays throttled; a throttled request the
// SDK gave up on is ErrThrottled too; a refused condition is never retried.
func TestThrottledTransactionsAreRetriedThenThrottled(t *testing.T) {
	defer func(b, m time.Duration) { throttleBackoff, maxThrottleBackoff = b, m }(throttleBackoff, maxThrottleBackoff)
	throttleBackoff, maxThrottleBackoff = time.Millisecond, time.Millisecond
	reasons := func(codes ...string) error {
		var rs []types.CancellationReason
		for _, c := range codes {
			rs = append(rs, types.CancellationReason{Code: aws.String(c)})
		}
		return &types.TransactionCanceledException{CancellationReasons: rs}
	}
	for name, tc := range map[string]struct {
		err   error
		calls int
		want  error
	}{
		"throttling error":              {reasons("None", "ThrottlingError"), throttleAttempts, store.ErrThrottled},
		"provisioned throughput":        {reasons("ProvisionedThroughputExceeded", "None"), throttleAttempts, store.ErrThrottled},
		"throttled and conflicting":     {reasons("TransactionConflict", "ThrottlingError"), throttleAttempts, store.ErrThrottled},
		"a whole request":               {&types.ProvisionedThroughputExceededException{}, throttleAttempts, store.ErrThrottled},
		"a failed condition wins":       {reasons("ConditionalCheckFailed", "ThrottlingError"), 1, nil},
		"something else is not retried": {errors.New("boom"), 1, nil},
	} {
		calls := 0
		err := retryContention(context.Background(), func() error { calls++; return tc.err })
		if calls != tc.calls || (tc.want != nil && !errors.Is(err, tc.want)) || (tc.want == nil && !errors.Is(err, tc.err)) {
			t.Errorf("%s: %d calls, %v; want %d calls and %v", name, calls, err, tc.calls, tc.want)
		}
	}
	calls := 0
	err := retryContention(context.Background(), func() error {
		if calls++; calls < 4 {
			return reasons("None", "ThrottlingError")
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("throttling that passes: %d calls, %v", calls, err)
	}
	if err := wrap("x", &types.ProvisionedThroughputExceededException{}); !errors.Is(err, store.ErrThrottled) {
		t.Fatalf("a throttled request the SDK gave up on: %v", err)
	}
}
