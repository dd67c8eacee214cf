// Package cloud is sagequeue's cloud shape: the handlers of the four Lambda
// functions and what they are built from.
//
//   - Submit serves the Batch API behind an API Gateway HTTP API (payload
//     format 2.0) through Adapter, and tells the rest of the system about
//     what it changed by publishing events: a "Service Job State Change"
//     when a job's status changed, and a "Schedule Requested" when a pass
//     should run (a job was submitted, a terminate was requested, the
//     configuration changed).
//   - Schedule runs a scheduling pass (engine.Schedule) for every batch of
//     events it is given: schedule requests and the one-minute tick, which
//     reach it through an SQS queue that coalesces them (at most two
//     invocations at a time, each with every request that has waited), all
//     mean "capacity or demand may have changed". A pass keeps within the
//     invocation's deadline and asks for another when it left work.
//   - StateChange applies a "SageMaker Training Job State Change" to its
//     service job (engine.ApplyTrainingJobEvent) and asks for a pass when the
//     job gave capacity back.
//   - Configure applies a deployment's configuration file (environments,
//     policies, queues) as a CloudFormation custom resource, through the
//     API handler in process (configure.go).
//
// PermissionsOf lists the AWS actions each function calls, for the
// deployment's IAM policies.
//
// The handlers take their dependencies (store, SageMaker, event bus, log
// reader) as Deps, so tests run them on DynamoDB Local, the local SageMaker
// endpoint and a fake of EventBridge; Connect makes the real ones from a
// Config (LoadConfig reads it from the environment) once per cold start, and
// the mains in functions/ only wire the two together and call lambda.Start.
//
// Every handler also writes sagequeue's metrics (docs/metrics.md) as
// CloudWatch Embedded Metric Format documents after each invocation
// (metrics.go).
package cloud

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Deps are what the handlers are built from.
type Deps struct {
	Config Config
	Store  store.Store
	// SageMaker is needed by Schedule (and by StateChange, whose engine
	// never calls it but requires one); Submit and Configure describe
	// training plans with it, and without it describe none.
	SageMaker engine.SageMaker
	Bus       events.Bus
	// Logs reads training job logs for getservicejoblogs (Submit); nil
	// answers with no lines.
	Logs   api.LogReader
	Logger *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// Metrics receives the function's metrics as CloudWatch Embedded Metric
	// Format documents after every invocation (standard output in Lambda;
	// see metrics.go); nil records none.
	Metrics io.Writer
}

func (d *Deps) defaults() {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
}

func (d Deps) engine(obs engine.Observer) (*engine.Engine, error) {
	return engine.New(engine.Config{
		Store: d.Store, SageMaker: d.SageMaker, Bus: d.Bus, Now: d.Now, Holder: d.Config.Holder,
		NamePrefix: d.Config.NamePrefix, Logger: d.Logger, Observer: obs,
		// Fenced writes are DynamoDB transactions on one lease item: one at
		// a time, or they conflict (see docs/dynamodb.md).
		WriteConcurrency: 1,
		Training:         trainingDefaults(d.Config),
	})
}

// ---- submit ----

// Submit is the handler of functions/submit.
type Submit struct {
	d Deps
	m *functionMetrics

	mu  sync.Mutex
	api http.Handler // built at the first invocation when the account is not configured
}

// NewSubmit returns the submit handler.
func NewSubmit(d Deps) (*Submit, error) {
	d.defaults()
	if d.Store == nil || d.Bus == nil {
		return nil, errors.New("cloud: submit needs a store and an event bus")
	}
	s := &Submit{d: d, m: d.newMetrics()}
	if d.Config.AccountID != "" {
		s.api = s.newAPI(account(d.Config.Region, d.Config.AccountID, ""))
	}
	return s, nil
}

func (s *Submit) newAPI(acct model.Account) http.Handler {
	var source api.PlanSource
	if s.d.SageMaker != nil {
		source = plans.New(s.d.SageMaker, 0, s.d.Now)
	}
	return api.New(api.Config{
		Store: s.d.Store, Account: acct, Now: s.d.Now, Logs: s.d.Logs, Logger: s.d.Logger, Plans: source,
		Hooks:    &BusHooks{Bus: s.d.Bus, Logger: s.d.Logger, Now: s.d.Now, Observer: s.m.observer()},
		Identity: CallerIdentity, RequestID: RequestID, ExecutionRoles: s.d.Config.ExecutionRoles,
	})
}

func trainingDefaults(c Config) engine.TrainingDefaults {
	d := engine.TrainingDefaults{Subnets: c.TrainingSubnets, SecurityGroupIDs: c.TrainingSecurityGroups, KMSKeyID: c.TrainingKMSKey}
	if len(c.ExecutionRoles) > 0 {
		d.RoleArn = c.ExecutionRoles[0]
	}
	return d
}

// account is the Account of ARNs; the partition follows the region unless
// known.
func account(region, id, partition string) model.Account {
	if partition == "" {
		switch {
		case strings.HasPrefix(region, "cn-"):
			partition = "aws-cn"
		case strings.HasPrefix(region, "us-gov-"):
			partition = "aws-us-gov"
		default:
			partition = "aws"
		}
	}
	return model.Account{Partition: partition, Region: region, ID: id}
}

// handler returns the API, deriving the account from the function's own ARN
// (arn:<partition>:lambda:<region>:<account>:function:<name>) at the first
// invocation when it is not configured: Lambda tells it, for free.
func (s *Submit) handler(ctx context.Context) (http.Handler, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api != nil {
		return s.api, nil
	}
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("cloud: %s is not set and the invocation has no Lambda context to take the account from", EnvAccountID)
	}
	parts := strings.Split(lc.InvokedFunctionArn, ":")
	if len(parts) < 7 || parts[2] != "lambda" || !accountPattern.MatchString(parts[4]) {
		return nil, fmt.Errorf("cloud: %s is not set and the function ARN %q names no account", EnvAccountID, lc.InvokedFunctionArn)
	}
	s.api = s.newAPI(account(s.d.Config.Region, parts[4], parts[1]))
	s.d.Logger.Info("account taken from the function ARN", "account", parts[4])
	return s.api, nil
}

// Handle serves one API Gateway event.
func (s *Submit) Handle(ctx context.Context, ev lambdaevents.APIGatewayV2HTTPRequest) (lambdaevents.APIGatewayV2HTTPResponse, error) {
	h, err := s.handler(ctx)
	if err != nil {
		return lambdaevents.APIGatewayV2HTTPResponse{}, err
	}
	defer s.m.flush()
	return Adapter{Handler: s.m.instrument(h)}.Handle(ctx, ev)
}

// BusHooks are the api.Hooks of the cloud: what the local Runner does in
// process, said with events instead. A failed publish is logged and
// otherwise ignored: the request has been stored and answered, the
// one-minute tick runs the pass a lost schedule request asked for, and a
// lost state change event is a lost notification, never lost state.
type BusHooks struct {
	Bus    events.Bus
	Logger *slog.Logger
	Now    func() time.Time
	// Observer, if set, is told of the status changes (metrics), as the
	// engine's Runner tells it in `sagequeue serve`.
	Observer engine.Observer
}

// JobChanged implements api.Hooks.
func (h *BusHooks) JobChanged(ctx context.Context, j *model.ServiceJob, previous model.JobStatus) {
	var evs []events.Event
	if j.Status != previous {
		evs = append(evs, events.JobStateChange(j, j.UpdatedAt))
		if h.Observer != nil {
			h.Observer.JobTransition(previous, j)
		}
	}
	reason := ""
	switch {
	case j.Status == model.StatusSubmitted:
		reason = events.ScheduleReasonSubmitted
	case j.TerminateReason != "" || j.IsTerminated && previous != j.Status:
		// An in-flight job must be stopped; a waiting one that ended may
		// have been the head blocking its queue.
		reason = events.ScheduleReasonTerminate
	case j.Status == model.StatusRunnable:
		reason = events.ScheduleReasonRunnable // e.g. its priority changed
	}
	if reason != "" {
		evs = append(evs, events.ScheduleRequested(reason, j.JobID, h.Now()))
	}
	h.publish(ctx, evs...)
}

// ConfigChanged implements api.Hooks.
func (h *BusHooks) ConfigChanged(ctx context.Context) {
	h.publish(ctx, events.ScheduleRequested(events.ScheduleReasonConfig, "", h.Now()))
}

func (h *BusHooks) publish(ctx context.Context, evs ...events.Event) {
	if len(evs) == 0 {
		return
	}
	if err := h.Bus.Publish(ctx, evs...); err != nil {
		h.Logger.Warn("publishing events", "count", len(evs), "err", err)
	}
}

// ---- schedule ----

// Schedule is the handler of functions/schedule.
type Schedule struct {
	eng *engine.Engine
	bus events.Bus
	log *slog.Logger
	st  store.Store
	now func() time.Time
	m   *functionMetrics
}

// NewSchedule returns the schedule handler.
func NewSchedule(d Deps) (*Schedule, error) {
	d.defaults()
	if d.Bus == nil {
		return nil, errors.New("cloud: schedule needs an event bus")
	}
	m := d.newMetrics()
	eng, err := d.engine(m.observer())
	if err != nil {
		return nil, err
	}
	return &Schedule{eng: eng, bus: d.Bus, log: d.Logger, st: d.Store, now: d.Now, m: m}, nil
}

// envelope is what the functions read of any EventBridge event.
type envelope struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// Trigger kinds, for logs.
const (
	triggerRequested = "schedule-requested"
	triggerTick      = "tick"
	triggerSageMaker = "sagemaker-state-change"
	triggerOther     = "other"
)

func triggerOf(ev envelope) string {
	switch {
	case ev.Source == events.Source && ev.DetailType == events.DetailTypeScheduleRequested:
		return triggerRequested
	case ev.Source == "aws.events" && ev.DetailType == "Scheduled Event":
		return triggerTick
	case ev.DetailType == events.DetailTypeTrainingJobStateChange:
		return triggerSageMaker
	}
	return triggerOther
}

// triggers reads what an invocation was given: a batch of SQS messages
// (the event source mapping of the schedule queue) whose bodies are the
// EventBridge events the rules sent to the queue, or one EventBridge event
// (a direct invocation). It counts them by kind. What does not decode is
// counted as "other": every trigger means the same pass.
func triggers(raw json.RawMessage) (map[string]int, []string) {
	var batch struct {
		Records []struct {
			MessageID string `json:"messageId"`
			Body      string `json:"body"`
		} `json:"Records"`
	}
	kinds := map[string]int{}
	var ids []string
	if err := json.Unmarshal(raw, &batch); err == nil && len(batch.Records) > 0 {
		for _, r := range batch.Records {
			var ev envelope
			_ = json.Unmarshal([]byte(r.Body), &ev)
			kinds[triggerOf(ev)]++
			ids = append(ids, cmp.Or(ev.ID, r.MessageID))
		}
		return kinds, ids
	}
	var ev envelope
	_ = json.Unmarshal(raw, &ev)
	kinds[triggerOf(ev)]++
	return kinds, append(ids, ev.ID)
}

// Handle runs one scheduling pass for an invocation, whatever its events
// (read only for the log line).
//
// Two invocations may run at once (the queue's maximum concurrency); the
// lease lets one pass run at a time. One that finds the lease held waits
// for it, up to half its time: its pass then sees what its events
// announced. If the lease is still held, it hands its request on to the
// queue (a new Schedule Requested) rather than drop it. A pass that ran
// out of time with work left (PassResult.More) asks for another pass the
// same way.
//
// The lease is given back after every pass rather than kept for the next
// one, as `sagequeue serve` keeps it: an execution environment may be
// frozen or retired at any time after an invocation, and a lease it kept
// would stall every other environment's passes until it expired. It is
// given back before the invocation's deadline.
func (s *Schedule) Handle(ctx context.Context, raw json.RawMessage) error {
	kinds, ids := triggers(raw)
	defer s.m.flush()
	// What follows the pass (giving the lease back, asking for another
	// pass, the gauges) ends a little before the deadline, or takes at most
	// 5 s without one.
	waitUntil := time.Now().Add(30 * time.Second)
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		waitUntil = time.Now().Add(left / 2)
		after, cancel = context.WithDeadline(context.WithoutCancel(ctx), dl.Add(-min(max(left/30, 100*time.Millisecond), time.Second)))
	}
	defer cancel()
	res, err := s.eng.Schedule(ctx)
	for delay := 100 * time.Millisecond; err == nil && res.Busy && time.Now().Add(delay).Before(waitUntil); delay = min(delay*2, time.Second) {
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		res, err = s.eng.Schedule(ctx)
	}
	if !res.Busy {
		if rerr := s.eng.Release(after); rerr != nil {
			s.log.Warn("giving the scheduler lease back", "err", rerr)
		}
	}
	attrs := []any{
		"triggers", kinds, "eventIds", ids,
		"busy", res.Busy, "more", res.More, "promoted", res.Promoted, "admitted", res.Admitted, "launched", res.Launched,
		"requeued", res.Requeued, "failed", res.Failed, "terminated", res.Terminated, "reasons", res.Reasons,
		"stops", res.Stops, "reconciled", res.Reconciled, "heads", res.Heads, "durationMs", res.Duration.Milliseconds(),
		"phasesMs", map[string]int64{
			"maintain": res.Phases.Maintain.Milliseconds(), "promote": res.Phases.Promote.Milliseconds(), "plan": res.Phases.Plan.Milliseconds(),
			"apply": res.Phases.Apply.Milliseconds(), "launch": res.Phases.Launch.Milliseconds(),
		},
	}
	if err == nil && (res.Busy || res.More) {
		reason := events.ScheduleReasonMore
		if res.Busy {
			reason = events.ScheduleReasonBusy
		}
		if perr := s.bus.Publish(after, events.ScheduleRequested(reason, "", s.now())); perr != nil {
			s.log.Warn("asking for another scheduling pass", "reason", reason, "err", perr)
		}
	}
	if kinds[triggerTick] > 0 {
		s.m.collectState(after, s.st) // after the pass, so the gauges show its result
	}
	switch {
	case err != nil:
		s.log.Error("scheduling pass failed", append(attrs, "err", err)...)
		return fmt.Errorf("scheduling pass: %w", err)
	case res.Busy:
		s.log.Info("scheduling pass skipped: another scheduler held the lease throughout; the request is handed on", attrs...)
	default:
		s.log.Info("scheduling pass", attrs...)
	}
	return nil
}

// ---- statechange ----

// StateChange is the handler of functions/statechange.
type StateChange struct {
	eng *engine.Engine
	bus events.Bus
	log *slog.Logger
	now func() time.Time
	m   *functionMetrics
}

// NewStateChange returns the statechange handler.
func NewStateChange(d Deps) (*StateChange, error) {
	d.defaults()
	if d.Bus == nil {
		return nil, errors.New("cloud: statechange needs an event bus")
	}
	m := d.newMetrics()
	eng, err := d.engine(m.observer())
	if err != nil {
		return nil, err
	}
	return &StateChange{eng: eng, bus: d.Bus, log: d.Logger, now: d.Now, m: m}, nil
}

// Handle applies one SageMaker training job state change. Events that are
// not training job state changes, or are about training jobs sagequeue did
// not make, are logged and dropped: no retry could make them ours. An event
// is decoded field by field (events.ParseTrainingJobStateChange): a field
// that does not decode is logged, counted (EventFieldsSkipped) and left
// out, and the rest applied. A store failure is returned, so that Lambda
// retries the event (applying one is idempotent).
func (s *StateChange) Handle(ctx context.Context, raw json.RawMessage) error {
	defer s.m.flush()
	ev, skipped, err := events.ParseTrainingJobStateChange(raw)
	if err != nil {
		s.log.Error("dropping an event that is not a training job state change", "err", err)
		return nil
	}
	if len(skipped) > 0 {
		s.log.Warn("fields of a training job state change did not decode; applying the rest", "fields", skipped, "eventId", ev.ID,
			"trainingJob", ev.Detail.TrainingJobName)
		s.m.eventFieldsSkipped(skipped)
	}
	name := ev.Detail.TrainingJobName
	if ev.DetailType != events.DetailTypeTrainingJobStateChange || name == "" {
		s.log.Warn("dropping an event that is not a training job state change", "source", ev.Source, "detailType", ev.DetailType, "eventId", ev.ID)
		return nil
	}
	if _, _, ok := s.eng.ParseTrainingJobName(name); !ok {
		s.log.Debug("ignoring a training job sagequeue did not launch", "trainingJob", name)
		return nil
	}
	out, err := s.eng.ApplyTrainingJobEvent(ctx, ev)
	attrs := []any{
		"trainingJob", name, "status", ev.Detail.TrainingJobStatus, "secondaryStatus", ev.Detail.SecondaryStatus, "eventId", ev.ID,
	}
	if err != nil {
		s.log.Error("applying a training job state change", append(attrs, "err", err)...)
		return fmt.Errorf("applying the state change of %s: %w", name, err)
	}
	s.log.Info("training job state change", append(attrs, "job", out.JobID, "from", out.From, "to", out.To,
		"changed", out.Changed, "released", out.Released)...)
	if out.Released {
		// A retry of this event would find the job settled and not ask
		// again, so a failed publish is not worth a retry: the tick covers it.
		if err := s.bus.Publish(ctx, events.ScheduleRequested(events.ScheduleReasonReleased, out.JobID, s.now())); err != nil {
			s.log.Warn("asking for a scheduling pass", "job", out.JobID, "err", err)
		}
	}
	return nil
}
