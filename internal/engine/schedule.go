package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/store"
)

// PassResult says what one scheduling pass did.
type PassResult struct {
	// Busy means another scheduler held the lease and this pass did nothing.
	Busy       bool
	Promoted   int // SUBMITTED -> RUNNABLE
	Admitted   int // RUNNABLE -> SCHEDULED
	Launched   int // CreateTrainingJob accepted
	Requeued   int // back to RUNNABLE after a launch or an attempt failed
	Failed     int // jobs that ended FAILED in the pass
	Terminated int // ended by job state time limit actions
	Reasons    int // statusReason changes
	Stops      int // StopTrainingJob calls (terminations, timeouts)
	Reconciled int // in-flight jobs checked with SageMaker
	Preempted  int // jobs chosen as preemption victims and being stopped
	Heads      int // RUNNABLE jobs read for the snapshot
	Duration   time.Duration
}

var activeStatuses = []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}

// Schedule runs one scheduling pass: it takes the scheduler lease, handles
// in-flight jobs (terminations, timeouts, overdue state), moves SUBMITTED
// jobs to RUNNABLE, plans with sched.Plan over the heads of every line, and
// applies the plan with writes fenced by the lease before launching the
// training jobs.
func (e *Engine) Schedule(ctx context.Context) (PassResult, error) {
	return e.schedule(ctx, false)
}

// ScheduleAndReconcileAll is Schedule that asks SageMaker about every
// in-flight job, not only overdue ones: the first pass after a start.
func (e *Engine) ScheduleAndReconcileAll(ctx context.Context) (PassResult, error) {
	return e.schedule(ctx, true)
}

func (e *Engine) schedule(ctx context.Context, reconcileAll bool) (res PassResult, err error) {
	defer func() { e.observePass(res, err) }()
	start := e.cfg.Now()
	lease, err := e.acquire(ctx)
	if errors.Is(err, store.ErrLeaseHeld) {
		res.Busy = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("acquiring the scheduler lease: %w", err)
	}
	err = e.pass(ctx, &lease, reconcileAll, &res)
	if errors.Is(err, store.ErrLeaseLost) {
		e.forgetLease()
	}
	res.Duration = e.cfg.Now().Sub(start)
	return res, err
}

// world is the configuration a pass reads.
type world struct {
	envs     map[string]*model.ServiceEnvironment // by ARN
	queues   map[string]*model.JobQueue           // by ARN
	policies map[string]*model.SchedulingPolicy   // by ARN
	plans    map[string]int                       // index in snap.Plans by plan ARN
	// describedAt is when the oldest copy of the plans was described.
	describedAt int64
	snap        *sched.Snapshot
}

func (e *Engine) readWorld(ctx context.Context) (*world, error) {
	w := &world{envs: map[string]*model.ServiceEnvironment{}, queues: map[string]*model.JobQueue{}, policies: map[string]*model.SchedulingPolicy{}, snap: &sched.Snapshot{}}
	envs, err := e.cfg.Store.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range envs {
		w.envs[x.Arn] = x
		w.snap.Environments = append(w.snap.Environments, *x)
	}
	queues, err := e.cfg.Store.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range queues {
		w.queues[x.Arn] = x
		w.snap.Queues = append(w.snap.Queues, *x)
		if x.QuotaShares() {
			shares, err := e.cfg.Store.ListQuotaShares(ctx, x.Name)
			if err != nil {
				return nil, err
			}
			for _, s := range shares {
				w.snap.QuotaShares = append(w.snap.QuotaShares, *s)
			}
		}
	}
	policies, err := e.cfg.Store.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range policies {
		w.policies[x.Arn] = x
		w.snap.Policies = append(w.snap.Policies, *x)
	}
	return w, nil
}

// decayOf returns the decay time constant of a queue's fair-share policy.
func (w *world) decayOf(queue string) (tau float64, fair bool) {
	q := w.queues[queue]
	if q == nil || !q.FairShare() {
		return 0, false
	}
	var fp *model.FairsharePolicy
	if p := w.policies[q.SchedulingPolicyArn]; p != nil {
		fp = p.FairsharePolicy
	}
	return fp.DecaySeconds(), true
}

func (e *Engine) pass(ctx context.Context, lease *store.Lease, reconcileAll bool, res *PassResult) error {
	w, err := e.readWorld(ctx)
	if err != nil {
		return err
	}
	e.readPlans(ctx, w)
	active, err := e.listAll(ctx, store.JobQuery{Statuses: activeStatuses})
	if err != nil {
		return err
	}
	if changed, err := e.maintain(ctx, lease, w, active, reconcileAll, res); err != nil {
		return err
	} else if changed {
		if active, err = e.listAll(ctx, store.JobQuery{Statuses: activeStatuses}); err != nil {
			return err
		}
	}
	if err := e.promote(ctx, lease, res); err != nil {
		return err
	}

	for _, j := range active {
		w.snap.Active = append(w.snap.Active, sched.AllocationOf(j))
	}
	for arn, q := range w.queues {
		if q.FairShare() {
			usage, err := e.cfg.Store.ListUsage(ctx, arn)
			if err != nil {
				return err
			}
			w.snap.Usage = append(w.snap.Usage, usage...)
		}
	}
	jobs, d, err := e.plan(ctx, w, res)
	if err != nil {
		return err
	}
	admitted, err := e.apply(ctx, lease, w, jobs, d, res)
	if err != nil {
		return err
	}
	if err := e.preempt(ctx, lease, active, d.Preempt, res); err != nil {
		return err
	}
	e.launchAll(ctx, w, admitted, res)
	held := w.snap.Active
	for _, j := range admitted {
		held = append(held, sched.AllocationOf(j))
	}
	e.observePlans(w, held)
	return nil
}

// plan reads the heads of every line and runs sched.Plan, reading deeper
// into the lines Plan ran off the end of until it has what it needs. A pass
// so reads O(admitted + lines) jobs whatever the backlog.
func (e *Engine) plan(ctx context.Context, w *world, res *PassResult) (map[string]*model.ServiceJob, sched.Decisions, error) {
	type lineKey = sched.ShareKey
	var lines []lineKey
	for arn := range w.queues {
		ls, err := e.cfg.Store.Lines(ctx, arn)
		if err != nil {
			return nil, sched.Decisions{}, err
		}
		for _, l := range ls {
			lines = append(lines, lineKey{Queue: l.Queue, Share: l.Share})
		}
	}
	// Start with about the share of its queue's free capacity each line
	// could take: a line whose queue has no free capacity needs only its
	// head (a pass over a backlog that cannot run reads two jobs).
	inUse := map[string]int64{}
	for _, a := range w.snap.Active {
		inUse[a.Environment] += a.Instances
	}
	linesOf := map[string]int64{}
	for _, l := range lines {
		linesOf[l.Queue]++
	}
	depth := map[lineKey]int{}
	for _, l := range lines {
		var free int64
		for _, arn := range w.queues[l.Queue].Environments() {
			if env := w.envs[arn]; env != nil && env.Enabled() {
				free += max(env.MaxInstances()-inUse[arn], 0)
			}
		}
		depth[l] = int(min(max(free/linesOf[l.Queue]+2, 2), 100))
	}

	jobs := map[string]*model.ServiceJob{}
	loaded := map[lineKey][]sched.Candidate{}
	truncated := map[lineKey]bool{}
	load := func(l lineKey) error {
		heads, more, err := e.cfg.Store.Heads(ctx, l.Queue, l.Share, depth[l])
		if err != nil {
			return err
		}
		res.Heads += len(heads)
		cands := make([]sched.Candidate, 0, len(heads))
		for _, j := range heads {
			jobs[j.JobID] = j
			cands = append(cands, sched.CandidateOf(j))
		}
		loaded[l], truncated[l] = cands, more
		return nil
	}
	for _, l := range lines {
		if err := load(l); err != nil {
			return nil, sched.Decisions{}, err
		}
	}
	e.refreshPlansAfterCapacityFailures(ctx, w, jobs)
	for {
		w.snap.Runnable, w.snap.Truncated = w.snap.Runnable[:0], w.snap.Truncated[:0]
		for _, l := range lines {
			w.snap.Runnable = append(w.snap.Runnable, loaded[l]...)
			if truncated[l] {
				w.snap.Truncated = append(w.snap.Truncated, l)
			}
		}
		d := sched.Plan(w.snap, e.nowMs())
		if len(d.NeedMore) == 0 {
			return jobs, d, nil
		}
		for _, l := range d.NeedMore {
			depth[l] *= 4
			if err := load(l); err != nil {
				return nil, sched.Decisions{}, err
			}
		}
	}
}

// promote moves SUBMITTED jobs to RUNNABLE; the first placement uses the
// first attempt of the retry strategy.
func (e *Engine) promote(ctx context.Context, lease *store.Lease, res *PassResult) error {
	submitted, err := e.listAll(ctx, store.JobQuery{Statuses: []model.JobStatus{model.StatusSubmitted}})
	if err != nil {
		return err
	}
	now := e.nowMs()
	var mu sync.Mutex
	err = e.each(ctx, submitted, func(j *model.ServiceJob) error {
		if err := j.Transition(model.StatusRunnable, now, ""); err != nil {
			return nil
		}
		j.Placements = 1
		stored, err := e.cfg.Store.UpdateJob(ctx, j, lease)
		if errors.Is(err, store.ErrLeaseLost) || err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		}
		if err == nil {
			mu.Lock()
			res.Promoted++
			mu.Unlock()
			e.publish(ctx, stored)
			e.observeTransition(model.StatusSubmitted, stored)
		}
		return nil
	})
	return err
}

// apply commits the plan: reasons, terminations and admissions, each a
// conditional write fenced by the lease. It returns the admitted jobs as
// stored, in the plan's order.
func (e *Engine) apply(ctx context.Context, lease *store.Lease, w *world, jobs map[string]*model.ServiceJob, d sched.Decisions, res *PassResult) ([]*model.ServiceJob, error) {
	now := e.nowMs()
	var mu sync.Mutex
	count := func(n *int) {
		mu.Lock()
		*n++
		mu.Unlock()
	}
	write := func(j *model.ServiceJob) (*model.ServiceJob, error) {
		stored, err := e.cfg.Store.UpdateJob(ctx, j, lease)
		if errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrLeaseLost) {
			return nil, nil // changed under us: the next pass sees it
		}
		return stored, err
	}

	type change struct {
		job   *model.ServiceJob
		apply func(j *model.ServiceJob) error
		n     *int
	}
	var changes []change
	for _, r := range d.Reasons {
		r := r
		changes = append(changes, change{jobs[r.JobID], func(j *model.ServiceJob) error {
			j.SetReason(r.Reason, now)
			j.ReservedAt, j.UpdatedAt = r.ReservedAt, now
			return nil
		}, &res.Reasons})
	}
	for _, t := range d.Terminate {
		t := t
		changes = append(changes, change{jobs[t.JobID], func(j *model.ServiceJob) error {
			j.IsTerminated = true
			return j.Transition(model.StatusFailed, now, t.Reason)
		}, &res.Terminated})
	}
	admitted := make([]*model.ServiceJob, len(d.Admit))
	index := map[string]int{}
	for i, a := range d.Admit {
		a := a
		index[a.JobID] = i
		changes = append(changes, change{jobs[a.JobID], func(j *model.ServiceJob) error {
			if err := j.Transition(model.StatusScheduled, now, ""); err != nil {
				return err
			}
			j.ServiceEnvironment = a.Environment
			j.CheckedAt = now
			j.Launches++
			j.Attempts = append(j.Attempts, model.Attempt{
				TrainingJobName: e.TrainingJobName(j.JobID, int(j.Launches)), ServiceEnvironment: a.Environment,
				PlanWindowEnd: w.planWindowEnd(a.Environment, now),
			})
			return nil
		}, &res.Admitted})
	}

	err := e.eachIndex(ctx, len(changes), func(i int) error {
		c := changes[i]
		if c.job == nil {
			return nil
		}
		j := *c.job
		j.Attempts = append([]model.Attempt(nil), c.job.Attempts...)
		if err := c.apply(&j); err != nil {
			return nil // the job moved on since it was read
		}
		stored, err := write(&j)
		if err != nil || stored == nil {
			return err
		}
		count(c.n)
		if stored.Status == model.StatusScheduled {
			mu.Lock()
			admitted[index[stored.JobID]] = stored
			mu.Unlock()
		}
		if stored.Status != c.job.Status {
			e.publish(ctx, stored)
		}
		e.observeTransition(c.job.Status, stored)
		if stored.Status == model.StatusFailed {
			count(&res.Failed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := admitted[:0]
	for _, j := range admitted {
		if j != nil {
			out = append(out, j)
		}
	}
	return out, nil
}

// listAll reads every page of a query.
func (e *Engine) listAll(ctx context.Context, q store.JobQuery) ([]*model.ServiceJob, error) {
	return store.ListAll(ctx, e.cfg.Store, q)
}

// each runs fn on every job with bounded concurrency; concurrent writes let
// the store group-commit them. The first error stops the rest.
func (e *Engine) each(ctx context.Context, jobs []*model.ServiceJob, fn func(j *model.ServiceJob) error) error {
	return e.eachIndex(ctx, len(jobs), func(i int) error { return fn(jobs[i]) })
}

func (e *Engine) eachIndex(ctx context.Context, n int, fn func(i int) error) error {
	workers := e.cfg.WriteConcurrency
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
