// Package plans reads SageMaker training plans with DescribeTrainingPlan and
// keeps what it read: the engine asks for a plan at every pass and the API
// at every plan request, and a plan changes slowly (its windows are fixed
// when it is bought; its status and instance health move), so one describe
// serves many of them. A copy older than the refresh interval is described
// again; Invalidate makes the next read describe at once, as the engine
// does after a capacity failure.
//
// The same code runs against SageMaker and against the local SageMaker
// endpoint of `sagequeue serve`, through the real SDK client.
package plans

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Describer is the SageMaker call the package makes; *sagemaker.Client has it.
type Describer interface {
	DescribeTrainingPlan(ctx context.Context, in *sagemaker.DescribeTrainingPlanInput, opts ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingPlanOutput, error)
}

// ErrNotFound means SageMaker knows no plan of that name.
var ErrNotFound = model.ErrPlanNotFound

// DefaultRefresh is how old a cached plan may get before it is described
// again: the one-minute tick of the cloud shape.
const DefaultRefresh = time.Minute

// Cache is a read-through cache of training plans, safe for concurrent use.
type Cache struct {
	d       Describer
	refresh time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*entry // by plan ARN
}

type entry struct {
	mu    sync.Mutex // held while describing, so that one read describes for all
	plan  *model.TrainingPlan
	err   error
	at    time.Time
	stale bool
}

// New returns a cache over d that describes a plan again once its copy is
// refresh old (DefaultRefresh when 0); now is the clock (time.Now when nil).
func New(d Describer, refresh time.Duration, now func() time.Time) *Cache {
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{d: d, refresh: refresh, now: now, entries: map[string]*entry{}}
}

// Plan returns the plan with ARN arn, describing it when the cached copy is
// missing, old or invalidated. When describing fails but an earlier copy is
// cached, it returns that copy with the error, so that a passing throttle
// does not make a plan's capacity vanish; callers use a non-nil plan.
func (c *Cache) Plan(ctx context.Context, arn string) (*model.TrainingPlan, error) {
	c.mu.Lock()
	e := c.entries[arn]
	if e == nil {
		e = &entry{}
		c.entries[arn] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.now()
	if !e.at.IsZero() && !e.stale && now.Sub(e.at) < c.refresh {
		return e.plan, e.err
	}
	p, err := Describe(ctx, c.d, arn, now)
	e.at, e.stale = now, false
	if err != nil {
		e.err = err
		if errors.Is(err, ErrNotFound) {
			e.plan = nil // gone is gone, not a passing fault
		}
		return e.plan, err
	}
	e.plan, e.err = p, nil
	return p, nil
}

// Invalidate makes the next read of every plan describe it again.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		e.mu.Lock()
		e.stale = true
		e.mu.Unlock()
	}
}

// Describe calls DescribeTrainingPlan for the plan with ARN arn (which
// takes the plan's name) and returns what SageMaker said, as of now. An
// unknown plan is ErrNotFound; every error names the plan.
func Describe(ctx context.Context, d Describer, arn string, now time.Time) (*model.TrainingPlan, error) {
	name := model.PlanName(arn)
	if name == "" {
		return nil, fmt.Errorf("%q is not a SageMaker training plan ARN (arn:<partition>:sagemaker:<region>:<account>:training-plan/<name>)", arn)
	}
	out, err := d.DescribeTrainingPlan(ctx, &sagemaker.DescribeTrainingPlanInput{TrainingPlanName: aws.String(name)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("training plan %s: %w", arn, ErrNotFound)
		}
		return nil, fmt.Errorf("describing training plan %s: %w", arn, err)
	}
	p := FromDescribe(out)
	p.DescribedAt = now.UnixMilli()
	if p.Arn == "" {
		p.Arn = arn
	}
	return p, nil
}

// isNotFound reports SageMaker's answer for an unknown plan: ResourceNotFound
// (the documented error of DescribeTrainingPlan), or a ValidationException
// saying it was not found.
func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	code := ae.ErrorCode()
	return code == "ResourceNotFound" || code == "ResourceNotFoundException" ||
		code == "ValidationException" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "not found")
}

// FromDescribe converts a DescribeTrainingPlan answer.
func FromDescribe(out *sagemaker.DescribeTrainingPlanOutput) *model.TrainingPlan {
	p := &model.TrainingPlan{
		Arn: aws.ToString(out.TrainingPlanArn), Name: aws.ToString(out.TrainingPlanName),
		Status: string(out.Status), StatusMessage: aws.ToString(out.StatusMessage),
		StartTime: millis(out.StartTime), EndTime: millis(out.EndTime),
		TotalInstanceCount:     int64(aws.ToInt32(out.TotalInstanceCount)),
		AvailableInstanceCount: int64(aws.ToInt32(out.AvailableInstanceCount)),
		InUseInstanceCount:     int64(aws.ToInt32(out.InUseInstanceCount)),
		UnhealthyInstanceCount: int64(aws.ToInt32(out.UnhealthyInstanceCount)),
		ReservedCapacities:     []model.ReservedCapacity{},
	}
	for _, rc := range out.ReservedCapacitySummaries {
		p.ReservedCapacities = append(p.ReservedCapacities, model.ReservedCapacity{
			Arn: aws.ToString(rc.ReservedCapacityArn), InstanceType: string(rc.InstanceType),
			InstanceCount: int64(aws.ToInt32(rc.TotalInstanceCount)), Status: string(rc.Status),
			StartTime: millis(rc.StartTime), EndTime: millis(rc.EndTime), AvailabilityZone: aws.ToString(rc.AvailabilityZone),
		})
	}
	return p
}

func millis(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}
