package localsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/safetext"
	"github.com/sagequeue/sagequeue/internal/supervisor"
)

// Secondary statuses this endpoint goes through.
const (
	secondaryPending            = "Pending"
	secondaryDownloading        = "Downloading"
	secondaryTraining           = "Training"
	secondaryCompleted          = "Completed"
	secondaryFailed             = "Failed"
	secondaryStopping           = "Stopping"
	secondaryStopped            = "Stopped"
	secondaryMaxRuntimeExceeded = "MaxRuntimeExceeded"
)

// maxFailureReason is SageMaker's limit on FailureReason.
const maxFailureReason = 1024

// stopKind says who asked a job to stop, which decides how it ends.
type stopKind string

const (
	stopNone       stopKind = ""
	stopUser       stopKind = "StopTrainingJob"    // ends Stopped/Stopped
	stopMaxRuntime stopKind = "MaxRuntimeExceeded" // ends Stopped/MaxRuntimeExceeded
	stopRestart    stopKind = "EndpointRestart"    // ends Failed with restartReason
	stopReclaim    stopKind = "PlanWindowEnded"    // ends Failed with a CapacityError (plans.go)
	stopMaxPending stopKind = "MaxPendingTime"     // ends Stopped (plans.go)
)

// record is a job's state as state.json keeps it.
type record struct {
	Name              string       `json:"name"`
	Arn               string       `json:"arn"`
	Status            string       `json:"status"`
	SecondaryStatus   string       `json:"secondaryStatus"`
	FailureReason     string       `json:"failureReason,omitempty"`
	StopKind          stopKind     `json:"stopKind,omitempty"`
	CreationTime      time.Time    `json:"creationTime"`
	TrainingStartTime time.Time    `json:"trainingStartTime,omitzero"`
	TrainingEndTime   time.Time    `json:"trainingEndTime,omitzero"`
	LastModifiedTime  time.Time    `json:"lastModifiedTime"`
	Transitions       []transition `json:"secondaryStatusTransitions"`
	// Supervisor is the job's supervisor, saved before it is released to
	// start the training process (see package supervisor).
	Supervisor *supervisorRef `json:"supervisor,omitempty"`
	// Container names the job's container, when it runs in one.
	Container string `json:"container,omitempty"`
	// Pid leads the training process's group; PidStartTime (clock ticks
	// after boot, from /proc/<pid>/stat) tells it from a later process
	// that reuses the pid. Servers from before supervisors saved only
	// these, and a restarted server kills such a group only when it is
	// provably the job's.
	Pid          int    `json:"pid,omitempty"`
	PidStartTime uint64 `json:"pidStartTime,omitempty"`
	// PlanInstances are the instances of its training plan the job holds
	// (plans.go).
	PlanInstances int64 `json:"planInstances,omitempty"`
	// Request is the CreateTrainingJob request as received.
	Request json.RawMessage `json:"request"`
}

type transition struct {
	Status        string    `json:"status"`
	StartTime     time.Time `json:"startTime"`
	EndTime       time.Time `json:"endTime,omitzero"`
	StatusMessage string    `json:"statusMessage,omitempty"`
}

func (r record) clone() record {
	r.Transitions = append([]transition(nil), r.Transitions...)
	return r
}

func terminal(status string) bool {
	switch status {
	case events.TrainingCompleted, events.TrainingFailed, events.TrainingStopped:
		return true
	}
	return false
}

// job is one training job. The request fields never change after creation;
// the rest is guarded by Server.mu.
type job struct {
	key  string // lower-cased name
	dir  string
	req  *request
	plan *Plan // the training plan the job runs on, if any

	rec   record
	ready bool // persisted and visible; false while CreateTrainingJob is still writing it
	// stopCh is closed when the job is asked to stop; its runner does the
	// signalling.
	stopCh chan struct{}
	outbox []events.TrainingJobStateChange
	// saved counts the events ever queued whose state a save has covered,
	// sent those sent: only saved events go out, so that none tells of a
	// state that a crash could take back. outbox holds the events from
	// number sent on.
	saved, sent int
	// emitting is true while a sender goroutine owns the outbox.
	emitting bool

	// persistMu orders writes of state.json.
	persistMu sync.Mutex
}

// request is a parsed CreateTrainingJob request.
type request struct {
	in *sagemaker.CreateTrainingJobInput
	// members are the request's top-level members as sent, echoed by
	// DescribeTrainingJob so that it returns exactly what was asked for.
	members   map[string]json.RawMessage
	tags      map[string]string
	instances int64
}

var (
	namePattern    = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)
	channelPattern = regexp.MustCompile(`^[A-Za-z0-9.\-_]{1,64}$`)
)

func validName(name string) error {
	if !namePattern.MatchString(name) {
		return validationError("1 validation error detected: Value '%s' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)
	}
	return nil
}

// parseRequest decodes and checks a CreateTrainingJob request: only what
// the endpoint needs to run the job, since everything else SageMaker accepts
// is accepted and echoed.
func parseRequest(body []byte) (*request, error) {
	r := &request{in: &sagemaker.CreateTrainingJobInput{}}
	if err := decode(body, &r.members); err != nil {
		return nil, err
	}
	if err := decode(body, r.in); err != nil {
		return nil, err
	}
	if r.in.TrainingJobName == nil {
		return nil, validationError("1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null")
	}
	if err := validName(*r.in.TrainingJobName); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, ch := range r.in.InputDataConfig {
		name := deref(ch.ChannelName)
		if !channelPattern.MatchString(name) || name == "." || name == ".." {
			return nil, validationError("InputDataConfig[%d].ChannelName %q must match [A-Za-z0-9.\\-_]{1,64} and name a directory", i, name)
		}
		if seen[name] {
			return nil, validationError("InputDataConfig: channel %q appears more than once", name)
		}
		seen[name] = true
	}
	r.instances = 1
	if rc := r.in.ResourceConfig; rc != nil {
		if len(rc.InstanceGroups) > 0 {
			r.instances = 0
			for i, g := range rc.InstanceGroups {
				if g.InstanceCount == nil || *g.InstanceCount < 1 {
					return nil, validationError("ResourceConfig.InstanceGroups[%d].InstanceCount must be at least 1", i)
				}
				r.instances += int64(*g.InstanceCount)
			}
		} else if rc.InstanceCount != nil {
			if *rc.InstanceCount < 1 {
				return nil, validationError("ResourceConfig.InstanceCount must be at least 1, got %d", *rc.InstanceCount)
			}
			r.instances = int64(*rc.InstanceCount)
		}
	}
	if sc := r.in.StoppingCondition; sc != nil && sc.MaxRuntimeInSeconds != nil && *sc.MaxRuntimeInSeconds < 1 {
		return nil, validationError("StoppingCondition.MaxRuntimeInSeconds must be at least 1, got %d", *sc.MaxRuntimeInSeconds)
	}
	if len(r.in.Tags) > 0 {
		r.tags = make(map[string]string, len(r.in.Tags))
		for _, t := range r.in.Tags {
			r.tags[deref(t.Key)] = deref(t.Value)
		}
	}
	return r, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// lookupLocked finds a visible job by name (in any case, as names are
// unique regardless of case).
func (s *Server) lookupLocked(name string) *job {
	j := s.jobs[strings.ToLower(name)]
	if j == nil || !j.ready {
		return nil
	}
	return j
}

func (s *Server) createTrainingJob(body []byte) (any, error) {
	req, err := parseRequest(body)
	if err != nil {
		return nil, err
	}
	name := *req.in.TrainingJobName
	plan, err := s.planFor(req)
	if err != nil {
		return nil, err
	}
	now := s.now()
	j := &job{
		plan:   plan,
		key:    strings.ToLower(name),
		dir:    filepath.Join(s.cfg.Dir, name),
		req:    req,
		stopCh: make(chan struct{}),
		rec: record{
			Name:             name,
			Arn:              s.arn(name),
			Status:           events.TrainingInProgress,
			SecondaryStatus:  secondaryPending,
			CreationTime:     now,
			LastModifiedTime: now,
			Transitions:      []transition{{Status: secondaryPending, StartTime: now, StatusMessage: "Starting the training job on the local SageMaker endpoint"}},
			Request:          append(json.RawMessage(nil), body...),
		},
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: "the local SageMaker endpoint is shutting down"}
	}
	if other := s.jobs[j.key]; other != nil {
		s.mu.Unlock()
		return nil, &apiError{status: http.StatusBadRequest, code: "ResourceInUse", msg: fmt.Sprintf("Training job names must be unique within an AWS account and region, and a training job with this name already exists (%s)", other.rec.Arn)}
	}
	if limit := s.cfg.InstanceLimit; limit > 0 {
		var used int64
		for _, o := range s.jobs {
			if !terminal(o.rec.Status) {
				used += o.req.instances
			}
		}
		if used+req.instances > limit {
			s.mu.Unlock()
			return nil, &apiError{status: http.StatusBadRequest, code: "ResourceLimitExceeded", msg: fmt.Sprintf("The account-level service limit 'instances for training job usage' is %d Instances, with current utilization of %d Instances and a request delta of %d Instances. (This is the InstanceLimit of the local SageMaker endpoint.)", limit, used, req.instances)}
		}
	}
	// The name is reserved from here; the job becomes visible once its
	// state is on disk, so that a job we answered for survives a crash.
	s.jobs[j.key] = j
	s.mu.Unlock()

	if err := s.initDir(j); err != nil {
		s.mu.Lock()
		delete(s.jobs, j.key)
		s.mu.Unlock()
		if fault := supervisor.MachineFault(err); fault != "" {
			// Nothing is created; the engine tries again after a backoff.
			return nil, &apiError{status: http.StatusInternalServerError, code: infrastructureError, msg: fault + " - cannot create the training job's directory: " + err.Error()}
		}
		return nil, fmt.Errorf("create training job %s: %w", name, err)
	}

	s.mu.Lock()
	if s.closed {
		// Shutdown began while we wrote: it neither stopped nor waits
		// for this job, so it must not start.
		delete(s.jobs, j.key)
		s.mu.Unlock()
		os.RemoveAll(j.dir)
		return nil, &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", msg: "the local SageMaker endpoint is shutting down"}
	}
	j.ready = true
	s.enqueueLocked(j)
	j.saved = j.sent + len(j.outbox) // its state is saved
	s.kickLocked(j)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(j, nil)
	return map[string]string{"TrainingJobArn": j.rec.Arn}, nil
}

// initDir gives a new job a fresh directory holding its state.
func (s *Server) initDir(j *job) error {
	// A directory without a known job is what a create that never
	// reached its state file leaves behind; the name is free, so is the
	// directory.
	if err := os.RemoveAll(j.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(j.dir, 0o755); err != nil {
		return err
	}
	return s.persist(j)
}

// setLocked moves a job to a status and secondary status, records the
// transition and queues the event.
func (s *Server) setLocked(j *job, status, secondary, message string) {
	now := s.now()
	r := &j.rec
	if n := len(r.Transitions); n > 0 && r.Transitions[n-1].EndTime.IsZero() {
		r.Transitions[n-1].EndTime = now
	}
	t := transition{Status: secondary, StartTime: now, StatusMessage: message}
	if terminal(status) {
		t.EndTime = now
		r.TrainingEndTime = now
	}
	r.Transitions = append(r.Transitions, t)
	r.Status, r.SecondaryStatus, r.LastModifiedTime = status, secondary, now
	if j.ready {
		s.enqueueLocked(j)
	}
}

// advance moves a running job to the next secondary status; it reports
// false, changing nothing, when the job is no longer InProgress (it was
// asked to stop).
func (s *Server) advance(j *job, secondary, message string) bool {
	s.mu.Lock()
	ok := j.rec.Status == events.TrainingInProgress
	if ok {
		s.setLocked(j, events.TrainingInProgress, secondary, message)
	}
	s.mu.Unlock()
	if ok {
		s.commit(j)
	}
	return ok
}

// requestStopLocked asks an InProgress job to stop: it goes to Stopping and
// its runner signals the process. The caller commits.
func (s *Server) requestStopLocked(j *job, kind stopKind) {
	if j.rec.Status != events.TrainingInProgress {
		return
	}
	j.rec.StopKind = kind
	msg := "Stopping the training job"
	switch kind {
	case stopMaxRuntime:
		msg = "Stopping the training job: it ran longer than StoppingCondition.MaxRuntimeInSeconds"
	case stopRestart:
		msg = "Stopping the training job: the local SageMaker endpoint is shutting down"
	}
	s.setLocked(j, events.TrainingStopping, secondaryStopping, msg)
	close(j.stopCh)
}

// endLocked moves a job to its terminal state. A stop request decides how
// it ends; otherwise failure does ("" is success).
func (s *Server) endLocked(j *job, failure string) {
	if s.planEndLocked(j) {
		return
	}
	switch j.rec.StopKind {
	case stopUser:
		s.setLocked(j, events.TrainingStopped, secondaryStopped, "The training job was stopped")
	case stopMaxRuntime:
		s.setLocked(j, events.TrainingStopped, secondaryMaxRuntimeExceeded, "Training job runtime exceeded MaxRuntimeInSeconds provided")
	case stopRestart:
		j.rec.FailureReason = restartReason
		s.setLocked(j, events.TrainingFailed, secondaryFailed, restartReason)
	default:
		if failure == "" {
			s.setLocked(j, events.TrainingCompleted, secondaryCompleted, "Training job completed")
			return
		}
		// The reason may quote the process's stderr: whoever describes
		// the job gets it without escape sequences.
		failure = safetext.Clean(failure)
		if len(failure) > maxFailureReason {
			failure = strings.ToValidUTF8(failure[:maxFailureReason-3], "") + "..."
		}
		j.rec.FailureReason = failure
		s.setLocked(j, events.TrainingFailed, secondaryFailed, failure)
	}
}

// enqueueLocked queues the event for the job's current state. The events
// go out once the state is saved (see commit).
func (s *Server) enqueueLocked(j *job) {
	if s.cfg.Emit == nil {
		return
	}
	j.outbox = append(j.outbox, s.eventLocked(j))
}

// commit saves the job's state, then lets its queued events go, so that no
// event tells of a state that a crash could take back.
func (s *Server) commit(j *job) {
	s.persist(j)
	s.mu.Lock()
	s.kickLocked(j)
	s.mu.Unlock()
}

// kickLocked makes sure a sender is running when the job has events to
// send. One sender per job keeps its events in order and never concurrent,
// and keeps Emit off the request path and out of our locks.
func (s *Server) kickLocked(j *job) {
	if j.sent < j.saved && !j.emitting {
		j.emitting = true
		s.wg.Add(1)
		go s.send(j)
	}
}

func (s *Server) send(j *job) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if j.sent >= j.saved {
			j.emitting = false
			s.mu.Unlock()
			return
		}
		ev := j.outbox[0]
		j.outbox[0] = events.TrainingJobStateChange{}
		j.outbox = j.outbox[1:]
		j.sent++
		s.mu.Unlock()
		s.cfg.Emit(s.emitCtx, ev)
	}
}

// eventLocked is the state-change event for the job's current state, in
// the EventBridge shape SageMaker uses (times in epoch milliseconds, Tags a
// map).
func (s *Server) eventLocked(j *job) events.TrainingJobStateChange {
	r := &j.rec
	d := events.TrainingJob{
		TrainingJobName:   r.Name,
		TrainingJobArn:    r.Arn,
		TrainingJobStatus: r.Status,
		SecondaryStatus:   r.SecondaryStatus,
		FailureReason:     r.FailureReason,
		CreationTime:      millis(r.CreationTime),
		TrainingStartTime: millis(r.TrainingStartTime),
		TrainingEndTime:   millis(r.TrainingEndTime),
		LastModifiedTime:  millis(r.LastModifiedTime),
	}
	for _, t := range r.Transitions {
		d.SecondaryStatusTransitions = append(d.SecondaryStatusTransitions, events.SecondaryStatusTransition{
			Status:        t.Status,
			StartTime:     millis(t.StartTime),
			EndTime:       millis(t.EndTime),
			StatusMessage: t.StatusMessage,
		})
	}
	if len(j.req.tags) > 0 {
		d.Tags = make(map[string]string, len(j.req.tags))
		for k, v := range j.req.tags {
			d.Tags[k] = v
		}
	}
	return events.TrainingJobStateChange{
		Version:    "0",
		ID:         newID(),
		DetailType: events.DetailTypeTrainingJobStateChange,
		Source:     events.SourceSageMaker,
		Account:    s.cfg.Account,
		Time:       r.LastModifiedTime,
		Region:     s.cfg.Region,
		Resources:  []string{r.Arn},
		Detail:     d,
	}
}

func millis(t time.Time) events.Millis {
	if t.IsZero() {
		return 0
	}
	return events.Millis(t.UnixMilli())
}

// persist writes the job's current state to state.json, atomically, so
// that a crash leaves the old state or the new one, and durably. Writes are
// ordered and each writes the state at its time, so the file always ends
// with the latest state.
func (s *Server) persist(j *job) error { return s.save(j, true) }

// save is persist, durably (fsync) when sync is set. A state that only a
// live process can act on (a supervisor's identity: after a power loss no
// supervisor runs) need not survive a power loss, only a crash of the
// server.
func (s *Server) save(j *job, sync bool) error {
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	s.mu.Lock()
	rec := j.rec.clone()
	covered := j.sent + len(j.outbox) // the events of this state and before
	s.mu.Unlock()
	defer func() {
		// Even a failed save lets the events go: a job must not fall
		// silent because the disk is full.
		s.mu.Lock()
		j.saved = max(j.saved, covered)
		s.mu.Unlock()
	}()
	b, err := json.MarshalIndent(rec, "", "  ")
	if err == nil {
		err = supervisor.WriteFileAtomic(filepath.Join(j.dir, stateFile), b, 0o600, sync)
	}
	if err != nil {
		s.log.Error("cannot save training job state", "trainingJob", rec.Name, "err", err)
	}
	return err
}

const stateFile = "state.json"

// load reads every job under the directory and takes over the ones that
// were running when the previous server went away (see resume).
func (s *Server) load() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("localsm: %w", err)
	}
	var unfinished []*job
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.cfg.Dir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, stateFile))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			s.log.Warn("skipping training job directory", "dir", dir, "err", err)
			continue
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			s.log.Warn("skipping training job directory: unreadable state", "dir", dir, "err", err)
			continue
		}
		req, err := parseRequest(rec.Request)
		if err != nil || *req.in.TrainingJobName != rec.Name || rec.Name != e.Name() {
			s.log.Warn("skipping training job directory: state does not match it", "dir", dir, "err", err)
			continue
		}
		j := &job{key: strings.ToLower(rec.Name), dir: dir, req: req, rec: rec, ready: true, stopCh: make(chan struct{})}
		j.plan, _ = s.planFor(req)
		if s.jobs[j.key] != nil {
			s.log.Warn("skipping training job directory: another differs only in case", "dir", dir)
			continue
		}
		s.jobs[j.key] = j
		if !terminal(rec.Status) {
			unfinished = append(unfinished, j)
		}
	}

	var wg sync.WaitGroup
	for _, j := range unfinished {
		wg.Go(func() { s.resume(j) })
	}
	wg.Wait()
	return nil
}

// resume takes over a job that was InProgress or Stopping when the previous
// server went away: it adopts the job's supervisor if it still runs; ends
// the job as its supervisor recorded if it ended meanwhile; starts it if no
// training process ever started.
func (s *Server) resume(j *job) {
	switch s.recoverJob(j) {
	case recoverAdopt:
		v := s.adopt(j)
		s.mu.Lock()
		if j.rec.Status == events.TrainingStopping {
			// The previous server may have died before it signalled.
			close(j.stopCh)
		}
		s.wg.Add(1)
		s.mu.Unlock()
		s.log.Info("adopted a training job left running by a previous endpoint", "trainingJob", j.rec.Name, "supervisor", j.rec.Supervisor.Pid)
		go s.run(j, v)
	case recoverRerun:
		s.mu.Lock()
		stopped := j.rec.Status != events.TrainingInProgress
		if stopped {
			s.endLocked(j, "")
		}
		s.mu.Unlock()
		if stopped {
			s.commit(j)
			return
		}
		if err := resetDir(j.dir); err != nil {
			s.log.Warn("cannot clear a training job's directory", "trainingJob", j.rec.Name, "err", err)
		}
		supervisor.AppendLog(j.dir, "the local SageMaker endpoint restarted before the training process started; starting it now")
		s.log.Info("starting a training job whose process never started under the previous endpoint", "trainingJob", j.rec.Name)
		s.mu.Lock()
		s.wg.Add(1)
		s.mu.Unlock()
		go s.run(j, nil)
	case recoverSettle:
		failure := s.outcome(j, readExit(j.dir))
		s.mu.Lock()
		s.endLocked(j, failure)
		s.mu.Unlock()
		s.commit(j)
		s.log.Info("a training job ended while no endpoint ran", "trainingJob", j.rec.Name, "status", j.rec.Status, "failureReason", j.rec.FailureReason)
	case recoverLegacy:
		s.killOrphan(j)
		s.mu.Lock()
		if j.rec.StopKind == stopNone {
			j.rec.StopKind = stopRestart
		}
		s.endLocked(j, "")
		s.mu.Unlock()
		s.commit(j)
		s.log.Info("ended a training job left running by a previous endpoint", "trainingJob", j.rec.Name, "status", j.rec.Status)
	}
}

// killOrphan kills the process group of a job that a server from before
// supervisors left behind, but only once it has shown that the group is the job's:
// either its leader is alive with the recorded start time, or (the leader
// gone) a member still carries the job's ARN in its environment. A pid or
// group id reused by someone else is left alone.
func (s *Server) killOrphan(j *job) {
	pid := j.rec.Pid
	if pid <= 0 {
		return
	}
	ours := false
	if start, err := supervisor.ProcessStartTime(pid); err == nil && start == j.rec.PidStartTime && processAlive(pid) {
		ours = true
	} else {
		ours = groupCarries(pid, "TRAINING_JOB_ARN="+j.rec.Arn)
	}
	if !ours {
		return
	}
	s.log.Info("stopping the process group of a training job left running by a previous endpoint", "trainingJob", j.rec.Name, "pgid", pid)
	supervisor.AppendLog(j.dir, fmt.Sprintf("the local SageMaker endpoint restarted: sending SIGTERM to process group %d", pid))
	supervisor.SignalGroup(pid, false)
	deadline := time.Now().Add(s.cfg.StopGrace)
	for groupAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if groupAlive(pid) {
		supervisor.AppendLog(j.dir, fmt.Sprintf("process group %d still alive after %s: sending SIGKILL", pid, s.cfg.StopGrace))
		supervisor.SignalGroup(pid, true)
	}
}

func (s *Server) describeTrainingJob(body []byte) (any, error) {
	var in struct{ TrainingJobName *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TrainingJobName == nil || *in.TrainingJobName == "" {
		return nil, validationError("1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	j := s.lookupLocked(*in.TrainingJobName)
	if j == nil {
		s.mu.Unlock()
		return nil, notFound(*in.TrainingJobName)
	}
	r := j.rec.clone()
	s.mu.Unlock()

	out := map[string]any{}
	for _, k := range echoedMembers {
		if v, ok := j.req.members[k]; ok && string(v) != "null" {
			out[k] = v
		}
	}
	out["TrainingJobName"] = r.Name
	out["TrainingJobArn"] = r.Arn
	out["TrainingJobStatus"] = r.Status
	out["SecondaryStatus"] = r.SecondaryStatus
	if r.FailureReason != "" {
		out["FailureReason"] = r.FailureReason
	}
	out["CreationTime"] = epochSeconds(r.CreationTime)
	out["LastModifiedTime"] = epochSeconds(r.LastModifiedTime)
	if !r.TrainingStartTime.IsZero() {
		out["TrainingStartTime"] = epochSeconds(r.TrainingStartTime)
	}
	if !r.TrainingEndTime.IsZero() {
		out["TrainingEndTime"] = epochSeconds(r.TrainingEndTime)
		if !r.TrainingStartTime.IsZero() {
			secs := int64(r.TrainingEndTime.Sub(r.TrainingStartTime) / time.Second)
			out["TrainingTimeInSeconds"] = secs
			out["BillableTimeInSeconds"] = secs
		}
	}
	var ts []map[string]any
	for _, t := range r.Transitions {
		m := map[string]any{"Status": t.Status, "StartTime": epochSeconds(t.StartTime)}
		if !t.EndTime.IsZero() {
			m["EndTime"] = epochSeconds(t.EndTime)
		}
		if t.StatusMessage != "" {
			m["StatusMessage"] = t.StatusMessage
		}
		ts = append(ts, m)
	}
	out["SecondaryStatusTransitions"] = ts
	out["ModelArtifacts"] = map[string]string{"S3ModelArtifacts": fileURL(filepath.Join(j.dir, "model")) + "/"}
	return out, nil
}

// echoedMembers are the CreateTrainingJob members that DescribeTrainingJob
// returns as they were sent.
var echoedMembers = []string{
	"AlgorithmSpecification", "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations",
	"EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "EnableNetworkIsolation",
	"Environment", "ExperimentConfig", "HyperParameters", "InfraCheckConfig", "InputDataConfig",
	"MlflowConfig", "ModelPackageConfig", "OutputDataConfig", "ProfilerConfig",
	"ProfilerRuleConfigurations", "RemoteDebugConfig", "ResourceConfig", "RetryStrategy", "RoleArn",
	"ServerlessJobConfig", "StoppingCondition", "TensorBoardOutputConfig", "VpcConfig",
}

func (s *Server) stopTrainingJob(body []byte) (any, error) {
	var in struct{ TrainingJobName *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TrainingJobName == nil || *in.TrainingJobName == "" {
		return nil, validationError("1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	j := s.lookupLocked(*in.TrainingJobName)
	if j == nil {
		s.mu.Unlock()
		return nil, notFound(*in.TrainingJobName)
	}
	switch status := j.rec.Status; status {
	case events.TrainingInProgress:
		s.requestStopLocked(j, stopUser)
	case events.TrainingStopping:
		// Stopping twice is harmless, as in SageMaker.
		s.mu.Unlock()
		return struct{}{}, nil
	default:
		s.mu.Unlock()
		return nil, validationError("The request was rejected because the training job is in status %s.", status)
	}
	s.mu.Unlock()
	s.commit(j)
	return struct{}{}, nil
}
