package simulate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
	"github.com/sagequeue/sagequeue/internal/setup"
)

// Epoch is the virtual time a simulation starts at: the trace's second 0.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// World is a configuration file as the scheduler sees it.
type World struct {
	Path string
	*setup.Resources
}

// LoadWorld reads a configuration file in the format of `sagequeue serve
// --config`. capacity, when above 0, replaces the capacity of every
// environment.
func LoadWorld(path string, capacity int64) (*World, error) {
	c, err := setup.Load(path)
	if err != nil {
		return nil, err
	}
	if capacity > 0 {
		if capacity > math.MaxInt32 {
			return nil, fmt.Errorf("--capacity must be at most %d, got %d", math.MaxInt32, capacity)
		}
		for i := range c.Environments {
			c.Environments[i].MaxCapacity = int32(capacity)
			if tp := c.Environments[i].TrainingPlan; tp != nil && tp.InstanceCount > 0 {
				tp.InstanceCount = max(tp.InstanceCount, int32(capacity)*int32(len(c.Environments)))
			}
		}
	}
	r, err := c.Resources(model.LocalAccount)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Queues) == 0 {
		return nil, fmt.Errorf("%s: the configuration has no queues", path)
	}
	return &World{Path: path, Resources: r}, nil
}

// Capacity is the instances of all environments together.
func (w *World) Capacity() (n int64) {
	for i := range w.Environments {
		n += w.Environments[i].MaxInstances()
	}
	return n
}

// queue finds a queue by name or ARN.
func (w *World) queue(ref string) *model.JobQueue {
	for i := range w.Queues {
		if q := &w.Queues[i]; q.Name == ref || q.Arn == ref {
			return q
		}
	}
	return nil
}

func (w *World) policy(arn string) *model.FairsharePolicy {
	for i := range w.Policies {
		if w.Policies[i].Arn == arn {
			return w.Policies[i].FairsharePolicy
		}
	}
	return nil
}

func (w *World) queueNames() string {
	var names []string
	for _, q := range w.Queues {
		names = append(names, q.Name)
	}
	return strings.Join(names, ", ")
}

// Bound says what runtime bound (MaxRuntimeInSeconds) a job gets when its
// row gives none: the trace's duration itself, a multiple of it, or one
// fixed bound.
type Bound struct {
	Exact  bool
	Factor float64
	Fixed  time.Duration
}

// ParseBound reads --runtime-bound: "exact", "2x" (a multiple of the
// duration) or a duration such as "24h" read by parseDuration. "" gives
// SageMaker's default of one day.
func ParseBound(s string, parseDuration func(string) (time.Duration, error)) (Bound, error) {
	switch {
	case s == "":
		return Bound{Fixed: time.Duration(model.DefaultMaxRuntimeSeconds) * time.Second}, nil
	case s == "exact":
		return Bound{Exact: true}, nil
	case strings.HasSuffix(s, "x"):
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
		if err != nil || f < 1 || math.IsInf(f, 0) {
			return Bound{}, fmt.Errorf("--runtime-bound %q: a multiple of the duration must be a number of at least 1, like 1.5x", s)
		}
		return Bound{Factor: f}, nil
	}
	d, err := parseDuration(s)
	if err != nil || d < time.Second {
		return Bound{}, fmt.Errorf("--runtime-bound %q: want exact, a multiple like 2x, or a duration of at least 1s like 24h", s)
	}
	return Bound{Fixed: d}, nil
}

func (b Bound) of(d time.Duration) time.Duration {
	switch {
	case b.Exact:
		return max(d.Round(time.Second), time.Second)
	case b.Factor > 0:
		return max(time.Duration(math.Ceil(float64(d)*b.Factor/float64(time.Second)))*time.Second, time.Second)
	}
	return b.Fixed
}

// Jobs maps a trace's rows to jobs of w: rows without a queue go to
// defaultQueue (the first queue of the file when ""). An unknown queue, or
// a share the queue's policy does not list, is an error naming it.
func (w *World) Jobs(rows []Row, defaultQueue string, bound Bound) ([]sim.Job, error) {
	def := &w.Queues[0]
	if defaultQueue != "" {
		if def = w.queue(defaultQueue); def == nil {
			return nil, fmt.Errorf("--queue %s: no such queue in %s (queues: %s)", defaultQueue, w.Path, w.queueNames())
		}
	}
	start := Epoch.UnixMilli()
	jobs := make([]sim.Job, 0, len(rows))
	for _, r := range rows {
		q := def
		if r.Queue != "" {
			if q = w.queue(r.Queue); q == nil {
				return nil, &RowError{Line: r.Line, Column: "queue", Err: fmt.Sprintf("unknown queue %s (queues in %s: %s)", r.Queue, w.Path, w.queueNames())}
			}
		}
		if err := w.checkShare(q, r); err != nil {
			return nil, err
		}
		maxRuntime := r.MaxRuntime
		if maxRuntime == 0 {
			maxRuntime = bound.of(r.Duration)
		}
		jobs = append(jobs, sim.Job{
			ID: r.ID, Queue: q.Arn, Share: r.Share, Priority: r.Priority, Instances: r.Instances,
			Arrival: start + r.Arrival.Milliseconds(), Duration: r.Duration, MaxRuntime: maxRuntime,
		})
	}
	return jobs, nil
}

// checkShare refuses a job without a share in a fair-share queue, and a
// share its policy does not list when it lists some (a typo would
// otherwise make a share of weight 1). In a FIFO queue the share is only a
// label for the report.
func (w *World) checkShare(q *model.JobQueue, r Row) error {
	if !q.FairShare() {
		return nil
	}
	if r.Share == "" {
		return &RowError{Line: r.Line, Column: "share", Err: fmt.Sprintf("is required: queue %s is a fair-share queue", q.Name)}
	}
	p := w.policy(q.SchedulingPolicyArn)
	if p == nil || len(p.ShareDistribution) == 0 {
		return nil
	}
	var listed []string
	for _, a := range p.ShareDistribution {
		prefix, isPrefix := strings.CutSuffix(a.ShareIdentifier, "*")
		if a.ShareIdentifier == r.Share || isPrefix && strings.HasPrefix(r.Share, prefix) {
			return nil
		}
		listed = append(listed, a.ShareIdentifier)
	}
	sort.Strings(listed)
	return &RowError{Line: r.Line, Column: "share", Err: fmt.Sprintf("unknown share %s: the policy of queue %s lists %s", r.Share, q.Name, strings.Join(listed, ", "))}
}
