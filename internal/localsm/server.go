package localsm

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/runas"
)

// Config configures a Server. Zero fields get the defaults named.
type Config struct {
	// Dir holds one directory per training job; created if missing. Two
	// servers must not share it, so New locks it.
	Dir string
	// Region and Account go into ARNs and events ("local", "000000000000").
	Region  string
	Account string
	// Emit receives a state-change event for every status or secondary
	// status change: in order for one job, never concurrently for one job,
	// from a goroutine of the server's (so a slow Emit delays only later
	// events of that job, never a request). Shutdown waits for the calls
	// in flight. Nil emits nothing.
	Emit func(ctx context.Context, ev events.TrainingJobStateChange)
	// StopGrace is how long a stopped job's process group has between
	// SIGTERM and SIGKILL (10s).
	StopGrace time.Duration
	// CheckpointDir keeps the checkpoints of jobs whose CheckpointConfig
	// names an S3 URI (<Dir>/.checkpoints): see prepareCheckpoints.
	CheckpointDir string
	// KeepRunning makes Shutdown leave running training jobs running, for
	// the next server over Dir to adopt; otherwise Shutdown stops them.
	KeepRunning bool
	// ContainerRuntime, when set, is the command line of a Docker-compatible
	// container runtime ("podman", "docker", with options of its own:
	// "podman --runtime runc"), with which a job that names a
	// TrainingImage runs in its image as SageMaker runs it; without one,
	// only ContainerEntrypoint runs, as a process.
	ContainerRuntime []string
	// ContainerRunArgs are added to every container's run (e.g. --gpus all).
	ContainerRunArgs []string
	// Supervisor is the program that runs the jobs' supervisors: any
	// binary that links package supervisor, such as the light client
	// binary, whose start costs a fraction of the server's. "" runs them
	// with this program itself, which links it through this package.
	Supervisor string
	// InstanceLimit, when > 0, is the workstation's "account quota": a
	// CreateTrainingJob whose instances, added to those of the jobs still
	// InProgress or Stopping, would exceed it fails with
	// ResourceLimitExceeded, as SageMaker does at its service quota.
	InstanceLimit int64
	// Plans are the training plans the endpoint emulates (plans.go).
	Plans []Plan
	// PlanEndMargin is how long before a plan's window ends the endpoint
	// stops the jobs still on it: SageMaker's 30 minutes by default.
	PlanEndMargin time.Duration
	// PlanPendingTimeout is how long a job may wait Pending for a plan's
	// capacity before it fails with InsufficientCapacityError (2 days).
	PlanPendingTimeout time.Duration
	// RunAs, when set, names the account a job runs as from the job's tags
	// (see confine.go); nil, or a nil account, runs it as the server.
	RunAs func(tags map[string]string) (*runas.Account, error)
	// Now is the clock (time.Now).
	Now func() time.Time
	// Logger (slog.Default()).
	Logger *slog.Logger
}

// Server is the local SageMaker endpoint. Create it with New, serve it as an
// http.Handler, and call Shutdown when done.
type Server struct {
	cfg     Config
	log     *slog.Logger
	unlock  func()
	emitCtx context.Context
	// cancelEmit gives up on Emit calls still running when Shutdown's
	// context ends.
	cancelEmit context.CancelFunc

	// program runs supervisors (Config.Supervisor, else self); self is
	// this program, which runs them when program cannot be started.
	program, self string

	mu     sync.Mutex
	jobs   map[string]*job // by lower-cased name: SageMaker names are unique regardless of case
	closed bool
	plans  *planBook
	// detach is closed when Shutdown leaves the jobs running: their
	// runners let go of them.
	detach chan struct{}

	// beforeStart, when set (by tests), runs just before a job's
	// supervisor would start; beforeRelease once it is saved, just before
	// it is released.
	beforeStart, beforeRelease func(name string)

	// wg counts the goroutines the server starts (one runner per job, one
	// event sender per job while it has events to send).
	wg sync.WaitGroup
}

// ErrNotFound is returned by ReadLog and LogPath for an unknown job.
var ErrNotFound = errors.New("localsm: training job not found")

// restartReason ends jobs that Shutdown stopped (without KeepRunning), and
// jobs that a server from before supervisors left running.
const restartReason = "CapacityError: the local SageMaker endpoint restarted while the training job ran"

// New returns a server over cfg.Dir. It loads the jobs found there and takes
// over the ones that were InProgress or Stopping when the previous server
// went away: a job whose training process still runs is adopted and
// followed to its end; one that ended meanwhile ends as its supervisor
// recorded; one whose process never started is started.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("localsm: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("localsm: %w", err)
	}
	cfg.Dir = dir
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.CheckpointDir == "" {
		cfg.CheckpointDir = filepath.Join(dir, ".checkpoints")
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PlanEndMargin <= 0 {
		cfg.PlanEndMargin = time.Duration(model.DefaultPlanEndMargin) * time.Millisecond
	}
	if cfg.PlanPendingTimeout <= 0 {
		cfg.PlanPendingTimeout = DefaultPlanPendingTimeout
	}
	if err := validatePlans(cfg.Plans); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("localsm: %w", err)
	}
	self, err := selfExecutable()
	if err != nil {
		return nil, fmt.Errorf("localsm: cannot find the program to supervise training jobs with: %w", err)
	}
	if cfg.RunAs != nil {
		if err := tightenDir(dir); err != nil {
			return nil, fmt.Errorf("localsm: %w", err)
		}
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("localsm: %s is in use by another local SageMaker endpoint: %w", dir, err)
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "localsm"),
		unlock: unlock,
		self:   self,
		jobs:   map[string]*job{},
		plans:  newPlanBook(cfg.Plans),
		detach: make(chan struct{}),
	}
	s.program = cmp.Or(cfg.Supervisor, self)
	s.emitCtx, s.cancelEmit = context.WithCancel(context.Background())
	if err := s.load(); err != nil {
		unlock()
		s.cancelEmit()
		return nil, err
	}
	if len(s.plans.order) > 0 {
		s.wg.Add(1)
		go s.watchPlans()
	}
	return s, nil
}

// Shutdown, with Config.KeepRunning, lets go of the running jobs: their
// training processes go on under their supervisors, and the next server over
// the directory adopts them. Otherwise it stops every running job as
// StopTrainingJob would (SIGTERM, grace, SIGKILL) but ends it Failed with a
// CapacityError reason, since the job did not fail or finish on its own and
// the engine should run it again. It waits for the jobs' runners and for the
// events in flight, or until ctx ends. Requests after Shutdown may still
// describe and list, but not create.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed
	if first {
		close(s.plans.done)
	}
	s.closed = true
	var stopping []*job
	if s.cfg.KeepRunning {
		if first {
			close(s.detach)
		}
	} else {
		for _, j := range s.jobs {
			if j.ready && j.rec.Status == events.TrainingInProgress {
				s.requestStopLocked(j, stopRestart)
				stopping = append(stopping, j)
			}
		}
	}
	s.mu.Unlock()
	for _, j := range stopping {
		s.commit(j)
	}

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelEmit()
		s.mu.Lock()
		unlock := s.unlock
		s.unlock = nil
		s.mu.Unlock()
		if unlock != nil {
			unlock()
		}
		return nil
	case <-ctx.Done():
		s.cancelEmit()
		return ctx.Err()
	}
}

// now is the clock at millisecond precision, the precision of events, so
// that what Describe says and what events said agree exactly.
func (s *Server) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Millisecond)
}

func (s *Server) arn(name string) string {
	return fmt.Sprintf("arn:aws:sagemaker:%s:%s:training-job/%s", s.cfg.Region, s.cfg.Account, strings.ToLower(name))
}

// ServeHTTP implements the awsJson1_1 protocol: POST / with X-Amz-Target
// SageMaker.<Operation>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID()
	w.Header().Set("x-amzn-RequestId", reqID)
	if r.Method != http.MethodPost {
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "UnknownOperationException", msg: "the SageMaker JSON protocol takes POST requests"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "SageMaker.")
	if !ok {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "UnknownOperationException", msg: fmt.Sprintf("unknown X-Amz-Target %q", target)})
		return
	}
	var handle func([]byte) (any, error)
	switch op {
	case "CreateTrainingJob":
		handle = s.createTrainingJob
	case "DescribeTrainingJob":
		handle = s.describeTrainingJob
	case "StopTrainingJob":
		handle = s.stopTrainingJob
	case "ListTrainingJobs":
		handle = s.listTrainingJobs
	case "DescribeTrainingPlan":
		handle = s.describeTrainingPlan
	case "ListTrainingPlans":
		handle = s.listTrainingPlans
	default:
		writeError(w, &apiError{status: http.StatusBadRequest, code: "UnknownOperationException", msg: fmt.Sprintf("the local SageMaker endpoint does not implement %s", op)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "SerializationException", msg: "cannot read request body: " + err.Error()})
		return
	}
	out, err := handle(body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("request failed", "operation", op, "requestId", reqID, "err", err)
			ae = &apiError{status: http.StatusInternalServerError, code: "InternalFailure", msg: err.Error()}
		}
		writeError(w, ae)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.log.Error("cannot encode response", "operation", op, "err", err)
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "InternalFailure", msg: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// maxRequestBytes bounds a request; a CreateTrainingJob at SageMaker's
// limits (100 hyperparameters, 100 environment variables, 20 channels, ...)
// is far smaller.
const maxRequestBytes = 4 << 20

// apiError is an error response. The SDK takes the error code from __type
// (or X-Amzn-ErrorType) and the message from message or Message.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validationError(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "ValidationException", msg: fmt.Sprintf(format, args...)}
}

func notFound(name string) error {
	return &apiError{status: http.StatusBadRequest, code: "ResourceNotFound", msg: fmt.Sprintf("Requested resource not found: training job %s does not exist.", name)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.msg})
	w.Write(b)
}

// decode reads a request body into v; a body that is not a JSON object of
// the right shape is a SerializationException or ValidationException, as
// with SageMaker.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return validationError("%s: cannot take a JSON %s", te.Field, te.Value)
		}
		return &apiError{status: http.StatusBadRequest, code: "SerializationException", msg: "request body is not valid JSON: " + err.Error()}
	}
	return nil
}

// newID is a random (version 4) UUID, for event ids and request ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
