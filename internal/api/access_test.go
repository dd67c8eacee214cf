package api_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/model"
)

// policy is an Access that records what it is asked and refuses what deny
// says.
type policy struct {
	mu    sync.Mutex
	asked []api.Action
	deny  func(api.Action) bool
}

func (p *policy) Allow(_ context.Context, a api.Action) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, a)
	if p.deny != nil && p.deny(a) {
		return &api.AccessDeniedError{Message: "User: tester is not authorized to perform: batch:" + a.Operation}
	}
	return nil
}

// refuseAll refuses everything until the returned func is called.
func (p *policy) refuseAll() (restore func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deny, p.asked = func(api.Action) bool { return true }, nil
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.deny = nil
	}
}

func (p *policy) last() api.Action {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.asked) == 0 {
		return api.Action{}
	}
	return p.asked[len(p.asked)-1]
}

// accessDenied asserts err is AWS's answer to a request IAM does not allow.
func accessDenied(t *testing.T, err error, op string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("%s: got %v, want HTTP 403 AccessDeniedException", op, err)
	}
	if want := "batch:" + op; !contains([]string{ae.ErrorMessage()}, "User: tester is not authorized to perform: "+want) {
		t.Fatalf("%s: message %q does not name %s", op, ae.ErrorMessage(), want)
	}
}

func TestAccessIsAskedBeforeAnythingChanges(t *testing.T) {
	p := &policy{}
	h := newHarnessWith(t, func(c *api.Config) {
		c.Access = p
		c.Identity = func(*http.Request) string { return "alice" }
	})
	h.setup(8)
	id := h.submit("fair", "mine", "research", 1)

	for name, tc := range map[string]struct {
		call func() error
		want api.Action
	}{
		"a read": {
			call: func() error { _, err := h.client.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{}); return err },
			want: api.Action{Operation: "DescribeJobQueues", Kind: api.KindRead},
		},
		"an extension read": {
			call: func() error { s, _, _ := h.raw("getdashboard", []byte(`{}`)); return statusErr(s) },
			want: api.Action{Operation: "GetDashboard", Kind: api.KindRead},
		},
		"a configuration change": {
			call: func() error {
				_, err := h.client.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("fifo"), Priority: aws.Int32(7)})
				return err
			},
			want: api.Action{Operation: "UpdateJobQueue", Kind: api.KindConfig},
		},
		"a submission names its queue": {
			call: func() error {
				_, err := h.client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("x"), JobQueue: aws.String(arn(model.KindJobQueue, "fifo")),
					ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(payload)})
				return err
			},
			want: api.Action{Operation: "SubmitServiceJob", Kind: api.KindJob, Queue: "fifo", Resource: arn(model.KindJobQueue, "fifo")},
		},
		"a termination names the job's owner": {
			call: func() error {
				_, err := h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &id, Reason: aws.String("r")})
				return err
			},
			want: api.Action{Operation: "TerminateServiceJob", Kind: api.KindJob, Owner: "alice", Resource: arn(model.KindServiceJob, id)},
		},
		"an update names the job's owner": {
			call: func() error {
				_, err := h.client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &id, SchedulingPriority: aws.Int32(9)})
				return err
			},
			want: api.Action{Operation: "UpdateServiceJob", Kind: api.KindJob, Owner: "alice", Resource: arn(model.KindServiceJob, id)},
		},
	} {
		t.Run(name, func(t *testing.T) {
			jobs := h.jobCount()
			before, _ := h.store.GetJob(ctx, id)
			queue, _ := h.store.GetQueue(ctx, "fifo")
			restore := p.refuseAll()
			err := tc.call()
			restore()
			if got := p.last(); got != tc.want {
				t.Errorf("Access was asked %+v, want %+v", got, tc.want)
			}
			if name == "an extension read" {
				if err == nil {
					t.Fatal("a refused read answered")
				}
			} else {
				accessDenied(t, err, tc.want.Operation)
			}
			after, _ := h.store.GetJob(ctx, id)
			if h.jobCount() != jobs || after.Version != before.Version {
				t.Errorf("a refused request changed jobs: %d -> %d jobs, version %d -> %d", jobs, h.jobCount(), before.Version, after.Version)
			}
			if q, _ := h.store.GetQueue(ctx, "fifo"); q.Priority != queue.Priority {
				t.Errorf("a refused request changed the queue's priority to %d", q.Priority)
			}
		})
	}
	// Allowed, the same calls go through.
	if _, err := h.client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &id, SchedulingPriority: aws.Int32(9)}); err != nil {
		t.Fatal(err)
	}
}

func statusErr(status int) error {
	if status != http.StatusOK {
		return errors.New(http.StatusText(status))
	}
	return nil
}
