// Package engine runs sagequeue: scheduling passes that place RUNNABLE jobs
// and launch their SageMaker training jobs, the handling of SageMaker state
// changes (with retries), job state time limits, attempt timeouts,
// terminations, and the reconciliation that keeps a lost event from
// stranding capacity.
//
// A pass follows Kueue's cycle and Nomad's plan/apply split: read a snapshot
// through the store (the heads of each line, never the backlog), let the pure
// sched.Plan decide, commit its decisions with conditional writes fenced by
// the scheduler lease, and only then call SageMaker. A pass that loses a race
// commits nothing for that job and leaves it for the next pass; it never
// launches a job twice, because training job names are derived from the job
// and attempt, and SageMaker refuses a second job with the same name.
//
// The same Engine runs inside `sagequeue serve` (driven by a Runner) and in
// the Lambda functions (one call per event).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
	"github.com/sagequeue/sagequeue/internal/store"
)

// SageMaker is the part of the SageMaker API the engine calls;
// *sagemaker.Client has it.
type SageMaker interface {
	CreateTrainingJob(ctx context.Context, in *sagemaker.CreateTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.CreateTrainingJobOutput, error)
	DescribeTrainingJob(ctx context.Context, in *sagemaker.DescribeTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error)
	StopTrainingJob(ctx context.Context, in *sagemaker.StopTrainingJobInput, opts ...func(*sagemaker.Options)) (*sagemaker.StopTrainingJobOutput, error)
	DescribeTrainingPlan(ctx context.Context, in *sagemaker.DescribeTrainingPlanInput, opts ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingPlanOutput, error)
}

// Config is what an Engine needs. Zero fields get defaults.
type Config struct {
	Store     store.Store
	SageMaker SageMaker
	// Bus receives a "Service Job State Change" event for every transition;
	// nil publishes nothing.
	Bus events.Bus
	Now func() time.Time
	// Holder names this scheduler in the lease (host and process, or the
	// Lambda's log stream).
	Holder string
	// LeaseTTL is how long a pass may hold the scheduler lease (60s).
	LeaseTTL time.Duration
	// ReconcileAfter is how long an in-flight job may go unheard from before
	// a pass asks SageMaker about it (5m).
	ReconcileAfter time.Duration
	// NamePrefix starts every training job name (and scopes IAM in the
	// cloud); "sagequeue" by default.
	NamePrefix string
	// LaunchConcurrency bounds concurrent CreateTrainingJob calls (8).
	LaunchConcurrency int
	// WriteConcurrency bounds the concurrent job writes of a pass (16).
	// Concurrent writes let bbolt group-commit them; on DynamoDB every fenced
	// write is a transaction that checks the one lease item, and concurrent
	// transactions on an item conflict, so the cloud uses 1.
	WriteConcurrency int
	// CapacityBackoff is how long a job that failed for lack of capacity
	// waits before it is placed again (1s), doubled with each consecutive
	// failure up to MaxCapacityBackoff (5m).
	CapacityBackoff    time.Duration
	MaxCapacityBackoff time.Duration
	// LocalDefaults fills the members SageMaker requires but a local run has
	// no use for (RoleArn, OutputDataConfig, ...) when a payload lacks them.
	LocalDefaults bool
	// Training holds the deployment's defaults for members a payload leaves
	// out: the execution role, the VPC and the KMS key of training jobs.
	Training TrainingDefaults
	// Plans caches the training plans the environments name; nil makes a
	// cache over SageMaker that describes a plan again once its copy is
	// PlanRefresh old (1m), and at once after a capacity failure.
	Plans       *plans.Cache
	PlanRefresh time.Duration
	// PlanEndMargin is how long before a plan's reserved capacity ends its
	// usable part does: SageMaker terminates the instances from then on
	// (30m, as SageMaker documents).
	PlanEndMargin time.Duration
	Logger        *slog.Logger
	// Observer, if set, is told about passes, job transitions and SageMaker
	// calls (metrics); nil observes nothing.
	Observer Observer
}

// Engine is the scheduler and state-change handler. It is safe for
// concurrent use; passes are serialized by the store's lease across
// engines, and one engine runs one pass at a time (a second Schedule meanwhile
// returns Busy).
type Engine struct {
	cfg Config

	mu    sync.Mutex
	lease *store.Lease // held across passes and renewed when half spent
	// passing is held while a pass runs: the lease is the engine's, so two
	// passes of one engine at once would both pass its fence.
	passing sync.Mutex
}

// TrainingDefaults are what a deployment puts into every training job whose
// payload does not say otherwise.
type TrainingDefaults struct {
	// RoleArn is the execution role for payloads without RoleArn.
	RoleArn string
	// Subnets and SecurityGroupIDs make VpcConfig for payloads without one.
	Subnets          []string
	SecurityGroupIDs []string
	// KMSKeyID encrypts the model artifacts (OutputDataConfig.KmsKeyId) and
	// the instances' volumes (ResourceConfig.VolumeKmsKeyId) when the payload
	// names no key.
	KMSKeyID string
}

// LeaseName is the name of the scheduler lease in the store.
const LeaseName = "scheduler"

// New returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.SageMaker == nil {
		return nil, errors.New("engine: a store and a SageMaker client are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		cfg.Holder = "sagequeue"
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = time.Minute
	}
	if cfg.ReconcileAfter <= 0 {
		cfg.ReconcileAfter = 5 * time.Minute
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "sagequeue"
	}
	if len(cfg.NamePrefix) > 20 || !validPrefix(cfg.NamePrefix) {
		return nil, fmt.Errorf("engine: name prefix %q must be 1-20 letters, digits or hyphens, starting with a letter or digit", cfg.NamePrefix)
	}
	if cfg.LaunchConcurrency <= 0 {
		cfg.LaunchConcurrency = 8
	}
	if cfg.WriteConcurrency <= 0 {
		cfg.WriteConcurrency = 16
	}
	if cfg.CapacityBackoff <= 0 {
		cfg.CapacityBackoff = time.Second
	}
	if cfg.MaxCapacityBackoff < cfg.CapacityBackoff {
		cfg.MaxCapacityBackoff = max(5*time.Minute, cfg.CapacityBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PlanEndMargin <= 0 {
		cfg.PlanEndMargin = time.Duration(model.DefaultPlanEndMargin) * time.Millisecond
	}
	cfg.SageMaker = observeSageMaker(cfg.SageMaker, cfg.Observer)
	if cfg.Plans == nil {
		cfg.Plans = plans.New(cfg.SageMaker, cfg.PlanRefresh, cfg.Now)
	}
	return &Engine{cfg: cfg}, nil
}

func validPrefix(p string) bool {
	for i, c := range p {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' && i > 0
		if !ok {
			return false
		}
	}
	return p != "" && !strings.HasSuffix(p, "-")
}

// TrainingJobName is the SageMaker name of a job's attempt n (1-based):
// deterministic, so a launch retried after a crash finds the job it made.
func (e *Engine) TrainingJobName(jobID string, n int) string {
	return e.cfg.NamePrefix + "-" + jobID + "-" + strconv.Itoa(n)
}

// ParseTrainingJobName returns the job and attempt a training job name stands
// for; ok is false for names sagequeue did not make.
func (e *Engine) ParseTrainingJobName(name string) (jobID string, n int, ok bool) {
	rest, found := strings.CutPrefix(name, e.cfg.NamePrefix+"-")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return rest[:i], n, true
}

func (e *Engine) nowMs() int64 { return e.cfg.Now().UnixMilli() }

// acquire returns the scheduler lease, renewing it when half its time is
// spent. ErrLeaseHeld means another scheduler is running a pass.
func (e *Engine) acquire(ctx context.Context) (store.Lease, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	if e.lease != nil && now.Before(e.lease.Expires.Add(-e.cfg.LeaseTTL/2)) {
		return *e.lease, nil
	}
	l, err := e.cfg.Store.AcquireLease(ctx, LeaseName, e.cfg.Holder, now, e.cfg.LeaseTTL)
	if err != nil {
		e.lease = nil
		return store.Lease{}, err
	}
	e.lease = &l
	return l, nil
}

// forgetLease drops a lease that a fenced write found lost.
func (e *Engine) forgetLease() {
	e.mu.Lock()
	e.lease = nil
	e.mu.Unlock()
}

// Release gives the lease back, so another scheduler need not wait for it to
// expire (on shutdown).
func (e *Engine) Release(ctx context.Context) error {
	e.mu.Lock()
	l := e.lease
	e.lease = nil
	e.mu.Unlock()
	if l == nil {
		return nil
	}
	return e.cfg.Store.ReleaseLease(ctx, *l)
}

// publish sends state change events for jobs whose status changed.
func (e *Engine) publish(ctx context.Context, jobs ...*model.ServiceJob) {
	if e.cfg.Bus == nil || len(jobs) == 0 {
		return
	}
	evs := make([]events.Event, 0, len(jobs))
	for _, j := range jobs {
		evs = append(evs, events.JobStateChange(j, j.UpdatedAt))
	}
	if err := e.cfg.Bus.Publish(ctx, evs...); err != nil {
		e.cfg.Logger.Warn("publishing job state change events", "count", len(evs), "err", err)
	}
}
