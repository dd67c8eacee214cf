package api

import (
	"context"
	"strings"
)

// ActionKind sorts operations by what they may change.
type ActionKind int

const (
	// KindRead operations change nothing: Describe*, List*, Get*, Search*.
	KindRead ActionKind = iota
	// KindJob operations act on jobs: submit, terminate, update.
	KindJob
	// KindConfig operations change environments, policies, queues and
	// anything else that is not a job.
	KindConfig
)

// Action is what a request is about to do, as Config.Access sees it.
type Action struct {
	// Operation is the API name, "SubmitServiceJob"; Access names the
	// permission batch:<Operation>, as IAM does.
	Operation string
	Kind      ActionKind
	// Resource is the ARN acted on, when known.
	Resource string
	// Queue is the name of the job queue a job is submitted to.
	Queue string
	// Owner is the submittedBy of the job terminated or updated.
	Owner string
}

// Access decides whether the caller of a request (whom it finds in the
// request's context) may take an action. Read and configuration operations
// are asked before they run; job operations once they know their queue or
// job, so that no refused request stores or changes anything.
type Access interface {
	Allow(ctx context.Context, a Action) error
}

// AccessDeniedError is what Access returns to refuse: AWS answers a request
// that IAM does not allow with HTTP 403 AccessDeniedException and a message
// naming the principal, the action and the resource.
type AccessDeniedError struct{ Message string }

func (e *AccessDeniedError) Error() string { return e.Message }

// operationNames are the API names of the operations, by their lower-case
// path; an operation missing here is named by its path.
var operationNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"SubmitServiceJob", "DescribeServiceJob", "ListServiceJobs", "TerminateServiceJob", "UpdateServiceJob",
		"GetJobQueueSnapshot", "CreateServiceEnvironment", "UpdateServiceEnvironment", "DescribeServiceEnvironments",
		"DeleteServiceEnvironment", "CreateJobQueue", "UpdateJobQueue", "DescribeJobQueues", "DeleteJobQueue",
		"CreateSchedulingPolicy", "UpdateSchedulingPolicy", "DescribeSchedulingPolicies", "ListSchedulingPolicies",
		"DeleteSchedulingPolicy", "GetServiceJobLogs", "GetDashboard", "GetUtilization", "SearchServiceJobs",
		"CreateQuotaShare", "UpdateQuotaShare", "DescribeQuotaShare", "ListQuotaShares", "DeleteQuotaShare",
		"DescribeTrainingPlans",
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

func operationName(op string) string {
	if n, ok := operationNames[strings.ToLower(op)]; ok {
		return n
	}
	return op
}

// actionKind classifies an operation by its name, so that an operation
// added later is a configuration change (for admins only) unless its name
// says that it reads.
func actionKind(op string) ActionKind {
	op = strings.ToLower(op)
	switch op {
	case "submitservicejob", "terminateservicejob", "updateservicejob":
		return KindJob
	}
	for _, p := range []string{"describe", "list", "get", "search"} {
		if strings.HasPrefix(op, p) {
			return KindRead
		}
	}
	return KindConfig
}

// allow asks Config.Access, when there is one.
func (h *Handler) allow(ctx context.Context, a Action) error {
	if h.cfg.Access == nil {
		return nil
	}
	return h.cfg.Access.Allow(ctx, a)
}
