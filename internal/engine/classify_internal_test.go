package engine

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/model"
)

func TestClassifyLaunch(t *testing.T) {
	api := func(code string, fault smithy.ErrorFault) error {
		return fmt.Errorf("operation error SageMaker: CreateTrainingJob: %w", &smithy.GenericAPIError{Code: code, Message: "m", Fault: fault})
	}
	status := func(code int, err error) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: err}}
	}
	for name, tc := range map[string]struct {
		err  error
		want outcomeClass
	}{
		"an account quota":   {api("ResourceLimitExceeded", smithy.FaultClient), classResourceLimit},
		"throttled":          {api("ThrottlingException", smithy.FaultClient), classThrottled},
		"too many requests":  {api("TooManyRequestsException", smithy.FaultUnknown), classThrottled},
		"a capacity error":   {api("CapacityError", smithy.FaultServer), classCapacity},
		"a bad payload":      {api("ValidationException", smithy.FaultClient), classRefused},
		"refused by the SDK": {smithy.InvalidParamsError{}, classRefused},
		"an unmodeled 4xx":   {status(400, &smithy.GenericAPIError{Code: "Odd"}), classRefused},
		"a server error":     {status(500, &smithy.GenericAPIError{Code: "InternalFailure"}), classUnknown},
		"a timeout":          {errors.New("context deadline exceeded"), classUnknown},
	} {
		if got := classifyLaunch(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func TestClassifyEnd(t *testing.T) {
	for reason, want := range map[string]outcomeClass{
		"CapacityError: Unable to provision requested ML compute capacity": classCapacity,
		"ResourceLimitExceeded: The account-level service limit ...":       classResourceLimit,
		"AlgorithmError: exit code 1":                                      classAttempt,
		"":                                                                 classAttempt,
		launchFailed + "ValidationException: bad":                          classAttempt,
	} {
		if got := classifyEnd(events.TrainingJob{FailureReason: reason}); got != want {
			t.Errorf("%q: %v, want %v", reason, got, want)
		}
	}
}

func TestMergeHeads(t *testing.T) {
	job := func(id string, created, version int64, st model.JobStatus) *model.ServiceJob {
		return &model.ServiceJob{JobID: id, CreatedAt: created, Version: version, Status: st}
	}
	ids := func(js []*model.ServiceJob) []string {
		out := []string{}
		for _, j := range js {
			out = append(out, fmt.Sprintf("%s@%d", j.JobID, j.Version))
		}
		return out
	}
	r := model.StatusRunnable
	for name, tc := range map[string]struct {
		heads   []*model.ServiceJob
		more    bool
		fresh   []*model.ServiceJob
		holding map[string]bool
		want    []string
	}{
		"the index has not caught up": {
			heads: []*model.ServiceJob{job("a", 1, 2, r)}, fresh: []*model.ServiceJob{job("c", 3, 2, r), job("b", 2, 2, r)},
			want: []string{"a@2", "b@2", "c@2"},
		},
		"the fresher copy wins": {
			heads: []*model.ServiceJob{job("a", 1, 2, r)}, fresh: []*model.ServiceJob{job("a", 1, 3, r)},
			want: []string{"a@3"},
		},
		"behind a truncated read": {
			heads: []*model.ServiceJob{job("a", 1, 2, r), job("c", 3, 2, r)}, more: true,
			fresh: []*model.ServiceJob{job("b", 2, 2, r), job("z", 9, 2, r)},
			want:  []string{"a@2", "b@2", "c@2"},
		},
		"admitted a moment ago": {
			heads: []*model.ServiceJob{job("a", 1, 2, r), job("b", 2, 2, r)}, holding: map[string]bool{"a": true},
			want: []string{"b@2"},
		},
	} {
		if got := ids(mergeHeads(tc.heads, tc.more, tc.fresh, tc.holding)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
