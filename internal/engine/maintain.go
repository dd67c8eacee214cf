package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// ReasonTimeout is the statusReason of an attempt stopped for running longer
// than timeoutConfig.attemptDurationSeconds, as in AWS Batch.
const ReasonTimeout = "Job attempt duration exceeded timeout"

// maintain looks after jobs in flight: it stops the training jobs of
// terminated jobs and of attempts past their timeout, and asks SageMaker
// about jobs not heard from for ReconcileAfter (all of them with all),
// until stop (the pass's share of time for it; the rest waits for the next
// pass). It reports whether any job gave capacity back.
func (e *Engine) maintain(ctx context.Context, lease *store.Lease, w *world, active []*model.ServiceJob, all bool, stop time.Time, res *PassResult) (bool, error) {
	now := e.nowMs()
	overdue := e.cfg.ReconcileAfter.Milliseconds()
	var mu sync.Mutex
	released := false
	err := e.each(ctx, active, func(j *model.ServiceJob) error {
		if over(stop) {
			mu.Lock()
			res.More = true
			mu.Unlock()
			return nil
		}
		var out Outcome
		var err error
		switch {
		case j.TerminateReason != "" && j.StopRequestedAt == 0:
			out, err = e.stop(ctx, j, j.TerminateReason)
			mu.Lock()
			res.Stops++
			mu.Unlock()
		case j.PreemptReason != "" && j.StopRequestedAt == 0:
			// Chosen as a preemption victim, but the stop was not sent
			// (a crash, or SageMaker refused): send it now.
			out, err = e.stop(ctx, j, j.PreemptReason)
			mu.Lock()
			res.Stops++
			mu.Unlock()
		case j.StopRequestedAt == 0 && timedOut(j, now):
			out, err = e.stop(ctx, j, ReasonTimeout)
			mu.Lock()
			res.Stops++
			mu.Unlock()
		case all || j.CheckedAt == uncheckedMark || now-max(j.CheckedAt, j.UpdatedAt) >= overdue || unconfirmed(j, now):
			out, err = e.reconcile(ctx, w, j)
			mu.Lock()
			res.Reconciled++
			mu.Unlock()
		}
		if err != nil {
			e.cfg.Logger.Warn("looking after an in-flight job", "job", j.JobID, "err", err)
			return nil
		}
		mu.Lock()
		released = released || out.Released
		if out.To == model.StatusFailed && out.From != out.To {
			res.Failed++
		}
		mu.Unlock()
		return nil
	})
	return released, err
}

// unconfirmedAfter is how long an admitted attempt may go without a
// training job ARN (no launch recorded, no event) before reconcile asks
// SageMaker about it: a pass that ran out of time, or died, between the
// admission and the launch leaves such jobs, and reconcile launches them.
const unconfirmedAfter = 30 * time.Second

func unconfirmed(j *model.ServiceJob, now int64) bool {
	a := j.LatestAttempt()
	return j.Status == model.StatusScheduled && a != nil && a.TrainingJobArn == "" &&
		now-max(j.CheckedAt, j.UpdatedAt) >= unconfirmedAfter.Milliseconds()
}

func timedOut(j *model.ServiceJob, now int64) bool {
	a := j.LatestAttempt()
	if j.TimeoutConfig == nil || j.TimeoutConfig.AttemptDurationSeconds <= 0 || a == nil || a.StartedAt == 0 {
		return false
	}
	return now-a.StartedAt >= int64(j.TimeoutConfig.AttemptDurationSeconds)*1000
}

// stop asks SageMaker to stop the current attempt's training job and records
// why; the attempt ends when SageMaker reports it stopped.
func (e *Engine) stop(ctx context.Context, j *model.ServiceJob, reason string) (Outcome, error) {
	a := j.LatestAttempt()
	_, err := e.cfg.SageMaker.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: &a.TrainingJobName})
	var ae smithy.APIError
	switch {
	case err == nil:
	case isNotFound(err):
		// Never launched (or lost): nothing to stop, the attempt ends here.
		e.setStop(ctx, j, reason)
		return e.applyTrainingJob(ctx, events.TrainingJob{
			TrainingJobName: a.TrainingJobName, TrainingJobStatus: events.TrainingStopped, SecondaryStatus: "Stopped",
		})
	case errors.As(err, &ae) && ae.ErrorCode() == "ValidationException":
		// Already finished or stopping: SageMaker's own state settles it.
		e.setStop(ctx, j, reason)
		return e.describeAndApply(ctx, j)
	default:
		return Outcome{}, err
	}
	e.setStop(ctx, j, reason)
	return Outcome{JobID: j.JobID, From: j.Status, To: j.Status}, nil
}

// setStop records that the current attempt is being stopped for reason.
func (e *Engine) setStop(ctx context.Context, j *model.ServiceJob, reason string) {
	now := e.nowMs()
	e.updateAttempt(ctx, j.JobID, j.LatestAttempt().TrainingJobName, func(cur *model.ServiceJob, _ *model.Attempt) bool {
		if cur.StopRequestedAt != 0 {
			return false
		}
		cur.StopReason, cur.StopRequestedAt = reason, now
		return true
	})
}

// reconcile asks SageMaker for the state of a job's current attempt and
// applies it; a SCHEDULED attempt SageMaker never heard of is launched (again).
func (e *Engine) reconcile(ctx context.Context, w *world, j *model.ServiceJob) (Outcome, error) {
	out, err := e.describeAndApply(ctx, j)
	if isNotFound(err) {
		a := j.LatestAttempt()
		if j.Status == model.StatusScheduled {
			switch out, arn := e.launch(ctx, w.envs[j.ServiceEnvironment], j); out {
			case launched:
				e.recordLaunch(ctx, j.JobID, a.TrainingJobName, arn)
			case throttled:
				// Still unknown to SageMaker: ask again next pass.
				e.markUnchecked(ctx, j.JobID, a.TrainingJobName)
			}
			return Outcome{JobID: j.JobID, From: j.Status, To: j.Status}, nil
		}
		// It ran once and is gone: give the job back to the queue.
		return e.applyTrainingJob(ctx, events.TrainingJob{
			TrainingJobName: a.TrainingJobName, TrainingJobStatus: events.TrainingFailed,
			FailureReason: "CapacityError: training job " + a.TrainingJobName + " no longer exists",
		})
	}
	if err != nil {
		return Outcome{}, err
	}
	if !out.Changed {
		// Heard from, nothing new: don't ask again until it is overdue.
		now := e.nowMs()
		e.updateAttempt(ctx, j.JobID, j.LatestAttempt().TrainingJobName, func(cur *model.ServiceJob, _ *model.Attempt) bool {
			cur.CheckedAt = now
			return true
		})
	}
	return out, nil
}

// describeAndApply describes the current attempt's training job and applies
// what SageMaker says as if it were an event.
func (e *Engine) describeAndApply(ctx context.Context, j *model.ServiceJob) (Outcome, error) {
	a := j.LatestAttempt()
	d, err := e.cfg.SageMaker.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: &a.TrainingJobName})
	if err != nil {
		return Outcome{}, err
	}
	return e.applyTrainingJob(ctx, trainingJobOf(d))
}

// trainingJobOf turns a DescribeTrainingJob answer into an event detail.
func trainingJobOf(d *sagemaker.DescribeTrainingJobOutput) events.TrainingJob {
	ms := func(t interface{ UnixMilli() int64 }) events.Millis { return events.Millis(t.UnixMilli()) }
	tj := events.TrainingJob{
		TrainingJobName:   aws.ToString(d.TrainingJobName),
		TrainingJobArn:    aws.ToString(d.TrainingJobArn),
		TrainingJobStatus: string(d.TrainingJobStatus),
		SecondaryStatus:   string(d.SecondaryStatus),
		FailureReason:     aws.ToString(d.FailureReason),
	}
	if d.CreationTime != nil {
		tj.CreationTime = ms(*d.CreationTime)
	}
	if d.TrainingStartTime != nil {
		tj.TrainingStartTime = ms(*d.TrainingStartTime)
	}
	if d.TrainingEndTime != nil {
		tj.TrainingEndTime = ms(*d.TrainingEndTime)
	}
	if d.LastModifiedTime != nil {
		tj.LastModifiedTime = ms(*d.LastModifiedTime)
	}
	for _, t := range d.SecondaryStatusTransitions {
		st := events.SecondaryStatusTransition{Status: string(t.Status), StatusMessage: aws.ToString(t.StatusMessage)}
		if t.StartTime != nil {
			st.StartTime = ms(*t.StartTime)
		}
		if t.EndTime != nil {
			st.EndTime = ms(*t.EndTime)
		}
		tj.SecondaryStatusTransitions = append(tj.SecondaryStatusTransitions, st)
	}
	return tj
}

// isNotFound reports an unknown training job: ResourceNotFound from the local
// endpoint, and from SageMaker itself a ValidationException saying
// "Requested resource not found".
func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.ErrorCode() == "ResourceNotFound" ||
		ae.ErrorCode() == "ValidationException" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "not found")
}
