package engine

import (
	"errors"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sagequeue/sagequeue/internal/model"
)

func TestTrainingJobInput(t *testing.T) {
	e := &Engine{cfg: Config{NamePrefix: "sagequeue"}}
	const plan = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20"
	env := &model.ServiceEnvironment{TrainingPlanArn: plan}
	job := func(payload string) *model.ServiceJob {
		return &model.ServiceJob{
			JobID: "id-1", JobQueue: "arn:aws:batch:us-east-1:123456789012:job-queue/research",
			ServiceRequestPayload: payload, Instances: 2, Attempts: []model.Attempt{{}, {}},
		}
	}
	tests := map[string]struct {
		payload  string
		env      *model.ServiceEnvironment
		wantPlan string
	}{
		"the environment's plan fills a payload without one": {
			payload: `{"TrainingJobName":"mine","ResourceConfig":{"InstanceType":"ml.p5.48xlarge","InstanceCount":2,"VolumeSizeInGB":50},"Tags":[{"Key":"team","Value":"nlp"},{"Key":"sagequeue:jobId","Value":"forged"}]}`,
			env:     env, wantPlan: plan,
		},
		"a payload's own plan is kept": {
			payload: `{"ResourceConfig":{"InstanceCount":2,"TrainingPlanArn":"arn:aws:sagemaker:us-east-1:123456789012:training-plan/mine"}}`,
			env:     env, wantPlan: "arn:aws:sagemaker:us-east-1:123456789012:training-plan/mine",
		},
		"no resource config at all still gets the plan": {payload: `{}`, env: env, wantPlan: plan},
		"an environment without a plan adds none":       {payload: `{"ResourceConfig":{"InstanceCount":2}}`, env: &model.ServiceEnvironment{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in, err := e.trainingJobInput(job(tc.payload), "sagequeue-id-1-2", tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(in.TrainingJobName) != "sagequeue-id-1-2" {
				t.Errorf("name %q", aws.ToString(in.TrainingJobName))
			}
			var gotPlan string
			if in.ResourceConfig != nil {
				gotPlan = aws.ToString(in.ResourceConfig.TrainingPlanArn)
			}
			if gotPlan != tc.wantPlan {
				t.Errorf("plan %q, want %q", gotPlan, tc.wantPlan)
			}
			tags := map[string]string{}
			for _, tag := range in.Tags {
				if _, dup := tags[aws.ToString(tag.Key)]; dup {
					t.Errorf("tag %s twice", aws.ToString(tag.Key))
				}
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if tags[TagJobID] != "id-1" || tags[TagQueue] != "research" || tags[TagAttempt] != "2" {
				t.Errorf("tags %v", tags)
			}
		})
	}
	if _, err := e.trainingJobInput(job(`{"ResourceConfig":"x"}`), "n", env); !isClientError(err) {
		t.Fatalf("a payload that is not a CreateTrainingJob request: %v", err)
	}
}

func TestIsNotFound(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&smithy.GenericAPIError{Code: "ResourceNotFound", Message: "no such job"}, true},
		{&smithy.GenericAPIError{Code: "ValidationException", Message: "Requested resource not found."}, true},
		{&smithy.GenericAPIError{Code: "ValidationException", Message: "The request was rejected because the training job is in status Completed."}, false},
		{errors.New("connection refused"), false},
	} {
		if got := isNotFound(tc.err); got != tc.want {
			t.Errorf("isNotFound(%v) = %v", tc.err, got)
		}
	}
}
