package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Tags sagequeue puts on every training job it launches.
const (
	TagJobID   = "sagequeue:jobId"
	TagQueue   = "sagequeue:jobQueue"
	TagAttempt = "sagequeue:attempt"
	// TagSubmittedBy names who submitted the job (its submittedBy), when
	// known: the local endpoint runs the job as that user's account.
	TagSubmittedBy = "sagequeue:submittedBy"
)

// launcher calls CreateTrainingJob for the jobs a pass admits, a batch of
// admissions at a time (launch), and records the launched training jobs'
// ARNs in one batch write per batch.
//
// The jobs of a FIFO queue launch one after another in queue order: when
// SageMaker refuses one for capacity or a quota, the ones behind it (in
// this batch and in the pass's later ones) are put back in line
// unlaunched, so a shortage cannot let a later job overtake an earlier
// one. Fair-share queues, and different queues, launch concurrently. When
// SageMaker throttles a launch, or the pass's time for launching is up
// (stop), no further job is launched in this pass: the rest go back to
// their lines unlaunched, as if they had not been admitted, for the next
// pass.
type launcher struct {
	e    *Engine
	w    *world
	stop time.Time
	res  *PassResult

	mu       sync.Mutex
	short    map[string]bool // FIFO queues of which SageMaker refused a job
	throttle atomic.Bool
}

func (e *Engine) newLauncher(w *world, stop time.Time, res *PassResult) *launcher {
	return &launcher{e: e, w: w, stop: stop, res: res, short: map[string]bool{}}
}

// done reports whether the pass launches nothing more.
func (l *launcher) done() bool { return l.throttle.Load() || over(l.stop) }

// launch launches a batch of admitted jobs, in the order admitted.
func (l *launcher) launch(ctx context.Context, admitted []*model.ServiceJob) {
	e, res := l.e, l.res
	var groups [][]*model.ServiceJob
	fifo := map[string]int{}
	for _, j := range admitted {
		if q := l.w.queues[j.JobQueue]; q != nil && !q.FairShare() {
			if i, ok := fifo[j.JobQueue]; ok {
				groups[i] = append(groups[i], j)
				continue
			}
			fifo[j.JobQueue] = len(groups)
		}
		groups = append(groups, []*model.ServiceJob{j})
	}
	var (
		back    []*model.ServiceJob // to put back unlaunched
		records []launchRecord
	)
	count := func(out launchOutcome) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch out {
		case launched:
			res.Launched++
		case requeued, refused:
			res.Requeued++
		case failed:
			res.Failed++
		}
	}
	isShort := func(j *model.ServiceJob) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.short[j.JobQueue]
	}
	sem := make(chan struct{}, e.cfg.LaunchConcurrency)
	var wg sync.WaitGroup
	for _, group := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range group {
				if isShort(j) || l.done() {
					l.mu.Lock()
					back = append(back, j)
					l.mu.Unlock()
					continue
				}
				sem <- struct{}{}
				out, arn := e.launch(ctx, l.w.envs[j.ServiceEnvironment], j)
				<-sem
				l.mu.Lock()
				switch out {
				case launched:
					records = append(records, launchRecord{j, arn})
				case throttled:
					l.throttle.Store(true)
					back = append(back, j)
				case refused:
					if q := l.w.queues[j.JobQueue]; q != nil && !q.FairShare() {
						l.short[j.JobQueue] = true
					}
				}
				l.mu.Unlock()
				if out != throttled {
					count(out)
				}
			}
		}()
	}
	wg.Wait()
	// Putting back first: a job admitted but not launched holds capacity
	// until it goes back (or reconcile launches it); a launch not recorded
	// is recorded by its first event.
	res.Requeued += e.putBackAll(ctx, back)
	e.recordLaunches(ctx, records)
	if l.throttle.Load() && len(back) > 0 {
		e.cfg.Logger.Warn("SageMaker throttled CreateTrainingJob: the jobs not yet launched go back to their lines for the next pass", "putBack", len(back))
	}
}

// putBackAll returns admitted jobs that were never launched to RUNNABLE, as
// if they had not been admitted (no attempt used, no backoff): one batch
// write, and a job that changed meanwhile one at a time. It returns how
// many went back.
func (e *Engine) putBackAll(ctx context.Context, jobs []*model.ServiceJob) int {
	if len(jobs) == 0 {
		return 0
	}
	now := e.nowMs()
	var batch []*model.ServiceJob
	for _, j := range jobs {
		cur := *j
		cur.Attempts = slices.Clone(j.Attempts)
		if cur.Transition(model.StatusRunnable, now, "") != nil || len(cur.Attempts) == 0 || cur.LatestAttempt().TrainingJobArn != "" {
			continue
		}
		cur.Attempts = cur.Attempts[:len(cur.Attempts)-1]
		batch = append(batch, &cur)
	}
	stored, errs := e.cfg.Store.UpdateJobs(ctx, batch, nil)
	n := 0
	for i, err := range errs {
		switch {
		case err == nil:
			n++
			e.publish(ctx, stored[i])
			e.observeTransition(model.StatusScheduled, stored[i])
		case errors.Is(err, store.ErrConflict):
			if e.putBack(ctx, batch[i]) == deferred {
				n++
			}
		default:
			e.cfg.Logger.Warn("putting back a job that was not launched", "job", batch[i].JobID, "err", err)
		}
	}
	return n
}

// putBack returns an admitted job that was never launched to RUNNABLE, as
// if it had not been admitted: no attempt used, no backoff.
func (e *Engine) putBack(ctx context.Context, j *model.ServiceJob) launchOutcome {
	name := j.LatestAttempt().TrainingJobName
	for range maxRetries {
		cur, err := e.cfg.Store.GetJob(ctx, j.JobID)
		if err != nil || !current(cur, name) || cur.LatestAttempt().TrainingJobArn != "" {
			return unknown
		}
		now := e.nowMs()
		if err := cur.Transition(model.StatusRunnable, now, ""); err != nil {
			return unknown
		}
		cur.Attempts = cur.Attempts[:len(cur.Attempts)-1]
		stored, err := e.cfg.Store.UpdateJob(ctx, cur, nil)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			e.cfg.Logger.Warn("putting back a job that was not launched", "job", j.JobID, "err", err)
			return unknown
		}
		e.publish(ctx, stored)
		e.observeTransition(model.StatusScheduled, stored)
		return deferred
	}
	return unknown
}

type launchOutcome int

const (
	launched  launchOutcome = iota
	refused                 // no capacity, or a quota: back to RUNNABLE after a backoff
	requeued                // a failed attempt that will be retried
	deferred                // put back unlaunched
	throttled               // SageMaker throttled the call: to be put back unlaunched
	failed                  // the job ended
	unknown                 // the call's fate is unknown; reconcile will find out
)

// launch sends the current attempt of a SCHEDULED job to SageMaker and
// returns the outcome, with the training job's ARN when it launched. What
// SageMaker refused is recorded; a launch is not (the caller records it).
func (e *Engine) launch(ctx context.Context, env *model.ServiceEnvironment, j *model.ServiceJob) (launchOutcome, string) {
	if j.ServiceRequestPayload == "" {
		// Listed and updated jobs may come without their payload.
		full, err := e.cfg.Store.GetJob(ctx, j.JobID)
		if err != nil {
			e.cfg.Logger.Warn("reading a job to launch it", "job", j.JobID, "err", err)
			return unknown, ""
		}
		j.ServiceRequestPayload = full.ServiceRequestPayload
	}
	a := j.LatestAttempt()
	in, err := e.trainingJobInput(j, a.TrainingJobName, env, e.planInstanceType(ctx, env))
	var arn string
	if err == nil {
		var out *sagemaker.CreateTrainingJobOutput
		out, err = e.cfg.SageMaker.CreateTrainingJob(ctx, in)
		if err == nil {
			arn = aws.ToString(out.TrainingJobArn)
		}
	}
	var ae smithy.APIError
	switch {
	case err == nil:
		return launched, arn
	case errors.As(err, &ae) && ae.ErrorCode() == "ResourceInUse":
		// A launch retried after a crash: the job is there already.
		d, derr := e.cfg.SageMaker.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: &a.TrainingJobName})
		if derr != nil {
			e.cfg.Logger.Warn("describing a training job that already exists", "trainingJob", a.TrainingJobName, "err", derr)
			return unknown, ""
		}
		return launched, aws.ToString(d.TrainingJobArn)
	}
	switch class := classifyLaunch(err); class {
	case classThrottled:
		return throttled, ""
	case classCapacity, classResourceLimit:
		reason := errorText(err)
		if class == classCapacity && !strings.HasPrefix(reason, "CapacityError") {
			reason = "CapacityError: " + reason
		}
		// What the plans can give may have changed: read them again.
		e.cfg.Plans.Invalidate()
		if e.endLaunch(ctx, j, events.TrainingJob{
			TrainingJobName: a.TrainingJobName, TrainingJobStatus: events.TrainingFailed, FailureReason: reason,
		}) == unknown {
			return unknown, ""
		}
		return refused, ""
	case classInfrastructure:
		var ae smithy.APIError
		errors.As(err, &ae)
		if e.endLaunch(ctx, j, events.TrainingJob{
			TrainingJobName: a.TrainingJobName, TrainingJobStatus: events.TrainingFailed,
			FailureReason: infrastructureError + ": " + oneLine(ae.ErrorMessage()),
		}) == unknown {
			return unknown, ""
		}
		return refused, ""
	case classRefused:
		return e.endLaunch(ctx, j, events.TrainingJob{
			TrainingJobName: a.TrainingJobName, TrainingJobStatus: events.TrainingFailed,
			FailureReason: launchFailed + errorText(err),
		}), ""
	}
	// A timeout or a server error: the job may or may not exist. Reconcile
	// describes it soon and launches it again if it does not.
	e.cfg.Logger.Warn("launching a training job", "trainingJob", a.TrainingJobName, "err", err)
	e.markUnchecked(ctx, j.JobID, a.TrainingJobName)
	return unknown, ""
}

// endLaunch ends an attempt whose launch was refused, as if SageMaker had
// reported tj for it.
func (e *Engine) endLaunch(ctx context.Context, j *model.ServiceJob, tj events.TrainingJob) launchOutcome {
	out, err := e.applyTrainingJob(ctx, tj)
	if err != nil {
		e.cfg.Logger.Warn("recording a refused launch", "job", j.JobID, "err", err)
		return unknown
	}
	if out.To == model.StatusFailed {
		return failed
	}
	return requeued
}

// recordLaunch stores the ARN of the attempt's training job, unless the job
// has moved to another attempt meanwhile. SageMaker has just answered for
// it, so it counts as checked (which ends an uncheckedMark).
func (e *Engine) recordLaunch(ctx context.Context, jobID, trainingJob, arn string) {
	now := e.nowMs()
	e.updateAttempt(ctx, jobID, trainingJob, func(j *model.ServiceJob, a *model.Attempt) bool {
		if a.TrainingJobArn == arn && j.CheckedAt != uncheckedMark {
			return false
		}
		a.TrainingJobArn, j.CheckedAt = arn, now
		return true
	})
}

// launchRecord is a launched job, as admitted, and its training job's ARN.
type launchRecord struct {
	job *model.ServiceJob
	arn string
}

// recordLaunches stores the ARNs of launched training jobs: one batch write
// of the jobs as admitted, and one at a time (recordLaunch) those that
// changed since (a state change event was quicker).
func (e *Engine) recordLaunches(ctx context.Context, records []launchRecord) {
	if len(records) == 0 {
		return
	}
	now := e.nowMs()
	batch := make([]*model.ServiceJob, len(records))
	for i, r := range records {
		j := *r.job
		j.Attempts = slices.Clone(r.job.Attempts)
		j.LatestAttempt().TrainingJobArn = r.arn
		j.UpdatedAt, j.CheckedAt = now, now
		j.ServiceRequestPayload = ""
		batch[i] = &j
	}
	_, errs := e.cfg.Store.UpdateJobs(ctx, batch, nil)
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, store.ErrConflict):
			r := records[i]
			e.recordLaunch(ctx, r.job.JobID, r.job.LatestAttempt().TrainingJobName, r.arn)
		default:
			e.cfg.Logger.Warn("recording a launched training job", "job", records[i].job.JobID, "err", err)
		}
	}
}

// uncheckedMark in CheckedAt makes the next pass reconcile a job whatever
// its UpdatedAt says: the write that sets it moves UpdatedAt to now, which
// alone would put the job off for the reconcile period while the capacity
// it holds runs nothing.
const uncheckedMark = 1

// markUnchecked makes reconcile look at a job at the next pass.
func (e *Engine) markUnchecked(ctx context.Context, jobID, trainingJob string) {
	e.updateAttempt(ctx, jobID, trainingJob, func(j *model.ServiceJob, _ *model.Attempt) bool {
		j.CheckedAt = uncheckedMark
		return true
	})
}

// updateAttempt changes the current attempt (the one whose training job is
// trainingJob) of a job that still holds capacity, retrying on conflicts.
func (e *Engine) updateAttempt(ctx context.Context, jobID, trainingJob string, change func(j *model.ServiceJob, a *model.Attempt) bool) {
	for range 8 {
		j, err := e.cfg.Store.GetJob(ctx, jobID)
		if err != nil || !current(j, trainingJob) {
			return
		}
		if !change(j, j.LatestAttempt()) {
			return
		}
		j.UpdatedAt = e.nowMs()
		if _, err = e.cfg.Store.UpdateJob(ctx, j, nil); !errors.Is(err, store.ErrConflict) {
			if err != nil {
				e.cfg.Logger.Warn("updating a job's attempt", "job", jobID, "err", err)
			}
			return
		}
	}
}

// trainingJobInput is the job's payload as a CreateTrainingJob request with
// the attempt's name, sagequeue's tags, and the environment's training plan
// (and the plan's instance type, planType) when the payload names none.
func (e *Engine) trainingJobInput(j *model.ServiceJob, name string, env *model.ServiceEnvironment, planType string) (*sagemaker.CreateTrainingJobInput, error) {
	var in sagemaker.CreateTrainingJobInput
	if err := json.Unmarshal([]byte(j.ServiceRequestPayload), &in); err != nil {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "serviceRequestPayload is not a CreateTrainingJob request: " + err.Error(), Fault: smithy.FaultClient}
	}
	in.TrainingJobName = aws.String(name)
	tags := in.Tags[:0]
	for _, t := range in.Tags {
		if !strings.HasPrefix(aws.ToString(t.Key), "sagequeue:") {
			tags = append(tags, t)
		}
	}
	_, queueName, _ := model.ParseARN(j.JobQueue)
	in.Tags = append(tags,
		smtypes.Tag{Key: aws.String(TagJobID), Value: aws.String(j.JobID)},
		smtypes.Tag{Key: aws.String(TagQueue), Value: aws.String(queueName)},
		smtypes.Tag{Key: aws.String(TagAttempt), Value: aws.String(strconv.Itoa(int(j.Launches)))},
	)
	if j.SubmittedBy != "" {
		in.Tags = append(in.Tags, smtypes.Tag{Key: aws.String(TagSubmittedBy), Value: aws.String(j.SubmittedBy)})
	}
	if env != nil && env.TrainingPlanArn != "" {
		if in.ResourceConfig == nil {
			in.ResourceConfig = &smtypes.ResourceConfig{InstanceCount: aws.Int32(int32(j.Instances))}
		}
		if aws.ToString(in.ResourceConfig.TrainingPlanArn) == "" {
			in.ResourceConfig.TrainingPlanArn = aws.String(env.TrainingPlanArn)
		}
		if in.ResourceConfig.InstanceType == "" && len(in.ResourceConfig.InstanceGroups) == 0 && planType != "" {
			in.ResourceConfig.InstanceType = smtypes.TrainingInstanceType(planType)
		}
	}
	e.cfg.Training.apply(&in)
	if e.cfg.LocalDefaults {
		fillLocalDefaults(&in, j)
	}
	return &in, nil
}

// launchFailed starts the reason of an attempt whose CreateTrainingJob was
// refused: SageMaker never ran it, so it is not "received from SageMaker".
const launchFailed = "CreateTrainingJob failed: "

// errorText renders an SDK error on one line, as a statusReason must read.
func errorText(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return oneLine(fmt.Sprintf("%s: %s", ae.ErrorCode(), ae.ErrorMessage()))
	}
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		// "1 validation error(s) found.\n- missing required field, X.\n"
		msg := strings.TrimPrefix(oneLine(invalid.Error()), "1 validation error(s) found. ")
		return "ValidationException: " + strings.TrimPrefix(msg, "- ")
	}
	return oneLine(err.Error())
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// apply fills the members the payload leaves out.
func (d TrainingDefaults) apply(in *sagemaker.CreateTrainingJobInput) {
	if in.RoleArn == nil && d.RoleArn != "" {
		in.RoleArn = aws.String(d.RoleArn)
	}
	if in.VpcConfig == nil && len(d.Subnets) > 0 {
		in.VpcConfig = &smtypes.VpcConfig{Subnets: d.Subnets, SecurityGroupIds: d.SecurityGroupIDs}
	}
	if d.KMSKeyID != "" {
		if in.OutputDataConfig != nil && in.OutputDataConfig.KmsKeyId == nil {
			in.OutputDataConfig.KmsKeyId = aws.String(d.KMSKeyID)
		}
		// SageMaker refuses a volume key for instance types whose volumes
		// are local NVMe disks, which the instance encrypts itself.
		if rc := in.ResourceConfig; rc != nil && rc.VolumeKmsKeyId == nil && !instanceStorage(rc) {
			rc.VolumeKmsKeyId = aws.String(d.KMSKeyID)
		}
	}
}

// instanceStorage reports whether any instance of a resource config has
// instance storage (model.HasInstanceStorage): its one VolumeKmsKeyId
// applies to every instance group.
func instanceStorage(rc *smtypes.ResourceConfig) bool {
	if model.HasInstanceStorage(string(rc.InstanceType)) {
		return true
	}
	for _, g := range rc.InstanceGroups {
		if model.HasInstanceStorage(string(g.InstanceType)) {
			return true
		}
	}
	return false
}

// Placeholders for members SageMaker requires but the local endpoint has no
// use for.
const (
	LocalRoleArn    = "arn:aws:iam::000000000000:role/sagequeue-local"
	LocalOutputPath = "s3://sagequeue-local/output"
)

// fillLocalDefaults completes a minimal payload for the local endpoint: a job
// that names only its entry point still runs on a workstation.
func fillLocalDefaults(in *sagemaker.CreateTrainingJobInput, j *model.ServiceJob) {
	if in.RoleArn == nil {
		in.RoleArn = aws.String(LocalRoleArn)
	}
	if in.OutputDataConfig == nil {
		in.OutputDataConfig = &smtypes.OutputDataConfig{}
	}
	if in.OutputDataConfig.S3OutputPath == nil {
		in.OutputDataConfig.S3OutputPath = aws.String(LocalOutputPath)
	}
	if in.AlgorithmSpecification == nil {
		in.AlgorithmSpecification = &smtypes.AlgorithmSpecification{}
	}
	if in.AlgorithmSpecification.TrainingInputMode == "" {
		in.AlgorithmSpecification.TrainingInputMode = smtypes.TrainingInputModeFile
	}
	if in.ResourceConfig == nil {
		in.ResourceConfig = &smtypes.ResourceConfig{InstanceType: smtypes.TrainingInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(int32(j.Instances))}
	}
	if in.ResourceConfig.VolumeSizeInGB == nil {
		in.ResourceConfig.VolumeSizeInGB = aws.Int32(30)
	}
	if in.StoppingCondition == nil {
		in.StoppingCondition = &smtypes.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(86400)}
	}
}
