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
		"members SageMaker knows are passed through": {
			payload: `{"ResourceConfig":{"InstanceCount":2,"KeepAlivePeriodInSeconds":60},"HyperParameters":{"lr":"0.1"},"RoleArn":null,"EnableManagedSpotTraining":true}`,
			want:    model.TrainingRequest{InstanceCount: 2},
		},
		"unknown top-level member": {payload: `{"Foo":{"Bar":[1,2]}}`, err: "serviceRequestPayload.Foo: is not a member of SageMaker's CreateTrainingJobRequest"},
		"misspelled member":        {payload: `{"AlgorithmSpec":{"TrainingImage":"x"}}`, err: "serviceRequestPayload.AlgorithmSpec: is not a member of SageMaker's CreateTrainingJobRequest; did you mean AlgorithmSpecification?"},
		"member in the wrong case": {payload: `{"resourceConfig":{}}`, err: "serviceRequestPayload.resourceConfig: is not a member of SageMaker's CreateTrainingJobRequest; did you mean ResourceConfig?"},
		"nested typo":              {payload: `{"ResourceConfig":{"InstanceCont":1}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCont: is not a member of SageMaker's ResourceConfig; did you mean InstanceCount?"},
		"typo in a list element": {
			payload: `{"InputDataConfig":[{"ChannelName":"train","DataSource":{"S3DataSource":{"S3Uri":"s3://b/k","S3DataTyp":"S3Prefix"}}}]}`,
			err:     "serviceRequestPayload.InputDataConfig[0].DataSource.S3DataSource.S3DataTyp: is not a member of SageMaker's S3DataSource; did you mean S3DataType?",
		},
		"hyperparameter not a string": {payload: `{"HyperParameters":{"lr":0.1}}`, err: "serviceRequestPayload.HyperParameters.lr: must be a string, got the number 0.1"},
		"flag not a boolean":          {payload: `{"EnableNetworkIsolation":"yes"}`, err: "serviceRequestPayload.EnableNetworkIsolation: must be true or false, got the string \"yes\""},
		"entry point not a list":      {payload: `{"AlgorithmSpecification":{"ContainerEntrypoint":"python train.py"}}`, err: "serviceRequestPayload.AlgorithmSpecification.ContainerEntrypoint: must be a JSON array, got the string"},
		"runtime past int32":          {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":2147483648}}`, err: "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be an integer from -2147483648 to 2147483647, got 2147483648"},
		"runtime past 28 days":        {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":2419201}}`, err: "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be from 1 to 2419200 seconds (28 days"},
		"runtime of 28 days":          {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":2419200}}`, want: model.TrainingRequest{InstanceCount: 1, MaxRuntimeSeconds: 2419200}},
		"channel escaping its directory": {
			payload: `{"InputDataConfig":[{"ChannelName":"train"},{"ChannelName":"../../etc/passwd"}]}`,
			err:     "serviceRequestPayload.InputDataConfig[1].ChannelName: may contain only letters, digits, '.', '-' and '_'",
		},
		"channel named dot dot":          {payload: `{"InputDataConfig":[{"ChannelName":".."}]}`, err: "serviceRequestPayload.InputDataConfig[0].ChannelName: \"..\" names no directory"},
		"channel twice":                  {payload: `{"InputDataConfig":[{"ChannelName":"train"},{"ChannelName":"train"}]}`, err: "serviceRequestPayload.InputDataConfig[1].ChannelName: \"train\" is already the name of InputDataConfig[0]"},
		"channel without name":           {payload: `{"InputDataConfig":[{"InputMode":"File"}]}`, err: "serviceRequestPayload.InputDataConfig[0].ChannelName: is required"},
		"channel name too long":          {payload: `{"InputDataConfig":[{"ChannelName":"` + strings.Repeat("c", 65) + `"}]}`, err: "serviceRequestPayload.InputDataConfig[0].ChannelName: must be 1 to 64 characters"},
		"empty":                          {payload: "", err: "serviceRequestPayload: is required"},
		"blank":                          {payload: "  \n", err: "serviceRequestPayload: is required"},
		"not JSON":                       {payload: "{nope", err: "serviceRequestPayload: is not valid JSON"},
		"an array":                       {payload: "[1]", err: "serviceRequestPayload: must be a JSON object (a SageMaker CreateTrainingJob request), got an array"},
		"null":                           {payload: "null", err: "serviceRequestPayload: must be a JSON object"},
		"a string":                       {payload: `"x"`, err: "serviceRequestPayload: must be a JSON object"},
		"two objects":                    {payload: "{} {}", err: "serviceRequestPayload: must be a single JSON object"},
		"zero instances":                 {payload: `{"ResourceConfig":{"InstanceCount":0}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1, got 0"},
		"negative instances":             {payload: `{"ResourceConfig":{"InstanceCount":-3}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at least 1"},
		"too many instances":             {payload: `{"ResourceConfig":{"InstanceCount":100001}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be at most 100000"},
		"fractional instances":           {payload: `{"ResourceConfig":{"InstanceCount":1.5}}`, err: "serviceRequestPayload.ResourceConfig.InstanceCount: must be an integer"},
		"instance count as a string":     {payload: `{"ResourceConfig":{"InstanceCount":"2"}}`, err: `serviceRequestPayload.ResourceConfig.InstanceCount: must be an integer, got the string "2"`},
		"resource config as a string":    {payload: `{"ResourceConfig":"big"}`, err: "serviceRequestPayload.ResourceConfig: must be a JSON object"},
		"groups and count together":      {payload: `{"ResourceConfig":{"InstanceCount":1,"InstanceGroups":[{"InstanceCount":1}]}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups: cannot be combined with InstanceCount"},
		"group without count":            {payload: `{"ResourceConfig":{"InstanceGroups":[{"InstanceCount":1},{"InstanceType":"x"}]}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups[1].InstanceCount: is required"},
		"group with zero count":          {payload: `{"ResourceConfig":{"InstanceGroups":[{"InstanceCount":0}]}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups[0].InstanceCount: must be at least 1"},
		"groups as an object":            {payload: `{"ResourceConfig":{"InstanceGroups":{}}}`, err: "serviceRequestPayload.ResourceConfig.InstanceGroups: must be a JSON array"},
		"zero runtime":                   {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":0}}`, err: "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be from 1 to 2419200"},
		"runtime as a string":            {payload: `{"StoppingCondition":{"MaxRuntimeInSeconds":"1h"}}`, err: "serviceRequestPayload.StoppingCondition.MaxRuntimeInSeconds: must be an integer"},
		"bad training plan":              {payload: `{"ResourceConfig":{"TrainingPlanArn":"p20"}}`, err: "serviceRequestPayload.ResourceConfig.TrainingPlanArn: must be a SageMaker training plan ARN"},
		"training job name not a string": {payload: `{"TrainingJobName":5}`, err: "serviceRequestPayload.TrainingJobName: must be a string"},
		"too large":                      {payload: `{"RoleArn":"` + strings.Repeat("x", 10240) + `"}`, err: "serviceRequestPayload: must be at most 10240 bytes"},
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

// BenchmarkParsePayload: what SubmitServiceJob spends on a realistic
// CreateTrainingJob request, the shape check included (docs/benchmarks.md).
func BenchmarkParsePayload(b *testing.B) {
	payload := model.BenchPayload
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := model.ParsePayload(payload); err != nil {
			b.Fatal(err)
		}
	}
}
