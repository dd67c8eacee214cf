package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ParseTrainingJobStateChange decodes a "SageMaker Training Job State
// Change" event leniently: each field on its own, so that one that does
// not decode (a Tags that is not a map, a time in a shape of its own)
// costs that field and not the event. It returns the fields it left out
// (as "detail.Tags", "time", ...), for the caller to log and count. Only
// an event that is not a JSON object at all, or whose detail is not one,
// is an error. Fields the struct does not know are ignored, as
// encoding/json does.
func ParseTrainingJobStateChange(raw []byte) (TrainingJobStateChange, []string, error) {
	var ev TrainingJobStateChange
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		return ev, nil, fmt.Errorf("events: not an event: %w", err)
	}
	var skipped []string
	field := func(m map[string]json.RawMessage, prefix, name string, into any) {
		v, ok := m[name]
		if !ok || string(v) == "null" {
			return
		}
		if err := json.Unmarshal(v, into); err != nil {
			skipped = append(skipped, prefix+name)
		}
	}
	field(env, "", "version", &ev.Version)
	field(env, "", "id", &ev.ID)
	field(env, "", "detail-type", &ev.DetailType)
	field(env, "", "source", &ev.Source)
	field(env, "", "account", &ev.Account)
	field(env, "", "time", &ev.Time)
	field(env, "", "region", &ev.Region)
	field(env, "", "resources", &ev.Resources)
	var detail map[string]json.RawMessage
	if d, ok := env["detail"]; ok {
		if err := json.Unmarshal(d, &detail); err != nil {
			return ev, skipped, errors.New("events: the detail is not a JSON object")
		}
	}
	d := &ev.Detail
	for name, into := range map[string]any{
		"TrainingJobName": &d.TrainingJobName, "TrainingJobArn": &d.TrainingJobArn, "TrainingJobStatus": &d.TrainingJobStatus,
		"SecondaryStatus": &d.SecondaryStatus, "FailureReason": &d.FailureReason,
		"CreationTime": &d.CreationTime, "TrainingStartTime": &d.TrainingStartTime, "TrainingEndTime": &d.TrainingEndTime,
		"LastModifiedTime": &d.LastModifiedTime, "SecondaryStatusTransitions": &d.SecondaryStatusTransitions, "Tags": &d.Tags,
	} {
		field(detail, "detail.", name, into)
	}
	return ev, skipped, nil
}
