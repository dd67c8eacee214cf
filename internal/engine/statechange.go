package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/safetext"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Outcome says what a training job state change did to its service job.
type Outcome struct {
	JobID    string
	From, To model.JobStatus
	// Changed means the job was written.
	Changed bool
	// Released means the job gave its capacity back (it ended or went back
	// to RUNNABLE): a pass may now place another job.
	Released bool
}

// ApplyTrainingJobEvent applies a "SageMaker Training Job State Change"
// event to the service job whose attempt the training job is. Events are
// at-least-once and unordered: an event for an older attempt, or one that
// would move the attempt backwards (RUNNING after SUCCEEDED, STARTING after
// RUNNING), changes nothing.
func (e *Engine) ApplyTrainingJobEvent(ctx context.Context, ev events.TrainingJobStateChange) (Outcome, error) {
	if ev.DetailType != "" && ev.DetailType != events.DetailTypeTrainingJobStateChange {
		return Outcome{}, fmt.Errorf("engine: event of type %q is not a training job state change", ev.DetailType)
	}
	return e.applyTrainingJob(ctx, ev.Detail)
}

const maxRetries = 8

func (e *Engine) applyTrainingJob(ctx context.Context, tj events.TrainingJob) (Outcome, error) {
	jobID, _, ok := e.ParseTrainingJobName(tj.TrainingJobName)
	if !ok {
		return Outcome{}, nil // not one of ours
	}
	for range maxRetries {
		j, err := e.cfg.Store.GetJob(ctx, jobID)
		if errors.Is(err, store.ErrNotFound) {
			return Outcome{}, nil
		}
		if err != nil {
			return Outcome{}, err
		}
		if !current(j, tj.TrainingJobName) {
			return Outcome{JobID: jobID, From: j.Status, To: j.Status}, nil // an older attempt, or already settled
		}
		from, heldSince := j.Status, j.ScheduledAt
		now := e.nowMs()
		changed, released := e.advance(j, tj, now)
		if !changed {
			return Outcome{JobID: jobID, From: from, To: from}, nil
		}
		stored, err := e.cfg.Store.UpdateJob(ctx, j, nil)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return Outcome{}, err
		}
		if released {
			e.recordUsage(ctx, stored, heldSince, now)
		}
		if stored.Status != from {
			e.publish(ctx, stored)
		}
		e.observeTransition(from, stored)
		return Outcome{JobID: jobID, From: from, To: stored.Status, Changed: true, Released: released}, nil
	}
	return Outcome{}, fmt.Errorf("engine: job %s kept changing while applying a state change of %s", jobID, tj.TrainingJobName)
}

// jobStatusOf maps a training job's status to a job state; ok is false for
// states that change nothing (Stopping).
func jobStatusOf(tj events.TrainingJob) (model.JobStatus, bool) {
	switch tj.TrainingJobStatus {
	case events.TrainingInProgress:
		switch tj.SecondaryStatus {
		case "Training", "Uploading":
			return model.StatusRunning, true
		case "Downloading", "LaunchingMLInstances", "PreparingTrainingStack", "DownloadingTrainingImage", "Restarting":
			return model.StatusStarting, true
		}
		return model.StatusScheduled, true
	case events.TrainingCompleted:
		return model.StatusSucceeded, true
	case events.TrainingFailed, events.TrainingStopped:
		return model.StatusFailed, true
	}
	return "", false
}

// advance moves j (holding capacity, tj's attempt current) as tj says. It
// reports whether j changed and whether it gave its capacity back.
func (e *Engine) advance(j *model.ServiceJob, tj events.TrainingJob, now int64) (changed, released bool) {
	a := j.LatestAttempt()
	if tj.TrainingJobArn != "" && a.TrainingJobArn == "" {
		a.TrainingJobArn = tj.TrainingJobArn
		changed = true
	}
	target, ok := jobStatusOf(tj)
	if !ok || target.AttemptRank() <= j.Status.AttemptRank() {
		if changed {
			j.UpdatedAt = now
		}
		return changed, false
	}
	j.CheckedAt = now
	if start := int64(tj.TrainingStartTime); start > 0 && a.StartedAt == 0 && target.AttemptRank() >= model.StatusRunning.AttemptRank() {
		a.StartedAt = start
	}
	switch target {
	case model.StatusStarting, model.StatusRunning:
		_ = j.Transition(target, now, "")
		if target == model.StatusRunning {
			if a.StartedAt == 0 {
				a.StartedAt = now
			}
			j.StartedAt = a.StartedAt
		}
		return true, false
	case model.StatusSucceeded:
		reason := "Received status from SageMaker: " + events.TrainingCompleted
		e.endAttempt(j, a, tj, now, reason)
		_ = j.Transition(model.StatusSucceeded, now, reason)
	default:
		class, classReason := classifyEnd(j, a, tj, now)
		switch reason := e.attemptReason(j, tj); {
		case j.TerminateReason != "":
			e.endAttempt(j, a, tj, now, reason)
			j.IsTerminated = true
			_ = j.Transition(model.StatusFailed, now, j.TerminateReason)
		case j.PreemptReason != "":
			// Preempted: back to RUNNABLE without using a retry attempt,
			// unless its preemption retries are used up.
			reason = j.PreemptReason
			e.endAttempt(j, a, tj, now, reason)
			requeue := j.PreemptionRequeues()
			j.RecordPreemption(*a)
			if requeue {
				_ = j.Transition(model.StatusRunnable, now, reason)
			} else {
				_ = j.Transition(model.StatusFailed, now, reason+" ("+model.ReasonPreemptionRetriesExhausted+")")
			}
		case j.StopReason == "" && class == classCapacity:
			// No capacity: back to the queue without using an attempt, and
			// not again before a backoff that doubles with each failure.
			// What the plans can give may have changed: read them again.
			e.cfg.Plans.Invalidate()
			e.requeueUnused(j, a, tj, now, classReason)
		case j.StopReason == "" && class == classResourceLimit:
			// An account quota: the same, under a reason of its own, which
			// job state time limit actions can act on.
			e.requeueUnused(j, a, tj, now, classReason)
		case j.StopReason == "" && class == classInfrastructure:
			// The machine failed the job, not the job itself: the same.
			fault, detail, _ := infrastructureFault(tj.FailureReason)
			e.cfg.Logger.Warn("a fault of the machine ended a training job; the job goes back to its queue without using an attempt",
				"job", j.JobID, "trainingJob", tj.TrainingJobName, "fault", fault, "detail", detail)
			e.requeueUnused(j, a, tj, now, classReason)
		case j.ShouldRetry(reason):
			e.endAttempt(j, a, tj, now, reason)
			j.Placements++
			_ = j.Transition(model.StatusRunnable, now, reason)
		default:
			e.endAttempt(j, a, tj, now, reason)
			_ = j.Transition(model.StatusFailed, now, reason)
		}
	}
	if end := int64(tj.TrainingEndTime); end > 0 && j.Status.Terminal() {
		j.StoppedAt = end
	}
	j.StopReason, j.StopRequestedAt, j.PreemptReason = "", 0, ""
	return true, true
}

// current reports whether trainingJob is the attempt a job is running now.
func current(j *model.ServiceJob, trainingJob string) bool {
	a := j.LatestAttempt()
	return a != nil && a.TrainingJobName == trainingJob && j.Status.HoldsCapacity()
}

// capacityBackoff is how long a job waits after its n-th consecutive
// capacity failure: CapacityBackoff doubled each time, at most
// MaxCapacityBackoff.
func (e *Engine) capacityBackoff(n int32) time.Duration {
	d := e.cfg.CapacityBackoff
	for i := int32(1); i < n && d < e.cfg.MaxCapacityBackoff; i++ {
		d *= 2
	}
	return min(d, e.cfg.MaxCapacityBackoff)
}

// keptCapacityFailures bounds a run of consecutive capacity failures kept in
// a job's attempts: a shortage that lasts a day must not grow the record
// without end (the training job names stay unique through Launches).
const keptCapacityFailures = 10

func dropOldCapacityFailures(attempts []model.Attempt) []model.Attempt {
	run := 0
	for i := len(attempts) - 1; i >= 0 && unusedAttempt(attempts[i].StatusReason); i-- {
		run++
	}
	if run <= keptCapacityFailures {
		return attempts
	}
	drop := run - keptCapacityFailures
	start := len(attempts) - run
	return append(attempts[:start:start], attempts[start+drop:]...)
}

// attemptReason is the statusReason of an attempt that did not complete,
// safe to print: SageMaker's failure reason may quote a training process's
// output, escape sequences included.
func (e *Engine) attemptReason(j *model.ServiceJob, tj events.TrainingJob) string {
	return safetext.Clean(e.rawAttemptReason(j, tj))
}

func (e *Engine) rawAttemptReason(j *model.ServiceJob, tj events.TrainingJob) string {
	if j.TerminateReason != "" {
		return j.TerminateReason
	}
	if j.StopReason != "" {
		return j.StopReason
	}
	what := tj.FailureReason
	if strings.HasPrefix(what, launchFailed) {
		return what
	}
	if what == "" {
		what = tj.SecondaryStatus
	}
	if what == "" {
		what = tj.TrainingJobStatus
	}
	return "Received status from SageMaker: " + what
}

func (e *Engine) endAttempt(j *model.ServiceJob, a *model.Attempt, tj events.TrainingJob, now int64, reason string) {
	if a.StartedAt > 0 {
		j.StartedAt = a.StartedAt
	}
	a.StoppedAt = now
	if end := int64(tj.TrainingEndTime); end > 0 {
		a.StoppedAt = end
	}
	a.StatusReason = reason
}

// recordUsage adds the instance-seconds a job of a fair-share queue held to
// its share's decayed usage.
func (e *Engine) recordUsage(ctx context.Context, j *model.ServiceJob, from, to int64) {
	if j.ShareIdentifier == "" || from <= 0 || to <= from {
		return
	}
	q, err := e.cfg.Store.GetQueue(ctx, queueName(j.JobQueue))
	if err != nil || !q.FairShare() {
		return
	}
	var fp *model.FairsharePolicy
	if p, err := e.cfg.Store.GetPolicy(ctx, queueName(q.SchedulingPolicyArn)); err == nil {
		fp = p.FairsharePolicy
	}
	if _, err := e.cfg.Store.AddUsage(ctx, j.JobQueue, j.ShareIdentifier, j.Instances, from, to, fp.DecaySeconds()); err != nil {
		e.cfg.Logger.Warn("recording share usage", "job", j.JobID, "share", j.ShareIdentifier, "err", err)
	}
}

func queueName(arn string) string {
	_, name, _ := model.ParseARN(arn)
	return name
}
