package events_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/sagequeue/sagequeue/internal/events"
)

func TestParseTrainingJobStateChangeLeniently(t *testing.T) {
	for name, tc := range map[string]struct {
		raw     string
		want    events.TrainingJob
		skipped []string
		err     bool
	}{
		"well formed": {
			raw:  `{"id":"e1","source":"aws.sagemaker","detail-type":"SageMaker Training Job State Change","time":"2025-01-01T00:00:00Z","detail":{"TrainingJobName":"sq-a-1","TrainingJobStatus":"Completed","TrainingEndTime":1735689600000,"Tags":{"k":"v"}}}`,
			want: events.TrainingJob{TrainingJobName: "sq-a-1", TrainingJobStatus: "Completed", TrainingEndTime: 1735689600000, Tags: map[string]string{"k": "v"}},
		},
		"tags as a list, an odd time, a bad envelope time": {
			raw:     `{"id":"e2","time":"yesterday","detail":{"TrainingJobName":"sq-a-1","TrainingJobStatus":"Failed","FailureReason":"AlgorithmError: x","Tags":[{"Key":"k","Value":"v"}],"TrainingStartTime":{"epoch":1},"SecondaryStatusTransitions":"none","NewField":{"x":1}}}`,
			want:    events.TrainingJob{TrainingJobName: "sq-a-1", TrainingJobStatus: "Failed", FailureReason: "AlgorithmError: x"},
			skipped: []string{"detail.SecondaryStatusTransitions", "detail.Tags", "detail.TrainingStartTime", "time"},
		},
		"nulls":              {raw: `{"detail":{"TrainingJobName":"n","Tags":null,"TrainingEndTime":null}}`, want: events.TrainingJob{TrainingJobName: "n"}},
		"not an event":       {raw: `[1,2]`, err: true},
		"a detail of a list": {raw: `{"detail":[1]}`, err: true},
	} {
		t.Run(name, func(t *testing.T) {
			ev, skipped, err := events.ParseTrainingJobStateChange([]byte(tc.raw))
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if tc.err {
				return
			}
			slices.Sort(skipped)
			if !reflect.DeepEqual(ev.Detail, tc.want) || !reflect.DeepEqual(skipped, tc.skipped) {
				t.Fatalf("got %+v skipped %v\nwant %+v skipped %v", ev.Detail, skipped, tc.want, tc.skipped)
			}
		})
	}
}
