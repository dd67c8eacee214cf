package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Defaults of a payload built from flags alone.
const (
	defaultInstanceType   = "ml.m5.xlarge"
	defaultVolumeSizeGB   = 30
	defaultMaxRuntimeSecs = 86400 // SageMaker's own default: one day
)

// payloadSpec is what the submit flags say about the SageMaker
// CreateTrainingJob request. Zero values and nil maps mean "not given".
type payloadSpec struct {
	// File is the content of --payload; nil when the payload is built from flags.
	File []byte

	Image           string
	InstanceType    string // set when given, or the default when building
	InstanceCount   int64  // 0 = not given
	MaxRuntimeSecs  int64  // 0 = not given
	RoleArn         string
	HyperParameters *kvFlag
	Environment     *kvFlag
	OutputPath      string
	TrainingPlanArn string
	CheckpointURI   string
	// Entrypoint is the command after "--": ContainerEntrypoint is its first
	// word, ContainerArguments the rest.
	Entrypoint []string
}

// overrides reports whether the spec changes anything in a payload file.
func (s *payloadSpec) overrides() bool {
	return s.Image != "" || s.InstanceType != "" || s.InstanceCount != 0 || s.MaxRuntimeSecs != 0 ||
		s.RoleArn != "" || len(s.HyperParameters.pairs()) > 0 || len(s.Environment.pairs()) > 0 ||
		s.OutputPath != "" || s.TrainingPlanArn != "" || s.CheckpointURI != "" || len(s.Entrypoint) > 0
}

func (f *kvFlag) pairs() map[string]string {
	if f == nil {
		return nil
	}
	return f.Map
}

// buildPayload returns the serviceRequestPayload for the spec: the --payload
// file as it is when no flag overrides it, else the file (or, without one, a
// request with sagequeue's defaults) with the flags' members set. Errors are
// usage errors.
func buildPayload(s payloadSpec) (string, error) {
	var doc map[string]any
	if s.File != nil {
		trimmed := bytes.TrimSpace(s.File)
		d := json.NewDecoder(bytes.NewReader(trimmed))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil || doc == nil {
			if err == nil {
				err = fmt.Errorf("null")
			}
			return "", usagef("--payload: not a JSON object (a SageMaker CreateTrainingJob request): %v", err)
		}
		if d.More() {
			return "", usagef("--payload: more than one JSON value in the file")
		}
		if !s.overrides() {
			return string(trimmed), nil
		}
	} else {
		if s.Image == "" && len(s.Entrypoint) == 0 {
			return "", usagef("nothing to run: give --payload FILE, or --image and/or the entry point after -- (sagequeue submit -q QUEUE -n NAME -- python train.py)")
		}
		doc = map[string]any{
			"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
			"ResourceConfig": map[string]any{
				"InstanceType":   defaultInstanceType,
				"InstanceCount":  1,
				"VolumeSizeInGB": defaultVolumeSizeGB,
			},
			"StoppingCondition": map[string]any{"MaxRuntimeInSeconds": defaultMaxRuntimeSecs},
		}
	}

	alg, err := member(doc, "AlgorithmSpecification")
	if err != nil {
		return "", err
	}
	if s.Image != "" {
		alg["TrainingImage"] = s.Image
		if _, ok := alg["TrainingInputMode"]; !ok {
			alg["TrainingInputMode"] = "File"
		}
	}
	if len(s.Entrypoint) > 0 {
		alg["ContainerEntrypoint"] = []string{s.Entrypoint[0]}
		if len(s.Entrypoint) > 1 {
			alg["ContainerArguments"] = s.Entrypoint[1:]
		} else {
			delete(alg, "ContainerArguments")
		}
	}
	if len(alg) == 0 {
		delete(doc, "AlgorithmSpecification")
	}

	if s.InstanceType != "" || s.InstanceCount != 0 || s.TrainingPlanArn != "" {
		rc, err := member(doc, "ResourceConfig")
		if err != nil {
			return "", err
		}
		if _, groups := rc["InstanceGroups"]; groups && (s.InstanceType != "" || s.InstanceCount != 0) {
			return "", usagef("--instance-type and --instance-count cannot be used with a payload whose ResourceConfig has InstanceGroups")
		}
		if s.InstanceType != "" {
			rc["InstanceType"] = s.InstanceType
		}
		if s.InstanceCount != 0 {
			rc["InstanceCount"] = s.InstanceCount
		}
		if s.TrainingPlanArn != "" {
			rc["TrainingPlanArn"] = s.TrainingPlanArn
		}
		if _, ok := rc["VolumeSizeInGB"]; !ok {
			rc["VolumeSizeInGB"] = defaultVolumeSizeGB
		}
	}
	if s.MaxRuntimeSecs != 0 {
		sc, err := member(doc, "StoppingCondition")
		if err != nil {
			return "", err
		}
		sc["MaxRuntimeInSeconds"] = s.MaxRuntimeSecs
	}
	if s.RoleArn != "" {
		doc["RoleArn"] = s.RoleArn
	}
	if err := mergeStrings(doc, "HyperParameters", s.HyperParameters.pairs()); err != nil {
		return "", err
	}
	if err := mergeStrings(doc, "Environment", s.Environment.pairs()); err != nil {
		return "", err
	}
	if s.OutputPath != "" {
		if !strings.HasPrefix(s.OutputPath, "s3://") {
			return "", usagef("--output-path: %q is not an s3:// URL", s.OutputPath)
		}
		od, err := member(doc, "OutputDataConfig")
		if err != nil {
			return "", err
		}
		od["S3OutputPath"] = s.OutputPath
	}
	if s.CheckpointURI != "" {
		if !strings.HasPrefix(s.CheckpointURI, "s3://") && !strings.HasPrefix(s.CheckpointURI, "https://") && !strings.HasPrefix(s.CheckpointURI, "file:///") {
			return "", usagef("--checkpoint-uri: %q is not an s3:// URL (or, on the local endpoint, file:///path)", s.CheckpointURI)
		}
		cc, err := member(doc, "CheckpointConfig")
		if err != nil {
			return "", err
		}
		cc["S3Uri"] = s.CheckpointURI
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", usagef("--payload: %v", err)
	}
	return strings.TrimSpace(buf.String()), nil
}

// member returns the object doc[name], creating it when missing.
func member(doc map[string]any, name string) (map[string]any, error) {
	switch v := doc[name].(type) {
	case nil:
		m := map[string]any{}
		doc[name] = m
		return m, nil
	case map[string]any:
		return v, nil
	default:
		return nil, usagef("--payload: %s must be a JSON object", name)
	}
}

// mergeStrings sets the pairs into the string map doc[name].
func mergeStrings(doc map[string]any, name string, pairs map[string]string) error {
	if len(pairs) == 0 {
		return nil
	}
	m, err := member(doc, name)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m[k] = pairs[k]
	}
	return nil
}
