package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
)

// Def describes one of sagequeue's metrics once, for both outputs: its
// Prometheus name and labels, and its CloudWatch name, unit and dimensions
// (the labels, capitalized, plus Function).
type Def struct {
	Name       string // Prometheus name
	CloudWatch string // CloudWatch metric name
	Help       string
	Kind       Kind
	Labels     []string
	Unit       string // CloudWatch unit: Count, Seconds, None
	Buckets    []float64
}

// dimensionNames are the CloudWatch dimension names of the labels.
var dimensionNames = map[string]string{
	"queue": "Queue", "status": "Status", "from": "From", "to": "To", "environment": "Environment",
	"share": "Share", "operation": "Operation", "code": "ErrorCode", "result": "Result", "instance_type": "InstanceType",
	"kind": "Kind", "fault": "Fault", "field": "Field", "plan": "TrainingPlan",
}

// Bucket bounds, in seconds.
var (
	// Waits range from an idle queue's milliseconds to a backlog's days.
	waitBuckets = []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800}
	// Training runs from seconds (a smoke test) to days.
	runBuckets  = []float64{10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800}
	passBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	callBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// The metrics. docs/metrics.md explains each with example queries; keep the
// two in step.
var (
	// Job state, read from the store when scraped (serve) or once a minute
	// (the schedule function's tick).
	Jobs = &Def{Name: "sagequeue_jobs", CloudWatch: "Jobs", Kind: Gauge, Labels: []string{"queue", "status"}, Unit: "Count",
		Help: "Jobs waiting or in flight, by queue and status (SUBMITTED, RUNNABLE, SCHEDULED, STARTING, RUNNING)."}
	QueueInstancesInUse = &Def{Name: "sagequeue_queue_instances_in_use", CloudWatch: "QueueInstancesInUse", Kind: Gauge, Labels: []string{"queue"}, Unit: "Count",
		Help: "Instances held by the queue's SCHEDULED, STARTING and RUNNING jobs."}
	QueueHeadWait = &Def{Name: "sagequeue_queue_head_wait_seconds", CloudWatch: "QueueHeadWait", Kind: Gauge, Labels: []string{"queue"}, Unit: "Seconds",
		Help: "Longest time since submission among the jobs at the front of the queue's lines (0 when nothing waits)."}
	EnvInstancesInUse = &Def{Name: "sagequeue_environment_instances_in_use", CloudWatch: "InstancesInUse", Kind: Gauge, Labels: []string{"environment"}, Unit: "Count",
		Help: "Instances held in the service environment by SCHEDULED, STARTING and RUNNING jobs."}
	EnvInstancesCapacity = &Def{Name: "sagequeue_environment_instances_capacity", CloudWatch: "InstanceCapacity", Kind: Gauge, Labels: []string{"environment"}, Unit: "Count",
		Help: "Instances the service environment offers (its maxCapacity; 0 while it is DISABLED)."}
	ShareUsage = &Def{Name: "sagequeue_share_usage_instances", CloudWatch: "ShareUsage", Kind: Gauge, Labels: []string{"queue", "share"}, Unit: "None",
		Help: "Decayed past usage of a share of a fair-share queue, in instances (what fair share weighs, besides the instances held now)."}
	ShareInstancesInUse = &Def{Name: "sagequeue_share_instances_in_use", CloudWatch: "ShareInstancesInUse", Kind: Gauge, Labels: []string{"queue", "share"}, Unit: "Count",
		Help: "Instances held now by a share's jobs in a fair-share queue."}
	QuotaShareInstancesInUse = &Def{Name: "sagequeue_quota_share_instances_in_use", CloudWatch: "QuotaShareInstancesInUse", Kind: Gauge, Labels: []string{"queue", "share", "instance_type"}, Unit: "Count",
		Help: "Instances of a type held now by a quota share's jobs (quota management queues)."}
	QuotaShareBorrowed = &Def{Name: "sagequeue_quota_share_borrowed_instances", CloudWatch: "QuotaShareBorrowedInstances", Kind: Gauge, Labels: []string{"queue", "share", "instance_type"}, Unit: "Count",
		Help: "Instances of a type a quota share holds beyond its own quota: borrowed from idle quota of other shares."}
	StateErrors = &Def{Name: "sagequeue_state_read_errors_total", CloudWatch: "StateReadErrors", Kind: Counter, Unit: "Count",
		Help: "Reads of the store for the job and capacity gauges that failed (the gauges keep their last values)."}

	// Job events, counted as they happen.
	JobsSubmitted = &Def{Name: "sagequeue_jobs_submitted_total", CloudWatch: "JobsSubmitted", Kind: Counter, Labels: []string{"queue"}, Unit: "Count",
		Help: "Jobs submitted."}
	JobsFinished = &Def{Name: "sagequeue_jobs_finished_total", CloudWatch: "JobsFinished", Kind: Counter, Labels: []string{"queue", "status"}, Unit: "Count",
		Help: "Jobs that ended, by final status (SUCCEEDED or FAILED)."}
	JobTransitions = &Def{Name: "sagequeue_job_transitions_total", CloudWatch: "JobTransitions", Kind: Counter, Labels: []string{"queue", "from", "to"}, Unit: "Count",
		Help: "Changes of job status, by the status left and the status entered."}
	JobRetries = &Def{Name: "sagequeue_job_retries_total", CloudWatch: "JobRetries", Kind: Counter, Labels: []string{"queue"}, Unit: "Count",
		Help: "Failed attempts that went back to RUNNABLE for another attempt (retry strategy)."}
	Preemptions = &Def{Name: "sagequeue_preemptions_total", CloudWatch: "Preemptions", Kind: Counter, Labels: []string{"queue", "share"}, Unit: "Count",
		Help: "Attempts preempted (stopped for another job, quota management) once SageMaker stopped them, by the victim's queue and quota share."}
	CapacityFailures = &Def{Name: "sagequeue_capacity_failures_total", CloudWatch: "CapacityFailures", Kind: Counter, Labels: []string{"queue"}, Unit: "Count",
		Help: "Launches or attempts that failed for lack of capacity or for an account quota (ResourceLimitExceeded) and went back to RUNNABLE without using an attempt."}
	InfrastructureFaults = &Def{Name: "sagequeue_infrastructure_faults_total", CloudWatch: "InfrastructureFaults", Kind: Counter, Labels: []string{"queue", "fault"}, Unit: "Count",
		Help: "Launches or attempts that a fault of the machine ended (DISK_FULL, FILE_DESCRIPTORS_EXHAUSTED, ...) and that went back to RUNNABLE without using an attempt, by fault."}
	JobWait = &Def{Name: "sagequeue_job_wait_seconds", CloudWatch: "JobWaitTime", Kind: Histogram, Labels: []string{"queue"}, Unit: "Seconds", Buckets: waitBuckets,
		Help: "Time from submission to the first placement (createdAt to scheduledAt)."}
	JobRun = &Def{Name: "sagequeue_job_run_seconds", CloudWatch: "JobRunTime", Kind: Histogram, Labels: []string{"queue"}, Unit: "Seconds", Buckets: runBuckets,
		Help: "Run time of attempts that started, from the training job's start to its stop."}

	// Training plans, as the engine sees them after every pass.
	PlanCapacity = &Def{Name: "sagequeue_plan_instances_capacity", CloudWatch: "PlanCapacity", Kind: Gauge, Labels: []string{"plan"}, Unit: "Count",
		Help: "Instances the training plan gives now (0 outside its windows; unhealthy instances left out)."}
	PlanInUse = &Def{Name: "sagequeue_plan_instances_in_use", CloudWatch: "PlanInstancesInUse", Kind: Gauge, Labels: []string{"plan"}, Unit: "Count",
		Help: "Instances of the training plan held by sagequeue's SCHEDULED, STARTING and RUNNING jobs."}
	PlanIdle = &Def{Name: "sagequeue_plan_idle_instance_hours_total", CloudWatch: "PlanIdleInstanceHours", Kind: Counter, Labels: []string{"plan"}, Unit: "None",
		Help: "Instance-hours of the training plan's open windows that no job of sagequeue's used: paid for and wasted."}

	// Scheduling passes.
	Passes = &Def{Name: "sagequeue_scheduling_passes_total", CloudWatch: "SchedulingPasses", Kind: Counter, Labels: []string{"result"}, Unit: "Count",
		Help: `Scheduling passes by result: "ok", "busy" (another scheduler held the lease; the pass did nothing) or "error".`}
	PassDuration = &Def{Name: "sagequeue_scheduling_pass_duration_seconds", CloudWatch: "SchedulingPassDuration", Kind: Histogram, Unit: "Seconds", Buckets: passBuckets,
		Help: "Duration of scheduling passes that held the lease."}
	Launches = &Def{Name: "sagequeue_launches_total", CloudWatch: "Launches", Kind: Counter, Unit: "Count",
		Help: "Training jobs SageMaker accepted (CreateTrainingJob)."}
	Stops = &Def{Name: "sagequeue_stops_total", CloudWatch: "Stops", Kind: Counter, Unit: "Count",
		Help: "StopTrainingJob requests made for terminations, attempt timeouts and preemptions."}
	Reconciliations = &Def{Name: "sagequeue_reconciliations_total", CloudWatch: "Reconciliations", Kind: Counter, Unit: "Count",
		Help: "In-flight jobs whose state the engine asked SageMaker for because no event came in time (or after a start)."}
	TimeLimitTerminations = &Def{Name: "sagequeue_time_limit_terminations_total", CloudWatch: "TimeLimitTerminations", Kind: Counter, Unit: "Count",
		Help: "Jobs ended by a queue's job state time limit action."}

	// SageMaker calls.
	SageMakerRequests = &Def{Name: "sagequeue_sagemaker_requests_total", CloudWatch: "SageMakerRequests", Kind: Counter, Labels: []string{"operation"}, Unit: "Count",
		Help: "Calls to SageMaker, by operation."}
	SageMakerErrors = &Def{Name: "sagequeue_sagemaker_errors_total", CloudWatch: "SageMakerErrors", Kind: Counter, Labels: []string{"operation", "code"}, Unit: "Count",
		Help: "Calls to SageMaker that failed, by operation and error code (RequestError: no answer)."}
	SageMakerLatency = &Def{Name: "sagequeue_sagemaker_request_duration_seconds", CloudWatch: "SageMakerLatency", Kind: Histogram, Labels: []string{"operation"}, Unit: "Seconds", Buckets: callBuckets,
		Help: "Duration of calls to SageMaker."}

	// Events in.
	EventFieldsSkipped = &Def{Name: "sagequeue_event_fields_skipped_total", CloudWatch: "EventFieldsSkipped", Kind: Counter, Labels: []string{"field"}, Unit: "Count",
		Help: "Fields of SageMaker state change events that did not decode and were left out; the rest of each event was applied."}

	// The Batch API.
	APIRequests = &Def{Name: "sagequeue_api_requests_total", CloudWatch: "APIRequests", Kind: Counter, Labels: []string{"operation", "code"}, Unit: "Count",
		Help: "Batch API requests by operation and HTTP status code."}
	APILatency = &Def{Name: "sagequeue_api_request_duration_seconds", CloudWatch: "APILatency", Kind: Histogram, Labels: []string{"operation"}, Unit: "Seconds", Buckets: callBuckets,
		Help: "Duration of Batch API requests."}
)

// All lists every metric.
var All = []*Def{
	Jobs, QueueInstancesInUse, QueueHeadWait, EnvInstancesInUse, EnvInstancesCapacity, ShareUsage, ShareInstancesInUse,
	QuotaShareInstancesInUse, QuotaShareBorrowed, StateErrors,
	JobsSubmitted, JobsFinished, JobTransitions, JobRetries, Preemptions, CapacityFailures, InfrastructureFaults, JobWait, JobRun,
	PlanCapacity, PlanInUse, PlanIdle,
	Passes, PassDuration, Launches, Stops, Reconciliations, TimeLimitTerminations,
	SageMakerRequests, SageMakerErrors, SageMakerLatency, EventFieldsSkipped, APIRequests, APILatency,
}

// stateDefs are the gauges refilled from the store.
var stateDefs = []*Def{Jobs, QueueInstancesInUse, QueueHeadWait, EnvInstancesInUse, EnvInstancesCapacity, ShareUsage, ShareInstancesInUse,
	QuotaShareInstancesInUse, QuotaShareBorrowed}

// sink is where a Recorder's numbers go: the Prometheus registry or EMF.
type sink interface {
	add(d *Def, v float64, labels []string)
	set(d *Def, v float64, labels []string)
	observe(d *Def, v float64, labels []string)
	// reset forgets a gauge's series before the state is read again.
	reset(d *Def)
}

// Recorder records sagequeue's metrics. It implements engine.Observer, so
// an engine reports passes, transitions and SageMaker calls to it; the
// state gauges come from CollectState, the API's requests from
// InstrumentAPI.
type Recorder struct {
	sink sink
	now  func() time.Time

	mu    sync.Mutex
	plans map[string]engine.PlanState // the last observation of each plan
}

var (
	_ engine.Observer     = (*Recorder)(nil)
	_ engine.PlanObserver = (*Recorder)(nil)
)

// maxIdleGap bounds the time between two observations of a plan that
// counts as idle at the first one's level: a scheduler that went quiet (a
// Lambda execution environment frozen between invocations) does not know
// what happened meanwhile.
const maxIdleGap = 5 * time.Minute

// PlanObserved implements engine.PlanObserver: the plan gauges, and the
// idle instance-hours since the last observation of the plan (its capacity
// less sagequeue's use then, while a window was open).
func (r *Recorder) PlanObserved(p engine.PlanState) {
	name := p.Name
	if name == "" {
		name = p.Arn
	}
	r.sink.set(PlanCapacity, float64(p.Capacity), labels(name))
	r.sink.set(PlanInUse, float64(p.InUse), labels(name))
	r.mu.Lock()
	last, seen := r.plans[p.Arn]
	if r.plans == nil {
		r.plans = map[string]engine.PlanState{}
	}
	r.plans[p.Arn] = p
	r.mu.Unlock()
	if !seen || !last.Open || p.At <= last.At {
		return
	}
	idle := max(last.Capacity-last.InUse, 0)
	gap := min(time.Duration(p.At-last.At)*time.Millisecond, maxIdleGap)
	if idle > 0 {
		r.sink.add(PlanIdle, float64(idle)*gap.Hours(), labels(name))
	}
}

// NewPrometheus returns a Recorder that keeps its metrics in reg (every
// metric of All is registered).
func NewPrometheus(reg *Registry) *Recorder {
	p := promSink{families: map[*Def]*Family{}}
	for _, d := range All {
		switch d.Kind {
		case Counter:
			p.families[d] = reg.NewCounter(d.Name, d.Help, d.Labels...)
		case Gauge:
			p.families[d] = reg.NewGauge(d.Name, d.Help, d.Labels...)
		case Histogram:
			p.families[d] = reg.NewHistogram(d.Name, d.Help, d.Buckets, d.Labels...)
		}
	}
	return &Recorder{sink: p, now: time.Now}
}

// NewCloudWatch returns a Recorder that writes its metrics to e, as
// Embedded Metric Format documents at e.Flush.
func NewCloudWatch(e *EMF) *Recorder {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	return &Recorder{sink: emfSink{e}, now: now}
}

type promSink struct{ families map[*Def]*Family }

func (p promSink) add(d *Def, v float64, l []string)     { p.families[d].Add(v, l...) }
func (p promSink) set(d *Def, v float64, l []string)     { p.families[d].Set(v, l...) }
func (p promSink) observe(d *Def, v float64, l []string) { p.families[d].Observe(v, l...) }
func (p promSink) reset(d *Def)                          { p.families[d].Reset() }

type emfSink struct{ e *EMF }

func dims(d *Def, l []string) []Dim {
	out := make([]Dim, len(d.Labels))
	for i, name := range d.Labels {
		out[i] = Dim{Name: dimensionNames[name], Value: l[i]}
	}
	return out
}

func (s emfSink) add(d *Def, v float64, l []string) { s.e.Add(d.CloudWatch, d.Unit, v, dims(d, l)...) }
func (s emfSink) set(d *Def, v float64, l []string) { s.e.Set(d.CloudWatch, d.Unit, v, dims(d, l)...) }
func (s emfSink) observe(d *Def, v float64, l []string) {
	s.e.Observe(d.CloudWatch, d.Unit, v, dims(d, l)...)
}
func (s emfSink) reset(*Def) {}

func labels(v ...string) []string { return v }

// PassFinished implements engine.Observer.
func (r *Recorder) PassFinished(res engine.PassResult, err error) {
	result := "ok"
	switch {
	case err != nil:
		result = "error"
	case res.Busy:
		result = "busy"
	}
	r.sink.add(Passes, 1, labels(result))
	if res.Busy {
		return
	}
	r.sink.observe(PassDuration, res.Duration.Seconds(), nil)
	for d, n := range map[*Def]int{Launches: res.Launched, Stops: res.Stops, Reconciliations: res.Reconciled, TimeLimitTerminations: res.Terminated} {
		if n > 0 {
			r.sink.add(d, float64(n), nil)
		}
	}
}

// JobTransition implements engine.Observer.
func (r *Recorder) JobTransition(from model.JobStatus, j *model.ServiceJob) {
	queue := nameOf(j.JobQueue)
	to := j.Status
	if from == "" {
		if to == model.StatusSubmitted {
			r.sink.add(JobsSubmitted, 1, labels(queue))
		}
		return
	}
	r.sink.add(JobTransitions, 1, labels(queue, string(from), string(to)))
	if to.Terminal() {
		r.sink.add(JobsFinished, 1, labels(queue, string(to)))
	}
	// The first placement ends the wait; later ones are retries.
	if to == model.StatusScheduled && len(j.Attempts) == 1 && j.ScheduledAt >= j.CreatedAt && j.CreatedAt > 0 {
		r.sink.observe(JobWait, float64(j.ScheduledAt-j.CreatedAt)/1000, labels(queue))
	}
	if from.HoldsCapacity() && !to.HoldsCapacity() {
		// The attempt that just ended, if it ran; an attempt put back
		// unlaunched is gone from the list, and the one before it stopped
		// before this placement.
		if a := j.LatestAttempt(); a != nil && a.StartedAt > 0 && a.StoppedAt >= a.StartedAt && a.StoppedAt >= j.ScheduledAt {
			r.sink.observe(JobRun, float64(a.StoppedAt-a.StartedAt)/1000, labels(queue))
		}
		if strings.HasPrefix(j.StatusReason, model.ReasonPreempted+" - ") {
			r.sink.add(Preemptions, 1, labels(queue, j.QuotaShareName))
		}
		if to == model.StatusRunnable {
			switch {
			case strings.HasPrefix(j.StatusReason, model.ReasonPreempted+" - "):
			case strings.HasPrefix(j.StatusReason, model.ReasonCapacity), strings.HasPrefix(j.StatusReason, model.ReasonResourceLimit):
				r.sink.add(CapacityFailures, 1, labels(queue))
			case strings.HasPrefix(j.StatusReason, model.ReasonInfrastructure+":"):
				fault := strings.TrimPrefix(model.ReasonCode(j.StatusReason), model.ReasonInfrastructure+":")
				r.sink.add(InfrastructureFaults, 1, labels(queue, fault))
			case j.StatusReason != "":
				r.sink.add(JobRetries, 1, labels(queue))
			}
		}
	}
}

// EventFieldsSkipped counts the fields of an incoming event that did not
// decode (events.ParseTrainingJobStateChange).
func (r *Recorder) EventFieldsSkipped(fields []string) {
	for _, f := range fields {
		r.sink.add(EventFieldsSkipped, 1, labels(f))
	}
}

// SageMakerCall implements engine.Observer.
func (r *Recorder) SageMakerCall(op string, took time.Duration, err error) {
	r.sink.add(SageMakerRequests, 1, labels(op))
	r.sink.observe(SageMakerLatency, took.Seconds(), labels(op))
	if err != nil {
		r.sink.add(SageMakerErrors, 1, labels(op, errorCode(err)))
	}
}

// errorCode names an error as the error code SageMaker answered with, or
// what kept it from answering.
func errorCode(err error) string {
	var ae smithy.APIError
	var invalid smithy.InvalidParamsError
	switch {
	case errors.As(err, &ae) && ae.ErrorCode() != "":
		return ae.ErrorCode()
	case errors.As(err, &invalid):
		// Refused by the SDK before it was sent, as SageMaker would have.
		return "ValidationException"
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	return "RequestError"
}

// nameOf returns the name of an ARN (or the string itself).
func nameOf(arn string) string {
	if _, name, ok := model.ParseARN(arn); ok {
		return name
	}
	return arn
}
