package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

const payloadField = "serviceRequestPayload"

// TrainingRequest is what sagequeue reads from a service request payload, a
// SageMaker CreateTrainingJob request in JSON. The rest of the payload is
// passed to SageMaker untouched.
type TrainingRequest struct {
	TrainingJobName string
	// InstanceType is ResourceConfig.InstanceType, or the types of the
	// instance groups joined with "+" for heterogeneous clusters.
	InstanceType string
	// InstanceCount is ResourceConfig.InstanceCount, or the sum over
	// ResourceConfig.InstanceGroups; 1 when the payload names neither.
	InstanceCount int64
	// MaxRuntimeSeconds is StoppingCondition.MaxRuntimeInSeconds, 0 if unset.
	MaxRuntimeSeconds int64
	TrainingPlanArn   string
	// RoleArn is the IAM role SageMaker runs the job with.
	RoleArn string
	// TrainingImage and AlgorithmName are what AlgorithmSpecification
	// runs; Entrypoint says whether it sets ContainerEntrypoint.
	TrainingImage, AlgorithmName string
	Entrypoint                   bool
}

type payloadDoc struct {
	TrainingJobName        *string `json:"TrainingJobName"`
	RoleArn                *string `json:"RoleArn"`
	AlgorithmSpecification *struct {
		TrainingImage       *string  `json:"TrainingImage"`
		AlgorithmName       *string  `json:"AlgorithmName"`
		ContainerEntrypoint []string `json:"ContainerEntrypoint"`
	} `json:"AlgorithmSpecification"`
	ResourceConfig *struct {
		InstanceType    *string `json:"InstanceType"`
		InstanceCount   *int64  `json:"InstanceCount"`
		TrainingPlanArn *string `json:"TrainingPlanArn"`
		InstanceGroups  []struct {
			InstanceGroupName *string `json:"InstanceGroupName"`
			InstanceType      *string `json:"InstanceType"`
			InstanceCount     *int64  `json:"InstanceCount"`
		} `json:"InstanceGroups"`
	} `json:"ResourceConfig"`
	StoppingCondition *struct {
		MaxRuntimeInSeconds *int64 `json:"MaxRuntimeInSeconds"`
	} `json:"StoppingCondition"`
	InputDataConfig []struct {
		ChannelName *string `json:"ChannelName"`
	} `json:"InputDataConfig"`
}

// ParsePayload reads a CreateTrainingJob request. Errors are *ValidationError
// naming the member, e.g.
// "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1".
func ParsePayload(payload string) (TrainingRequest, error) {
	var tr TrainingRequest
	if strings.TrimSpace(payload) == "" {
		return tr, Invalid(payloadField, "is required: a SageMaker CreateTrainingJob request in JSON")
	}
	if len(payload) > MaxPayloadBytes {
		return tr, Invalidf(payloadField, "must be at most %d bytes, got %d", MaxPayloadBytes, len(payload))
	}
	var raw any
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return tr, JSONError(payloadField, err)
	}
	if dec.More() {
		return tr, Invalid(payloadField, "must be a single JSON object; found more after it")
	}
	if _, ok := raw.(map[string]any); !ok {
		return tr, Invalidf(payloadField, "must be a JSON object (a SageMaker CreateTrainingJob request), got %s", jsonKind(raw))
	}
	// The shape first: what SageMaker would refuse is refused now, naming
	// the member, rather than failing the job at launch.
	if err := checkTrainingShape(payloadField, raw); err != nil {
		return tr, err
	}
	var doc payloadDoc
	if err := json.Unmarshal([]byte(payload), &doc); err != nil {
		return tr, JSONError(payloadField, err)
	}

	if doc.TrainingJobName != nil {
		tr.TrainingJobName = *doc.TrainingJobName
	}
	if doc.RoleArn != nil {
		tr.RoleArn = *doc.RoleArn
	}
	if as := doc.AlgorithmSpecification; as != nil {
		if as.TrainingImage != nil {
			tr.TrainingImage = *as.TrainingImage
		}
		if as.AlgorithmName != nil {
			tr.AlgorithmName = *as.AlgorithmName
		}
		tr.Entrypoint = len(as.ContainerEntrypoint) > 0
	}
	tr.InstanceCount = 1
	if rc := doc.ResourceConfig; rc != nil {
		const f = payloadField + ".ResourceConfig"
		if rc.TrainingPlanArn != nil && *rc.TrainingPlanArn != "" {
			if !IsTrainingPlanARN(*rc.TrainingPlanArn) {
				return tr, Invalidf(f+".TrainingPlanArn", "must be a SageMaker training plan ARN, got %q", *rc.TrainingPlanArn)
			}
			tr.TrainingPlanArn = *rc.TrainingPlanArn
		}
		if len(rc.InstanceGroups) > 0 {
			if rc.InstanceCount != nil || rc.InstanceType != nil {
				return tr, Invalid(f+".InstanceGroups", "cannot be combined with InstanceCount or InstanceType")
			}
			var total int64
			var types []string
			for i, g := range rc.InstanceGroups {
				gf := fmt.Sprintf("%s.InstanceGroups[%d]", f, i)
				if g.InstanceCount == nil {
					return tr, Invalid(gf+".InstanceCount", "is required")
				}
				if err := checkInstanceCount(gf+".InstanceCount", *g.InstanceCount); err != nil {
					return tr, err
				}
				total += *g.InstanceCount
				if g.InstanceType != nil {
					types = append(types, *g.InstanceType)
				}
			}
			if err := checkInstanceCount(f+".InstanceGroups", total); err != nil {
				return tr, err
			}
			tr.InstanceCount = total
			tr.InstanceType = strings.Join(types, "+")
		} else {
			if rc.InstanceCount != nil {
				if err := checkInstanceCount(f+".InstanceCount", *rc.InstanceCount); err != nil {
					return tr, err
				}
				tr.InstanceCount = *rc.InstanceCount
			}
			if rc.InstanceType != nil {
				tr.InstanceType = *rc.InstanceType
			}
		}
	}
	if sc := doc.StoppingCondition; sc != nil && sc.MaxRuntimeInSeconds != nil {
		if n := *sc.MaxRuntimeInSeconds; n < 1 || n > MaxTrainingRuntimeSeconds {
			return tr, Invalidf(payloadField+".StoppingCondition.MaxRuntimeInSeconds",
				"must be from 1 to %d seconds (28 days, SageMaker's longest training job), got %d", MaxTrainingRuntimeSeconds, n)
		}
		tr.MaxRuntimeSeconds = *sc.MaxRuntimeInSeconds
	}
	if err := checkChannels(doc.InputDataConfig); err != nil {
		return tr, err
	}
	return tr, nil
}

// MaxTrainingRuntimeSeconds is the longest MaxRuntimeInSeconds SageMaker
// takes: 28 days (API reference, StoppingCondition).
const MaxTrainingRuntimeSeconds = 28 * 24 * 3600

// MaxChannelNameLength is SageMaker's limit on a channel name.
const MaxChannelNameLength = 64

// checkChannels checks InputDataConfig's channel names as SageMaker does
// (1 to 64 of [A-Za-z0-9.-_], each once), and refuses "." and "..", which
// SageMaker's pattern lets through but which name no directory of their
// own under /opt/ml/input/data.
func checkChannels(channels []struct {
	ChannelName *string `json:"ChannelName"`
}) error {
	seen := map[string]int{}
	for i, ch := range channels {
		f := fmt.Sprintf("%s.InputDataConfig[%d].ChannelName", payloadField, i)
		if ch.ChannelName == nil {
			return Invalid(f, "is required")
		}
		name := *ch.ChannelName
		if name == "" || len(name) > MaxChannelNameLength {
			return Invalidf(f, "must be 1 to %d characters, got %d", MaxChannelNameLength, len(name))
		}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return Invalidf(f, "may contain only letters, digits, '.', '-' and '_' (SageMaker's pattern [A-Za-z0-9.\\-_]+); found %q in %q", c, name)
			}
		}
		if name == "." || name == ".." {
			return Invalidf(f, "%q names no directory of its own under /opt/ml/input/data", name)
		}
		if j, ok := seen[name]; ok {
			return Invalidf(f, "%q is already the name of InputDataConfig[%d]", name, j)
		}
		seen[name] = i
	}
	return nil
}

// MaxInstanceCount bounds the instances of one job; no SageMaker cluster comes
// near it, and it keeps capacity arithmetic far from overflow.
const MaxInstanceCount = 100000

func checkInstanceCount(field string, n int64) error {
	if n < 1 {
		return Invalidf(field, "must be at least 1, got %d", n)
	}
	if n > MaxInstanceCount {
		return Invalidf(field, "must be at most %d instances, got %d", MaxInstanceCount, n)
	}
	return nil
}

// JSONError turns an encoding/json decoding error into a ValidationError
// that names the member, with root (e.g. "serviceRequestPayload") in front of
// the JSON path; an empty root names request members directly.
func JSONError(root string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := root
		if te.Field != "" {
			if field != "" {
				field += "."
			}
			field += te.Field
		}
		return Invalidf(field, "must be %s, got JSON %s", describeType(te.Type), te.Value)
	}
	name := root
	if name == "" {
		name = "request body"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Invalidf(name, "is not valid JSON at byte %d: %v", se.Offset, se)
	}
	return Invalidf(name, "is not valid JSON: %v", err)
}

func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	}
	return "a " + t.Kind().String()
}
