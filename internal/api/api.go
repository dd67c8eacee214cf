// Package api is sagequeue's HTTP face: a net/http handler that speaks the AWS
// Batch REST-JSON protocol for service jobs, so the AWS SDK Batch client (and
// the AWS CLI, and anything built on them) works against sagequeue unchanged.
//
// Every operation is POST /v1/<operation name in lower case> with a JSON body
// whose member names are those of the Batch API. Errors follow the protocol:
// HTTP 400 with X-Amzn-ErrorType ClientException and {"message": ...} naming
// the field and the rule; 429 TooManyRequestsException when a record keeps
// changing under us or the store is throttled; 500 ServerException when
// something broke. A rejected
// request stores and changes nothing.
//
// The handler is the same in `sagequeue serve` and behind API Gateway; it
// knows nothing of the engine. GET requests outside /v1/ get the web
// dashboard (package dashboard), which reads this API from the same origin;
// requests that other web sites' pages make are refused. It tells the rest of the system about the jobs
// it stores or changes through Hooks, and asks Config.Access, when set, what
// each caller may do (access.go).
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sagequeue/sagequeue/internal/dashboard"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// MaxBodyBytes bounds a request body. The largest legal request, a submit
// with a 10 KiB payload and 50 tags, is far below it.
const MaxBodyBytes = 64 * 1024

// Hooks is told about what the API changed, after the change is stored, so
// that the engine can react: run a pass, publish a state change event, stop a
// training job.
type Hooks interface {
	// JobChanged follows a stored or changed job; previous is "" for a new one.
	JobChanged(ctx context.Context, job *model.ServiceJob, previous model.JobStatus)
	// ConfigChanged follows a change to an environment, policy or queue.
	ConfigChanged(ctx context.Context)
}

// Config is what the handler needs. Nil fields get defaults.
type Config struct {
	Store   store.Store
	Account model.Account
	// Now is the clock (time.Now).
	Now func() time.Time
	// NewID mints job IDs (UUIDv7: time-ordered, so IDs break createdAt ties
	// in submission order).
	NewID func() string
	Hooks Hooks
	// Identity returns the caller's identity for auditing (the IAM principal
	// behind API Gateway); nil records none.
	Identity func(r *http.Request) string
	// RequestID returns the id of a request (X-Amzn-Requestid, and the id in
	// server error messages and logs): the one API Gateway gave it, so that
	// the caller, API Gateway's logs and ours agree. Nil, or "", mints one.
	RequestID func(r *http.Request) string
	// ExecutionRoles, when set, are the only IAM roles a payload may name as
	// RoleArn: the roles the deployment may pass to SageMaker. A payload
	// naming another is refused at submission rather than failing at launch.
	ExecutionRoles []string
	// LocalEndpoint, when set, is what the local SageMaker endpoint that
	// runs this server's jobs can run (sagequeue serve): a payload it
	// cannot run is refused at submission rather than failing at launch.
	// Nil (the cloud) accepts what SageMaker accepts.
	LocalEndpoint *LocalEndpoint
	// Logs reads training job logs for getservicejoblogs; nil has none.
	Logs LogReader
	// Plans describes the SageMaker training plans environments name (for
	// describetrainingplans and the checks of environments and
	// submissions); nil describes none.
	Plans PlanSource
	// PlanEndMargin is how long before a plan's reserved capacity ends its
	// usable part does (SageMaker's 30 minutes when 0).
	PlanEndMargin time.Duration
	// Access, when set, decides what each caller may do (see access.go);
	// nil allows everything.
	Access Access
	Logger *slog.Logger
}

// Handler serves the Batch API.
type Handler struct {
	cfg Config
	ops map[string]func(ctx context.Context, r *request) (any, error)
}

// New returns the API handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = newJobID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Account.ID == "" {
		cfg.Account = model.LocalAccount
	}
	if cfg.PlanEndMargin <= 0 {
		cfg.PlanEndMargin = time.Duration(model.DefaultPlanEndMargin) * time.Millisecond
	}
	h := &Handler{cfg: cfg}
	h.ops = map[string]func(context.Context, *request) (any, error){
		"submitservicejob":            h.submitServiceJob,
		"describeservicejob":          h.describeServiceJob,
		"listservicejobs":             h.listServiceJobs,
		"terminateservicejob":         h.terminateServiceJob,
		"updateservicejob":            h.updateServiceJob,
		"getjobqueuesnapshot":         h.getJobQueueSnapshot,
		"createserviceenvironment":    h.createServiceEnvironment,
		"updateserviceenvironment":    h.updateServiceEnvironment,
		"describeserviceenvironments": h.describeServiceEnvironments,
		"deleteserviceenvironment":    h.deleteServiceEnvironment,
		"createjobqueue":              h.createJobQueue,
		"updatejobqueue":              h.updateJobQueue,
		"describejobqueues":           h.describeJobQueues,
		"deletejobqueue":              h.deleteJobQueue,
		"createschedulingpolicy":      h.createSchedulingPolicy,
		"updateschedulingpolicy":      h.updateSchedulingPolicy,
		"describeschedulingpolicies":  h.describeSchedulingPolicies,
		"listschedulingpolicies":      h.listSchedulingPolicies,
		"deleteschedulingpolicy":      h.deleteSchedulingPolicy,
		"createquotashare":            h.createQuotaShare,
		"updatequotashare":            h.updateQuotaShare,
		"describequotashare":          h.describeQuotaShare,
		"listquotashares":             h.listQuotaShares,
		"deletequotashare":            h.deleteQuotaShare,
		// sagequeue extensions
		"getservicejoblogs":     h.getServiceJobLogs,
		"getdashboard":          h.getDashboard,
		"getutilization":        h.getUtilization,
		"searchservicejobs":     h.searchServiceJobs,
		"describetrainingplans": h.describeTrainingPlans,
	}
	return h
}

func newJobID() string { return uuid.Must(uuid.NewV7()).String() }

// request is one decoded API call.
type request struct {
	http *http.Request
	body []byte
	now  time.Time
}

// decode reads the body into v. Unknown members are ignored, as AWS does.
func (r *request) decode(v any) error {
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil // an empty body is an empty request
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return model.JSONError("", err)
	}
	return nil
}

func (r *request) nowMs() int64 { return r.now.UnixMilli() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	reqID := ""
	if h.cfg.RequestID != nil {
		reqID = h.cfg.RequestID(hr)
	}
	if reqID == "" {
		reqID = uuid.NewString()
	}
	w.Header().Set("X-Amzn-Requestid", reqID)
	op, ok := strings.CutPrefix(hr.URL.Path, "/v1/")
	if !ok && (hr.Method == http.MethodGet || hr.Method == http.MethodHead) {
		// The web dashboard, which reads this API from the same origin.
		dashboard.ServeHTTP(w, hr)
		return
	}
	if dashboard.CrossSite(hr) {
		writeError(w, http.StatusForbidden, "AccessDeniedException",
			"cross-site requests from web browsers are refused: only pages served by this endpoint (its dashboard) may call it")
		return
	}
	handle := h.ops[strings.ToLower(op)]
	if !ok || handle == nil {
		writeError(w, http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("unknown operation %s %s", hr.Method, hr.URL.Path))
		return
	}
	if hr.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "ClientException", fmt.Sprintf("%s must be called with POST", hr.URL.Path))
		return
	}
	if kind := actionKind(op); kind != KindJob {
		// Job operations ask once they know the queue or the job.
		if err := h.allow(hr.Context(), Action{Operation: operationName(op), Kind: kind}); err != nil {
			h.fail(w, hr, reqID, op, err)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(hr.Body, MaxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "ClientException", "request body: could not be read: "+err.Error())
		return
	}
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusBadRequest, "ClientException", fmt.Sprintf("request body: must be at most %d bytes", MaxBodyBytes))
		return
	}
	req := &request{http: hr, body: body, now: h.cfg.Now()}
	out, err := h.call(hr.Context(), handle, req)
	if err != nil {
		h.fail(w, hr, reqID, op, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.cfg.Logger.Warn("writing response", "op", op, "requestId", reqID, "err", err)
	}
}

// call runs an operation, turning a panic into a server error: one bad
// request must not take the server down.
func (h *Handler) call(ctx context.Context, handle func(context.Context, *request) (any, error), r *request) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return handle(ctx, r)
}

// clientError is a refused request whose message is for the caller.
type clientError struct{ msg string }

func (e *clientError) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &clientError{msg: fmt.Sprintf(format, args...)} }

// errBusy means a record kept changing while we tried to update it.
var errBusy = errors.New("busy")

func (h *Handler) fail(w http.ResponseWriter, hr *http.Request, reqID, op string, err error) {
	var ce *clientError
	var denied *AccessDeniedError
	switch {
	case errors.As(err, &denied):
		writeError(w, http.StatusForbidden, "AccessDeniedException", denied.Message)
	case model.IsValidation(err):
		writeError(w, http.StatusBadRequest, "ClientException", err.Error())
	case errors.As(err, &ce):
		writeError(w, http.StatusBadRequest, "ClientException", ce.msg)
	case errors.Is(err, errBusy):
		writeError(w, http.StatusTooManyRequests, "TooManyRequestsException", "the resource is being changed by other requests; retry")
	case errors.Is(err, store.ErrThrottled):
		writeError(w, http.StatusTooManyRequests, "TooManyRequestsException", "sagequeue's table is over its throughput; retry")
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusBadRequest, "ClientException", "request canceled")
	default:
		h.cfg.Logger.Error("request failed", "op", op, "requestId", reqID, "err", err)
		writeError(w, http.StatusInternalServerError, "ServerException", "internal error (request id "+reqID+")")
	}
}

func writeError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("X-Amzn-ErrorType", kind)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": kind, "message": msg})
}

// retries bounds read-modify-write loops that lose to concurrent writers.
const retries = 8

// required returns the value of a required string member.
func required(field string, v *string) (string, error) {
	if v == nil || *v == "" {
		return "", model.Invalid(field, "is required")
	}
	return *v, nil
}

func str(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

// pageSize checks maxResults (1-100, default 100).
func pageSize(v *int32) (int, error) {
	if v == nil {
		return 100, nil
	}
	if *v < 1 || *v > 100 {
		return 0, model.Invalidf("maxResults", "must be between 1 and 100, got %d", *v)
	}
	return int(*v), nil
}
