package model_test

import (
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/model"
)

func TestParsePayload(t *testing.T) {
	const plan = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20"
	tests := map[string]struct {
		payload string
		want    model.TrainingRequest
		err     string
	}{
		"single instance type": {
			payload: `{"TrainingJobName":"t","ResourceConfig":{"InstanceType":"ml.p4d.24xlarge","InstanceCount":4,"VolumeSizeInGB":100},"StoppingCondition":{"MaxRuntimeInSeconds":86400}}`,
			want:    model.TrainingRequest{TrainingJobName: "t", InstanceType: "ml.p4d.24xlarge", InstanceCount: 4, MaxRuntimeSeconds: 86400},
		},
		"instance groups are summed": {
			payload: `{"ResourceConfig":{"InstanceGroups":[{"InstanceGroupName":"a","InstanceType":"ml.p5.48xlarge","InstanceCount":2},{"InstanceGroupName":"b","InstanceType":"ml.c5.xlarge","InstanceCount":3}]}}`,
			want:    model.TrainingRequest{InstanceType: "ml.p5.48xlarge+ml.c5.xlarge", InstanceCount: 5},
		},
		"no resource config means one instance": {payload: `{"AlgorithmSpecification":{"TrainingImage":"x"}}`, want: model.TrainingRequest{InstanceCount: 1, TrainingImage: "x"}},
		"what the algorithm specification runs": {
			payload: `{"AlgorithmSpecification":{"TrainingImage":"img","AlgorithmName":"algo","ContainerEntrypoint":["python3","train.py"]}}`,
			want:    model.TrainingRequest{InstanceCount: 1, TrainingImage: "img", AlgorithmName: "algo", Entrypoint: true},
		},
		"an empty entry point is none":        {payload: `{"AlgorithmSpecification":{"ContainerEntrypoint":[]}}`, want: model.TrainingRequest{InstanceCount: 1}},
		"algorithm specification as a string": {payload: `{"AlgorithmSpecification":"x"}`, err: "serviceRequestPayload.AlgorithmSpecification: must be a JSON object"},
		"entry point as a string":             {payload: `{"AlgorithmSpecification":{"ContainerEntrypoint":"python3 train.py"}}`, err: "serviceRequestPayload.AlgorithmSpecification.ContainerEntrypoint: must be a JSON array"},
		"training plan": {
			payload: `{"ResourceConfig":{"InstanceCount":1,"TrainingPlanArn":"` + plan + `"}}`,
			want:    model.TrainingRequest{InstanceCount: 1, TrainingPlanArn: plan},
		},
		"unknown members are passed through": {payload: `{"Foo":{"Bar":[1,2]},"ResourceConfig":{"InstanceCount":2,"KeepAlivePeriodInSeconds":60}}`, want: model.TrainingRequest{InstanceCount: 2}},
		"empty":                              {payload: "", err: "serviceRequestPayload: is required"},
		"blank":                              {payload: "  \n", err: "serviceRequestPayload: is required"},
		"not JSON":                           {payload: "{nope", err: "serviceRequestPayload: is not valid JSON"},
		"an array":                           {payload: "[1]", err: "serviceRequestPayload: must be a JSON object, got JSON array"},
		"null":                               {payload: "null", err: "serviceRequestPayload: must be a JSON object"},
		"a string":                           {payload: `"x"`, err: "serviceRequestPayload: must be a JSON object"},
		"two objects":                        {payload: "{} {}", err: "serviceRequestPayload: must be a single JSON object"},
		"zero instances":                     {payload: `{"ResourceConfig":{"InstanceCount":0}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1, got 0"},
		"negative instances":                 {payload: `{"ResourceConfig":{"InstanceCount":-3}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1"},
		"too many instances":                 {payload: `{"ResourceConfig":{"InstanceCount":100001}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at most 100000"},
		"fractional instances":               {payload: `{"ResourceConfig":{"InstanceCount":1.5}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be an integer"},
		"instance count as a string":         {payload: `{"ResourceConfig":{"InstanceCount":"2"}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be an integer, got JSON string"},
		"resource config as a string":        {payload: `{"ResourceConfig":"big"}`, err: "serviceRequestPayload.ResourceConfig: must be a JSON object"},
		"groups and count together":          {payload: `{"ResourceConfig":{"InstanceCount":1,"InstanceGroups":[{"InstanceCount":1}]}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups: cannot be combined with InstanceCount"},
		"group without count":                {payload: `{"ResourceConfig":{"InstanceGroups":[{"InstanceCount":1},{"InstanceType":"x"}]}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups[1].InstanceCount: is required"},
		"group with zero count":              {payload: `{"ResourceConfig":{"InstanceGroups":[{"InstanceCount":0}]}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups[0].InstanceCount: must be at least 1"},
		"groups as an object":                {payload: `{"ResourceConfig":{"InstanceGroups":{}}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups: must be a JSON array"},
		"zero runtime":                       {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":0}}`, err: "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be at least 1"},
		"runtime as a string":                {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":"1h"}}`, err: "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be an integer"},
		"bad training plan":                  {payload: `{"ResourceConfig":{"TrainingPlanArn":"p20"}}`, err: "serviceRequestPayload.ResourceConfig.TrainingPlanArn: must be a SageMaker training plan ARN"},
		"training job name not a string":     {payload: `{"TrainingJobName":5}`, err: "serviceRequestPayload.TrainingJobName: must be a string"},
		"too large":                          {payload: `{"a":"` + strings.Repeat("x", 10240) + `"}`, err: "serviceRequestPayload: must be at most 10240 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := model.ParsePayload(tc.payload)
			wantErr(t, err, tc.err)
			if tc.err == "" && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParsePayload(f *testing.F) {
	for _, s := range []string{
		`{"ResourceConfig":{"InstanceCount":2}}`,
		`{"ResourceConfig":{"InstanceGroups":[{"InstanceCount":1}]}}`,
		`{"StoppingCondition":{"MaxRuntimeInSeconds":5}}`, `[]`, `null`, `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		tr, err := model.ParsePayload(payload)
		if err != nil {
			if !model.IsValidation(err) {
				t.Fatalf("%q: error %v is not a ValidationError", payload, err)
			}
			if !strings.HasPrefix(err.Error(), "serviceRequestPayload") {
				t.Fatalf("%q: error %q does not name the payload", payload, err)
			}
			return
		}
		if tr.InstanceCount < 1 || tr.InstanceCount > model.MaxInstanceCount {
			t.Fatalf("%q: accepted with %d instances", payload, tr.InstanceCount)
		}
	})
}
