package engine

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
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

// TestClassifyEnd: the FailureReason of an attempt that reached training
// (so neither waiting for capacity nor on a plan) decides its class, and the
// classes that use no attempt come with their statusReason.
func TestClassifyEnd(t *testing.T) {
	running := &model.ServiceJob{Status: model.StatusRunning}
	a := &model.Attempt{StartedAt: 1}
	for reason, want := range map[string]struct {
		class  outcomeClass
		prefix string
	}{
		"CapacityError: Unable to provision requested ML compute capacity": {classCapacity, model.ReasonCapacity + " - Unable to provision requested compute resources (CapacityError: Unable"},
		"ResourceLimitExceeded: The account-level service limit ...":       {classResourceLimit, model.ReasonResourceLimit + " - SageMaker refused the training job for an account quota (ResourceLimitExceeded: The account-level"},
		infrastructureError + ": DISK_FULL - no space left on device":      {classInfrastructure, model.ReasonInfrastructure + ":DISK_FULL - no space left on device"},
		"AlgorithmError: exit code 1":                                      {classAttempt, ""},
		"InsufficientCapacityError: lost an instance":                      {classAttempt, ""},
		"": {classAttempt, ""},
		launchFailed + "ValidationException: bad": {classAttempt, ""},
	} {
		got, why := classifyEnd(running, a, events.TrainingJob{TrainingJobStatus: events.TrainingFailed, FailureReason: reason, TrainingStartTime: 1}, 2)
		if got != want.class || !strings.HasPrefix(why, want.prefix) || (want.prefix == "") != (why == "") {
			t.Errorf("%q: %v %q, want %v %q...", reason, got, why, want.class, want.prefix)
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

// TestClassifyEndAtWindowEnd: an attempt on a training plan that ends at or
// after the end of its window lost its instances to the window's end,
// whatever SageMaker reports; one that ends before it failed on its own.
func TestClassifyEndAtWindowEnd(t *testing.T) {
	const windowEnd = int64(1_800_000_000_000)
	running := &model.ServiceJob{Status: model.StatusRunning}
	a := &model.Attempt{StartedAt: windowEnd - 3_600_000, PlanWindowEnd: windowEnd}
	tests := map[string]struct {
		tj   events.TrainingJob
		want outcomeClass
	}{
		"failed after the window ended": {
			tj:   events.TrainingJob{TrainingJobStatus: events.TrainingFailed, FailureReason: "InternalServerError: instance terminated", TrainingEndTime: events.Millis(windowEnd + 60_000)},
			want: classCapacity,
		},
		"stopped as the window ended": {
			tj:   events.TrainingJob{TrainingJobStatus: events.TrainingStopped, SecondaryStatus: "Stopped", TrainingEndTime: events.Millis(windowEnd)},
			want: classCapacity,
		},
		"failed before the window ended": {
			tj:   events.TrainingJob{TrainingJobStatus: events.TrainingFailed, FailureReason: "AlgorithmError: boom", TrainingEndTime: events.Millis(windowEnd - 1)},
			want: classAttempt,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, reason := classifyEnd(running, a, tc.tj, windowEnd)
			if got != tc.want {
				t.Fatalf("kind %v, want %v", got, tc.want)
			}
			if got == classCapacity && !strings.HasPrefix(reason, model.ReasonCapacity+" - The training plan's window ended at 2027-01-15T08:00:00Z") {
				t.Errorf("reason %q", reason)
			}
		})
	}
	// Without a plan window, the same failure after the fact is a failure.
	if got, _ := classifyEnd(running, &model.Attempt{StartedAt: 1}, tests["failed after the window ended"].tj, windowEnd); got != classAttempt {
		t.Errorf("an attempt off any plan: %v", got)
	}
}
