package plans_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
)

// counting is the local SageMaker endpoint's client, counting the calls and
// failing them while failing is set, as a throttled SageMaker would.
type counting struct {
	sm      *sagemaker.Client
	calls   atomic.Int32
	failing atomic.Bool
}

func (c *counting) DescribeTrainingPlan(ctx context.Context, in *sagemaker.DescribeTrainingPlanInput, opts ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingPlanOutput, error) {
	c.calls.Add(1)
	if c.failing.Load() {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	return c.sm.DescribeTrainingPlan(ctx, in, opts...)
}

func endpoint(t *testing.T) *counting {
	now := time.Now()
	local, err := localsm.New(localsm.Config{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Plans: []localsm.Plan{
		{Name: "p5", InstanceType: "ml.p5.48xlarge", InstanceCount: 4, Windows: []localsm.Window{{Start: now.Add(-time.Hour), End: now.Add(time.Hour)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(local)
	t.Cleanup(func() { srv.Close(); local.Shutdown(context.Background()) })
	return &counting{sm: sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String(srv.URL), Region: "local",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})}
}

const arn = "arn:aws:sagemaker:local:000000000000:training-plan/p5"

func TestCacheRefreshes(t *testing.T) {
	ctx := context.Background()
	sm := endpoint(t)
	now := time.Now()
	clock := func() time.Time { return now }
	c := plans.New(sm, time.Minute, clock)

	p, err := c.Plan(ctx, arn)
	if err != nil || p.Status != model.PlanActive || p.TotalInstanceCount != 4 || p.Arn != arn || p.DescribedAt != now.UnixMilli() {
		t.Fatalf("plan %+v, %v", p, err)
	}
	c.Plan(ctx, arn)
	if n := sm.calls.Load(); n != 1 {
		t.Fatalf("%d describes for two reads within the refresh interval", n)
	}
	now = now.Add(time.Minute)
	c.Plan(ctx, arn)
	if n := sm.calls.Load(); n != 2 {
		t.Fatalf("%d describes after the refresh interval, want 2", n)
	}
	c.Invalidate()
	c.Plan(ctx, arn)
	if n := sm.calls.Load(); n != 3 {
		t.Fatalf("%d describes after Invalidate, want 3", n)
	}

	// A failed describe keeps the last copy, with the error.
	sm.failing.Store(true)
	c.Invalidate()
	p, err = c.Plan(ctx, arn)
	if err == nil || p == nil || p.TotalInstanceCount != 4 {
		t.Fatalf("throttled: %+v, %v; want the last copy and the error", p, err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Errorf("the error %v does not carry SageMaker's", err)
	}
}

func TestUnknownPlan(t *testing.T) {
	ctx := context.Background()
	c := plans.New(endpoint(t), 0, nil)
	const unknown = "arn:aws:sagemaker:local:000000000000:training-plan/nope"
	if p, err := c.Plan(ctx, unknown); p != nil || !errors.Is(err, plans.ErrNotFound) || !errors.Is(err, model.ErrPlanNotFound) {
		t.Fatalf("unknown plan: %+v, %v", p, err)
	}
	if _, err := c.Plan(ctx, "p5"); err == nil {
		t.Fatal("a name instead of an ARN was described")
	}
}
