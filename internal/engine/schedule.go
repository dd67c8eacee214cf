package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// More means the pass left work for the next one: its time ran out
	// before every SUBMITTED job was promoted, every in-flight job looked
	// after, or every admission applied, or the store throttled it.
	More     bool
	Duration time.Duration
	// Phases is the time each phase of the pass took.
	Phases Phases
}

// Phases is the time each phase of a pass took.
type Phases struct {
	Maintain, Promote, Plan, Apply, Launch time.Duration
}

var activeStatuses = []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}

// Schedule runs one scheduling pass: it takes the scheduler lease, handles
// in-flight jobs (terminations, timeouts, overdue state), moves SUBMITTED
// jobs to RUNNABLE, plans with sched.Plan over the heads of every line, and
// applies the plan with writes fenced by the lease before launching the
// training jobs. A pass whose context has a deadline keeps within it (see
// budget) and says in PassResult.More when it left work behind.
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
	// One pass at a time per engine, as per lease: a second caller finds
	// the scheduler busy, as it would find another's lease.
	if !e.passing.TryLock() {
		res.Busy = true
		return res, nil
	}
	defer e.passing.Unlock()
	start := e.cfg.Now()
	b := newBudget(ctx)
	if !b.end.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, b.end)
		defer cancel()
	}
	lease, err := e.acquire(ctx)
	if errors.Is(err, store.ErrLeaseHeld) {
		res.Busy = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("acquiring the scheduler lease: %w", err)
	}
	err = e.pass(ctx, &lease, reconcileAll, b, &res)
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

func (e *Engine) pass(ctx context.Context, lease *store.Lease, reconcileAll bool, b budget, res *PassResult) error {
	mark := time.Now()
	took := func(d *time.Duration) {
		now := time.Now()
		*d, mark = now.Sub(mark), now
	}
	w, err := e.readWorld(ctx)
	if err != nil {
		return err
	}
	e.readPlans(ctx, w)
	active, err := e.listAll(ctx, store.JobQuery{Statuses: activeStatuses})
	if err != nil {
		return err
	}
	mctx, cancel, cut := b.phase(ctx, cutMaintain)
	changed, err := e.maintain(mctx, lease, w, active, reconcileAll, b.by(shareMaintain), res)
	cancel()
	switch {
	case cut(err):
		res.More = true
	case err != nil:
		return err
	}
	if changed {
		if active, err = e.listAll(ctx, store.JobQuery{Statuses: activeStatuses}); err != nil {
			return err
		}
	}
	took(&res.Phases.Maintain)
	pctx, cancel, cut := b.phase(ctx, cutPromote)
	promoted, err := e.promote(pctx, lease, b.by(sharePromote), res)
	cancel()
	switch {
	case cut(err):
		res.More = true
	case err != nil:
		return err
	}
	took(&res.Phases.Promote)

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
	lctx, cancel, cut := b.phase(ctx, cutPlan)
	jobs, d, err := e.plan(lctx, w, active, promoted, res)
	cancel()
	switch {
	case cut(err):
		res.More = true // nothing planned: the next pass plans
		e.observePlans(w, w.snap.Active)
		return nil
	case err != nil:
		return err
	}
	took(&res.Phases.Plan)
	l := e.newLauncher(w, b.by(shareLaunch), res)
	var held []sched.Allocation // what the admitted jobs hold, for the plan metrics
	err = e.apply(ctx, lease, w, jobs, d, b.by(shareApply), res, func(admitted []*model.ServiceJob) bool {
		for _, j := range admitted {
			held = append(held, sched.AllocationOf(j))
		}
		start := time.Now()
		l.launch(ctx, admitted)
		res.Phases.Launch += time.Since(start)
		return !l.done()
	})
	took(&res.Phases.Apply)
	res.Phases.Apply -= res.Phases.Launch
	if err != nil {
		return err
	}
	if err := e.preempt(ctx, lease, active, d.Preempt, res); err != nil {
		return err
	}
	e.observePlans(w, slices.Concat(w.snap.Active, held))
	return nil
}

// plan reads the heads of every line and runs sched.Plan, reading deeper
// into the lines Plan ran off the end of until it has what it needs. A pass
// so reads O(admitted + lines) jobs whatever the backlog.
//
// The heads may lag the pass's own writes (store.JobStore.Heads): the jobs
// it has just promoted are merged in from what the promotion stored, and a
// head that is holding capacity already (active, read consistently) is
// left out, so that a lagging index neither hides new candidates nor
// offers a job admitted a moment ago.
func (e *Engine) plan(ctx context.Context, w *world, active, promoted []*model.ServiceJob, res *PassResult) (map[string]*model.ServiceJob, sched.Decisions, error) {
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
	fresh := map[lineKey][]*model.ServiceJob{}
	for _, j := range promoted {
		k := lineKey{Queue: j.JobQueue, Share: j.ShareIdentifier}
		fresh[k] = append(fresh[k], j)
	}
	holding := map[string]bool{}
	for _, j := range active {
		holding[j.JobID] = true
	}
	load := func(l lineKey) error {
		heads, more, err := e.cfg.Store.Heads(ctx, l.Queue, l.Share, depth[l])
		if err != nil {
			return err
		}
		res.Heads += len(heads)
		heads = mergeHeads(heads, more, fresh[l], holding)
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

// mergeHeads adds to the heads a line's index shows the jobs of the line
// this pass promoted (fresh), which the index may not show yet, and drops
// the heads holding capacity already. With more (the line holds jobs
// behind the last head), a fresh job that sorts after the last head is
// left out: jobs the read did not reach may come before it.
func mergeHeads(heads []*model.ServiceJob, more bool, fresh []*model.ServiceJob, holding map[string]bool) []*model.ServiceJob {
	if len(fresh) == 0 && len(holding) == 0 {
		return heads
	}
	byID := make(map[string]*model.ServiceJob, len(heads)+len(fresh))
	for _, j := range heads {
		byID[j.JobID] = j
	}
	var last string
	if more && len(heads) > 0 {
		last = store.DispatchKey(heads[len(heads)-1])
	}
	for _, j := range fresh {
		if cur, ok := byID[j.JobID]; ok {
			if j.Version > cur.Version {
				byID[j.JobID] = j
			}
			continue
		}
		if !more || store.DispatchKey(j) < last {
			byID[j.JobID] = j
		}
	}
	out := make([]*model.ServiceJob, 0, len(byID))
	for id, j := range byID {
		if !holding[id] && j.Status == model.StatusRunnable {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *model.ServiceJob) int { return strings.Compare(store.DispatchKey(a), store.DispatchKey(b)) })
	return out
}

// promoteChunk bounds how many SUBMITTED jobs a pass reads and promotes at
// a time: one batch write (store.UpdateJobs) and one publication of their
// events each. A pass with a deadline starts smaller and sizes the next
// chunk by how long the last took, so that it does not start one it cannot
// finish in time.
const (
	promoteChunk      = 100
	firstPromoteChunk = 20
)

// promote moves SUBMITTED jobs to RUNNABLE, oldest first, a chunk at a time
// until none is left or stop (the pass's share of time for it) has come,
// and returns them as stored. The first placement uses the first attempt
// of the retry strategy. What it promoted before an error is returned with
// it.
func (e *Engine) promote(ctx context.Context, lease *store.Lease, stop time.Time, res *PassResult) ([]*model.ServiceJob, error) {
	var promoted []*model.ServiceJob
	size := promoteChunk
	if !stop.IsZero() {
		size = firstPromoteChunk
	}
	for first := true; ; first = false {
		if !first && over(stop) {
			res.More = true
			return promoted, nil
		}
		began := time.Now()
		submitted, more, err := e.cfg.Store.Submitted(ctx, size)
		if err != nil {
			if errors.Is(err, store.ErrThrottled) {
				res.More = true
				return promoted, nil
			}
			return promoted, err
		}
		if len(submitted) == 0 {
			return promoted, nil
		}
		now := e.nowMs()
		batch := submitted[:0]
		for _, j := range submitted {
			if j.Transition(model.StatusRunnable, now, "") == nil {
				j.Placements = 1
				batch = append(batch, j)
			}
		}
		stored, errs := e.cfg.Store.UpdateJobs(ctx, batch, lease)
		var done []*model.ServiceJob
		var failed error
		for i, err := range errs {
			switch {
			case err == nil:
				done = append(done, stored[i])
				e.observeTransition(model.StatusSubmitted, stored[i])
			case errors.Is(err, store.ErrThrottled):
				res.More = true
			case !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrLeaseLost):
				failed = cmp.Or(failed, err)
			}
		}
		res.Promoted += len(done)
		promoted = append(promoted, done...)
		e.publish(ctx, done...)
		if failed != nil {
			return promoted, failed
		}
		if !more || len(done) == 0 {
			res.More = res.More || more
			return promoted, nil
		}
		if !stop.IsZero() {
			// As many as the time left would take twice over.
			perJob := time.Since(began) / time.Duration(len(submitted))
			size = int(min(max(time.Until(stop)/(2*max(perJob, time.Millisecond)), 1), promoteChunk))
		}
	}
}

// applyChunk is how many of a plan's decisions go into one batch write.
const applyChunk = 100

// apply commits the plan: reasons, terminations and admissions, in that
// order, each a conditional write fenced by the lease, a batch at a time
// until stop (the pass's share of time for it). It hands each batch's
// admitted jobs, as stored and in the plan's order, to launch before it
// writes the next batch (and stops admitting when launch says the pass
// launches no more): when the pass's time runs out, few jobs are left
// admitted and not launched.
func (e *Engine) apply(ctx context.Context, lease *store.Lease, w *world, jobs map[string]*model.ServiceJob, d sched.Decisions, stop time.Time, res *PassResult, launch func([]*model.ServiceJob) bool) error {
	now := e.nowMs()
	type change struct {
		from model.JobStatus
		job  *model.ServiceJob // the changed copy
		n    *int
	}
	var changes []change
	add := func(c *model.ServiceJob, n *int, mutate func(j *model.ServiceJob) error) {
		if c == nil {
			return
		}
		j := *c
		j.Attempts = slices.Clone(c.Attempts)
		if mutate(&j) != nil {
			return // the job moved on since it was read
		}
		changes = append(changes, change{c.Status, &j, n})
	}
	for _, r := range d.Reasons {
		add(jobs[r.JobID], &res.Reasons, func(j *model.ServiceJob) error {
			j.SetReason(r.Reason, now)
			j.ReservedAt, j.UpdatedAt = r.ReservedAt, now
			return nil
		})
	}
	for _, t := range d.Terminate {
		add(jobs[t.JobID], &res.Terminated, func(j *model.ServiceJob) error {
			j.IsTerminated = true
			return j.Transition(model.StatusFailed, now, t.Reason)
		})
	}
	for _, a := range d.Admit {
		add(jobs[a.JobID], &res.Admitted, func(j *model.ServiceJob) error {
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
		})
	}

	launching := true
	for start := 0; start < len(changes); start += applyChunk {
		if start > 0 && (over(stop) || !launching && changes[start].job.Status == model.StatusScheduled) {
			res.More = true
			break
		}
		var admitted []*model.ServiceJob
		chunk := changes[start:min(start+applyChunk, len(changes))]
		batch := make([]*model.ServiceJob, len(chunk))
		for i, c := range chunk {
			batch[i] = c.job
		}
		stored, errs := e.cfg.Store.UpdateJobs(ctx, batch, lease)
		var changed []*model.ServiceJob
		for i, err := range errs {
			c := chunk[i]
			switch {
			case err == nil:
			case errors.Is(err, store.ErrLeaseLost):
				return err
			case errors.Is(err, store.ErrThrottled):
				res.More = true
				continue // still RUNNABLE: the next pass sees it
			case errors.Is(err, store.ErrConflict):
				continue // changed under us: the next pass sees it
			default:
				return err
			}
			j := stored[i]
			*c.n++
			if j.Status == model.StatusScheduled {
				admitted = append(admitted, j)
			}
			if j.Status != c.from {
				changed = append(changed, j)
			}
			if j.Status == model.StatusFailed {
				res.Failed++
			}
			e.observeTransition(c.from, j)
		}
		e.publish(ctx, changed...)
		if len(admitted) > 0 {
			launching = launch(admitted)
		}
	}
	return nil
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
