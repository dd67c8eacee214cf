package localsm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

// Plan is a SageMaker training plan the endpoint emulates: InstanceCount
// instances of InstanceType in each of its windows. What the endpoint does
// follows the SageMaker developer guide ("Training plans utilization for
// SageMaker training jobs", "View training plan details"):
//
//   - The plan is Scheduled before and between its windows, Active inside
//     one, Expired after the last. Each window is one reserved capacity.
//   - CreateTrainingJob with ResourceConfig.TrainingPlanArn is accepted
//     while the plan is Scheduled or Active, for its instance type and at
//     most its instance count; an unknown plan is a ValidationException.
//   - The job waits in Pending until a window is open and the plan has
//     enough free instances. It is stopped when it has waited longer than
//     StoppingCondition.MaxPendingTimeInSeconds while the plan was Active
//     (the time before and between windows does not count), and fails
//     with InsufficientCapacityError once it has been Pending for
//     Config.PlanPendingTimeout (SageMaker: 2 days).
//   - SageMaker gives full use of the instances until 30 minutes before a
//     reserved capacity ends, then terminates the instances still running
//     (Config.PlanEndMargin). The guide does not say what status the
//     training jobs end with; the endpoint ends them Failed with a
//     FailureReason starting "CapacityError", the reason AWS Batch reads as
//     a lack of capacity.
type Plan struct {
	Name          string
	InstanceType  string
	InstanceCount int64
	Windows       []Window
}

// Window is one window (reserved capacity) of a plan.
type Window struct {
	Start, End time.Time
}

// Defaults of the plan settings.
const (
	// DefaultPlanPendingTimeout is SageMaker's: "If a job has been pending
	// for 2 days, it is terminated with an InsufficientCapacityError."
	DefaultPlanPendingTimeout = 48 * time.Hour
)

// validatePlans checks the plans of a Config.
func validatePlans(plans []Plan) error {
	seen := map[string]bool{}
	for i, p := range plans {
		f := fmt.Sprintf("plan %q", p.Name)
		switch {
		case !namePattern.MatchString(p.Name):
			return fmt.Errorf("localsm: plans[%d]: name %q must be 1-63 letters, digits or hyphens", i, p.Name)
		case seen[strings.ToLower(p.Name)]:
			return fmt.Errorf("localsm: %s is declared twice", f)
		case p.InstanceType == "":
			return fmt.Errorf("localsm: %s: an instance type is required", f)
		case p.InstanceCount < 1:
			return fmt.Errorf("localsm: %s: the instance count must be at least 1, got %d", f, p.InstanceCount)
		case len(p.Windows) == 0:
			return fmt.Errorf("localsm: %s: at least one window is required", f)
		}
		seen[strings.ToLower(p.Name)] = true
		for k, w := range p.Windows {
			if !w.End.After(w.Start) {
				return fmt.Errorf("localsm: %s: window %d must end after it starts", f, k+1)
			}
			if k > 0 && w.Start.Before(p.Windows[k-1].End) {
				return fmt.Errorf("localsm: %s: window %d starts before window %d ends; give the windows in order, apart", f, k+1, k)
			}
		}
	}
	return nil
}

// planBook is the endpoint's plans. wake is guarded by Server.mu.
type planBook struct {
	byName map[string]*Plan // by lower-cased name
	order  []*Plan
	// wake is closed (and replaced) when plan instances are given back, so
	// that jobs waiting for them look again.
	wake chan struct{}
	done chan struct{} // closed by Shutdown
}

func newPlanBook(plans []Plan) *planBook {
	b := &planBook{byName: map[string]*Plan{}, wake: make(chan struct{}), done: make(chan struct{})}
	for i := range plans {
		p := plans[i]
		p.Windows = append([]Window(nil), p.Windows...)
		b.byName[strings.ToLower(p.Name)] = &p
		b.order = append(b.order, &p)
	}
	return b
}

func (s *Server) planArn(name string) string {
	return fmt.Sprintf("arn:aws:sagemaker:%s:%s:training-plan/%s", s.cfg.Region, s.cfg.Account, name)
}

func (s *Server) reservedCapacityArn(p *Plan, i int) string {
	return fmt.Sprintf("arn:aws:sagemaker:%s:%s:reserved-capacity/%s-rc%d", s.cfg.Region, s.cfg.Account, strings.ToLower(p.Name), i+1)
}

// status is the plan's status at t.
func (p *Plan) status(t time.Time) string {
	for _, w := range p.Windows {
		if !t.Before(w.Start) && t.Before(w.End) {
			return model.PlanActive
		}
	}
	if !t.Before(p.Windows[len(p.Windows)-1].End) {
		return model.PlanExpired
	}
	return model.PlanScheduled
}

// usable reports whether the plan's instances may be used at t: inside a
// window, before its last margin.
func (p *Plan) usable(t time.Time, margin time.Duration) bool {
	for _, w := range p.Windows {
		if !t.Before(w.Start) && t.Before(w.End.Add(-margin)) {
			return true
		}
	}
	return false
}

// planFor finds the plan a CreateTrainingJob names and checks the request
// against it, as SageMaker does when the job is created.
func (s *Server) planFor(req *request) (*Plan, error) {
	rc := req.in.ResourceConfig
	if rc == nil || rc.TrainingPlanArn == nil || *rc.TrainingPlanArn == "" {
		return nil, nil
	}
	arn := *rc.TrainingPlanArn
	name := model.PlanName(arn)
	p := s.plans.byName[strings.ToLower(name)]
	if p == nil || s.planArn(p.Name) != arn {
		return nil, validationError("Training plan %s does not exist.", arn)
	}
	if st := p.status(s.now()); st != model.PlanScheduled && st != model.PlanActive {
		return nil, validationError("Training plan %s is %s; a training job can use a plan that is Scheduled or Active.", arn, st)
	}
	types := []string{string(rc.InstanceType)}
	if len(rc.InstanceGroups) > 0 {
		types = types[:0]
		for _, g := range rc.InstanceGroups {
			types = append(types, string(g.InstanceType))
		}
	}
	for _, t := range types {
		if t != p.InstanceType {
			return nil, validationError("The instance type %s does not match instance type %s of training plan %s.", t, p.InstanceType, arn)
		}
	}
	if req.instances > p.InstanceCount {
		return nil, validationError("The training job requests %d instances; training plan %s reserves %d.", req.instances, arn, p.InstanceCount)
	}
	return p, nil
}

// planUsedLocked counts the plan's instances held by jobs.
func (s *Server) planUsedLocked(p *Plan) int64 {
	var n int64
	for _, j := range s.jobs {
		if j.plan == p && !terminal(j.rec.Status) {
			n += j.rec.PlanInstances
		}
	}
	return n
}

// nextWaitingLocked is the job a plan serves next: the oldest of those
// waiting for its instances. SageMaker does not document the order in
// which it gives a plan's instances to waiting jobs; first come, first
// served is what a queue in front of it expects.
func (s *Server) nextWaitingLocked(p *Plan) *job {
	var next *job
	for _, j := range s.jobs {
		if j.plan != p || !j.ready || j.rec.Status != events.TrainingInProgress || j.rec.PlanInstances > 0 {
			continue
		}
		if next == nil || j.rec.CreationTime.Before(next.rec.CreationTime) ||
			j.rec.CreationTime.Equal(next.rec.CreationTime) && j.key < next.key {
			next = j
		}
	}
	return next
}

func (s *Server) wakeLocked() {
	close(s.plans.wake)
	s.plans.wake = make(chan struct{})
}

// awaitPlan keeps a job on a plan in Pending until the plan gives it its
// instances (run reports true), or until it is stopped or times out (run
// false; failure is the FailureReason, "" when a stop decides the end). It
// reports detached when the server shuts down leaving jobs running: the
// next server takes the job over, still Pending.
func (s *Server) awaitPlan(j *job) (failure string, run, detached bool) {
	p := j.plan
	if p == nil {
		return "", true, false
	}
	var maxPending time.Duration
	if sc := j.req.in.StoppingCondition; sc != nil && sc.MaxPendingTimeInSeconds != nil {
		maxPending = time.Duration(*sc.MaxPendingTimeInSeconds) * time.Second
	}
	var waited time.Duration // Pending while the plan was Active
	last := s.now()
	for {
		s.mu.Lock()
		if j.rec.Status != events.TrainingInProgress || j.rec.PlanInstances > 0 {
			// Asked to stop (the stop decides the end), or adopted after
			// a restart holding its instances.
			granted := j.rec.PlanInstances > 0 && j.rec.Status == events.TrainingInProgress
			s.mu.Unlock()
			return "", granted, false
		}
		now := s.now()
		open := p.usable(now, s.cfg.PlanEndMargin)
		if p.status(last) == model.PlanActive {
			waited += now.Sub(last)
		}
		last = now
		if open && s.nextWaitingLocked(p) == j && s.planUsedLocked(p)+j.req.instances <= p.InstanceCount {
			j.rec.PlanInstances = j.req.instances
			s.wakeLocked() // the next in line may fit too
			s.mu.Unlock()
			s.persist(j)
			return "", true, false
		}
		if maxPending > 0 && waited >= maxPending {
			s.requestStopLocked(j, stopMaxPending)
			s.mu.Unlock()
			s.commit(j)
			return "", false, false
		}
		pending := now.Sub(j.rec.CreationTime)
		if pending >= s.cfg.PlanPendingTimeout {
			s.mu.Unlock()
			return fmt.Sprintf("InsufficientCapacityError: The training job waited %s in Pending for capacity of training plan %s.",
				s.cfg.PlanPendingTimeout, s.planArn(p.Name)), false, false
		}
		// Look again when something may have changed: instances given
		// back, a window opening, a timeout due.
		next := s.cfg.PlanPendingTimeout - pending
		if maxPending > 0 && p.status(now) == model.PlanActive {
			next = min(next, maxPending-waited)
		}
		for _, w := range p.Windows {
			if w.Start.After(now) {
				next = min(next, w.Start.Sub(now))
				break
			}
			if w.End.After(now) {
				next = min(next, w.End.Sub(now))
			}
		}
		wake := s.plans.wake
		s.mu.Unlock()
		t := time.NewTimer(max(next, time.Millisecond))
		select {
		case <-wake:
		case <-j.stopCh:
		case <-t.C:
		case <-s.detach:
			t.Stop()
			return "", false, true
		}
		t.Stop()
	}
}

// planEnv is what a job on a plan learns of its reserved capacity: when it
// ends, in epoch milliseconds, in the variable SageMaker documents for
// checkpointing before the end.
func (s *Server) planEnv(j *job) []string {
	if j.plan == nil {
		return nil
	}
	now := s.now()
	for _, w := range j.plan.Windows {
		if !now.Before(w.Start) && now.Before(w.End) {
			return []string{fmt.Sprintf("SAGEMAKER_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP=%d", w.End.UnixMilli())}
		}
	}
	return nil
}

// planEndLocked gives back the instances of a job that is ending and, for
// the ends that only plans have (reclaimed at a window's end, or stopped
// for waiting too long), moves it to its terminal state; it reports
// whether it did.
func (s *Server) planEndLocked(j *job) bool {
	if j.rec.PlanInstances > 0 || j.plan != nil {
		// Instances given back, or a waiter gone from the line.
		j.rec.PlanInstances = 0
		s.wakeLocked()
	}
	switch j.rec.StopKind {
	case stopReclaim:
		name := ""
		if j.plan != nil {
			name = j.plan.Name
		}
		j.rec.FailureReason = fmt.Sprintf("CapacityError: The reserved capacity of training plan %s ended: SageMaker terminates a plan's instances from %s before the end of its reserved capacity.",
			name, s.cfg.PlanEndMargin)
		s.setLocked(j, events.TrainingFailed, secondaryFailed, j.rec.FailureReason)
		return true
	case stopMaxPending:
		s.setLocked(j, events.TrainingStopped, secondaryStopped, "The training job waited longer than StoppingCondition.MaxPendingTimeInSeconds for capacity")
		return true
	}
	return false
}

// watchPlans stops the jobs still holding a plan's instances when its
// window's usable part ends, as SageMaker terminates the instances of a
// reserved capacity that is about to end.
func (s *Server) watchPlans() {
	defer s.wg.Done()
	for {
		now := s.now()
		var next time.Time
		for _, p := range s.plans.order {
			for _, w := range p.Windows {
				if at := w.End.Add(-s.cfg.PlanEndMargin); at.After(now) && (next.IsZero() || at.Before(next)) {
					next = at
				}
			}
		}
		if next.IsZero() {
			<-s.plans.done
			return
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-t.C:
		case <-s.plans.done:
			t.Stop()
			return
		}
		s.reclaim(next)
	}
}

// reclaim stops the jobs holding instances of plans that are not usable
// at t.
func (s *Server) reclaim(t time.Time) {
	var stopping []*job
	s.mu.Lock()
	for _, j := range s.jobs {
		if j.plan != nil && j.rec.PlanInstances > 0 && j.rec.Status == events.TrainingInProgress && !j.plan.usable(t, s.cfg.PlanEndMargin) {
			s.requestStopLocked(j, stopReclaim)
			stopping = append(stopping, j)
		}
	}
	s.mu.Unlock()
	for _, j := range stopping {
		s.log.Info("training plan window over: stopping the training job", "trainingJob", j.rec.Name, "plan", j.plan.Name)
		s.commit(j)
	}
}

// planOut is a plan in the shape of DescribeTrainingPlan (and, less the
// members ListTrainingPlans does not return, of a TrainingPlanSummary).
func (s *Server) planOut(p *Plan, now time.Time) map[string]any {
	var used int64
	for _, j := range s.jobs {
		if j.plan == p && !terminal(j.rec.Status) {
			used += j.rec.PlanInstances
		}
	}
	status := p.status(now)
	var total time.Duration
	var rcs []map[string]any
	for i, w := range p.Windows {
		d := w.End.Sub(w.Start)
		total += d
		rcs = append(rcs, map[string]any{
			"ReservedCapacityArn": s.reservedCapacityArn(p, i), "InstanceType": p.InstanceType,
			"TotalInstanceCount": p.InstanceCount, "Status": (&Plan{Windows: []Window{w}}).status(now),
			"AvailabilityZone": s.cfg.Region + "a", "ReservedCapacityType": "Instance",
			"DurationHours": int64(d / time.Hour), "DurationMinutes": int64(d%time.Hour) / int64(time.Minute),
			"StartTime": epochSeconds(w.Start), "EndTime": epochSeconds(w.End),
		})
	}
	available := int64(0)
	if status == model.PlanActive {
		available = max(p.InstanceCount-used, 0)
	}
	msg := "Training plan emulated by the local SageMaker endpoint"
	return map[string]any{
		"TrainingPlanArn": s.planArn(p.Name), "TrainingPlanName": p.Name, "Status": status, "StatusMessage": msg,
		"DurationHours": int64(total / time.Hour), "DurationMinutes": int64(total%time.Hour) / int64(time.Minute),
		"StartTime": epochSeconds(p.Windows[0].Start), "EndTime": epochSeconds(p.Windows[len(p.Windows)-1].End),
		"UpfrontFee": "0", "CurrencyCode": "USD",
		"TotalInstanceCount": p.InstanceCount, "AvailableInstanceCount": available, "InUseInstanceCount": used,
		"UnhealthyInstanceCount": 0, "TargetResources": []string{"training-job"}, "ReservedCapacitySummaries": rcs,
	}
}

func (s *Server) describeTrainingPlan(body []byte) (any, error) {
	var in struct{ TrainingPlanName *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TrainingPlanName == nil || *in.TrainingPlanName == "" {
		return nil, validationError("1 validation error detected: Value null at 'trainingPlanName' failed to satisfy constraint: Member must not be null")
	}
	p := s.plans.byName[strings.ToLower(*in.TrainingPlanName)]
	if p == nil {
		return nil, &apiError{status: 400, code: "ResourceNotFound", msg: fmt.Sprintf("Training plan %s does not exist.", *in.TrainingPlanName)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.planOut(p, s.now()), nil
}

type listPlansInput struct {
	Filters []struct {
		Name  string
		Value string
	}
	MaxResults      *int
	NextToken       *string
	SortBy          string
	SortOrder       string
	StartTimeAfter  *epochSeconds
	StartTimeBefore *epochSeconds
}

func (s *Server) listTrainingPlans(body []byte) (any, error) {
	var in listPlansInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sortBy := in.SortBy
	if sortBy == "" {
		sortBy = "StartTime"
	}
	if sortBy != "TrainingPlanName" && sortBy != "StartTime" && sortBy != "Status" {
		return nil, validationError("1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [TrainingPlanName, StartTime, Status]", in.SortBy)
	}
	order := in.SortOrder
	if order == "" {
		order = "Ascending"
	}
	if order != "Ascending" && order != "Descending" {
		return nil, validationError("1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]", in.SortOrder)
	}
	limit := 100
	if in.MaxResults != nil {
		if limit = *in.MaxResults; limit < 1 || limit > 100 {
			return nil, validationError("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100", limit)
		}
	}
	for _, f := range in.Filters {
		if f.Name != "Status" {
			return nil, validationError("1 validation error detected: Value '%s' at 'filters.name' failed to satisfy constraint: Member must satisfy enum value set: [Status]", f.Name)
		}
	}
	start := 0
	if in.NextToken != nil && *in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err == nil {
			err = json.Unmarshal(b, &start)
		}
		if err != nil || start < 0 {
			return nil, validationError("Invalid pagination token")
		}
	}
	s.mu.Lock()
	now := s.now()
	var out []map[string]any
	for _, p := range s.plans.order {
		o := s.planOut(p, now)
		keep := true
		for _, f := range in.Filters {
			keep = keep && o["Status"] == f.Value
		}
		if !inRange(p.Windows[0].Start, in.StartTimeAfter, in.StartTimeBefore) {
			keep = false
		}
		if keep {
			out = append(out, o)
		}
	}
	s.mu.Unlock()
	key := func(o map[string]any) string {
		switch sortBy {
		case "TrainingPlanName":
			return o["TrainingPlanName"].(string)
		case "Status":
			return o["Status"].(string) + "\x00" + o["TrainingPlanName"].(string)
		}
		return fmt.Sprintf("%020d\x00%s", time.Time(o["StartTime"].(epochSeconds)).UnixMilli(), o["TrainingPlanName"])
	}
	sort.SliceStable(out, func(a, b int) bool {
		if order == "Descending" {
			return key(out[a]) > key(out[b])
		}
		return key(out[a]) < key(out[b])
	})
	res := map[string]any{}
	if start > len(out) {
		start = len(out)
	}
	page := out[start:]
	if len(page) > limit {
		page = page[:limit]
		b, _ := json.Marshal(start + limit)
		res["NextToken"] = base64.RawURLEncoding.EncodeToString(b)
	}
	summaries := make([]map[string]any, 0, len(page))
	for _, o := range page {
		delete(o, "AvailableSpareInstanceCount")
		delete(o, "UnhealthyInstanceCount")
		summaries = append(summaries, o)
	}
	res["TrainingPlanSummaries"] = summaries
	return res, nil
}
