// Package events holds the shapes of the events sagequeue consumes and emits,
// in the EventBridge envelope:
//
//   - in: "SageMaker Training Job State Change" from aws.sagemaker (or from the
//     local SageMaker endpoint, which emits the same shape). Times in the
//     detail are epoch-millisecond numbers and Tags is a map, unlike the
//     DescribeTrainingJob API, so they decode into our own struct.
//   - out: "Service Job State Change" from sagequeue, whose detail is shaped
//     like DescribeServiceJob without serviceRequestPayload and tags; and
//     "Schedule Requested", which asks for a scheduling pass.
//
// A Bus carries events out: EventBridge in the cloud, an in-process bus
// locally.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Sources and detail types.
const (
	SourceSageMaker                  = "aws.sagemaker"
	DetailTypeTrainingJobStateChange = "SageMaker Training Job State Change"
	Source                           = "sagequeue"
	DetailTypeJobStateChange         = "Service Job State Change"
	DetailTypeScheduleRequested      = "Schedule Requested"
)

// Envelope is the EventBridge event envelope.
type Envelope[T any] struct {
	Version    string    `json:"version"`
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Time       time.Time `json:"time"`
	Region     string    `json:"region"`
	Resources  []string  `json:"resources"`
	Detail     T         `json:"detail"`
}

// TrainingJobStateChange is the event SageMaker sends on every training job
// status or secondary status change.
type TrainingJobStateChange = Envelope[TrainingJob]

// TrainingJob is the detail of a training job state change: the fields of
// DescribeTrainingJob that sagequeue reads.
type TrainingJob struct {
	TrainingJobName            string                      `json:"TrainingJobName"`
	TrainingJobArn             string                      `json:"TrainingJobArn"`
	TrainingJobStatus          string                      `json:"TrainingJobStatus"`
	SecondaryStatus            string                      `json:"SecondaryStatus,omitempty"`
	FailureReason              string                      `json:"FailureReason,omitempty"`
	CreationTime               Millis                      `json:"CreationTime,omitempty"`
	TrainingStartTime          Millis                      `json:"TrainingStartTime,omitempty"`
	TrainingEndTime            Millis                      `json:"TrainingEndTime,omitempty"`
	LastModifiedTime           Millis                      `json:"LastModifiedTime,omitempty"`
	SecondaryStatusTransitions []SecondaryStatusTransition `json:"SecondaryStatusTransitions,omitempty"`
	Tags                       map[string]string           `json:"Tags,omitempty"`
}

// SecondaryStatusTransition is one step of a training job's secondary status.
type SecondaryStatusTransition struct {
	Status        string `json:"Status"`
	StartTime     Millis `json:"StartTime,omitempty"`
	EndTime       Millis `json:"EndTime,omitempty"`
	StatusMessage string `json:"StatusMessage,omitempty"`
}

// SageMaker training job statuses.
const (
	TrainingInProgress = "InProgress"
	TrainingCompleted  = "Completed"
	TrainingFailed     = "Failed"
	TrainingStopping   = "Stopping"
	TrainingStopped    = "Stopped"
)

// Millis is a time in epoch milliseconds. It decodes from a JSON number
// (integer or not) or a numeric or RFC 3339 string, since producers differ.
type Millis int64

// UnmarshalJSON implements json.Unmarshaler.
func (m *Millis) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = 0
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		if i, err := n.Int64(); err == nil {
			*m = Millis(i)
			return nil
		}
		f, err := n.Float64()
		if err != nil {
			return fmt.Errorf("time %s: %w", b, err)
		}
		*m = Millis(int64(f))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time %s: want epoch milliseconds", b)
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*m = Millis(i)
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q: want epoch milliseconds or RFC 3339", s)
	}
	*m = Millis(t.UnixMilli())
	return nil
}

// Event is one event to publish.
type Event struct {
	Source     string
	DetailType string
	Resources  []string
	Time       time.Time
	Detail     any
}

// Bus publishes events. Implementations deliver at least once.
type Bus interface {
	Publish(ctx context.Context, events ...Event) error
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
