package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

func TestTrainingJobInput(t *testing.T) {
	e := &Engine{cfg: Config{NamePrefix: "sagequeue"}}
	const plan = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p20"
	env := &model.ServiceEnvironment{TrainingPlanArn: plan}
	job := func(payload string) *model.ServiceJob {
		return &model.ServiceJob{
			JobID: "id-1", JobQueue: "arn:aws:batch:us-east-1:123456789012:job-queue/research",
			ServiceRequestPayload: payload, Instances: 2, Attempts: []model.Attempt{{}, {}}, Launches: 2, SubmittedBy: "bob",
		}
	}
	tests := map[string]struct {
		payload  string
		env      *model.ServiceEnvironment
		wantPlan string
		wantType string
	}{
		"the environment's plan fills a payload without one": {
			payload: `{"TrainingJobName":"mine","ResourceConfig":{"InstanceType":"ml.p5.48xlarge","InstanceCount":2,"VolumeSizeInGB":50},"Tags":[{"Key":"team","Value":"nlp"},{"Key":"sagequeue:jobId","Value":"forged"},{"Key":"sagequeue:submittedBy","Value":"alice"}]}`,
			env:     env, wantPlan: plan,
		},
		"a payload's own plan is kept": {
			payload: `{"ResourceConfig":{"InstanceCount":2,"TrainingPlanArn":"arn:aws:sagemaker:us-east-1:123456789012:training-plan/mine"}}`,
			env:     env, wantPlan: "arn:aws:sagemaker:us-east-1:123456789012:training-plan/mine",
		},
		"no resource config at all still gets the plan and its instance type": {payload: `{}`, env: env, wantPlan: plan, wantType: "ml.p5.48xlarge"},
		"a payload's instance type is kept": {
			payload: `{"ResourceConfig":{"InstanceType":"ml.p4d.24xlarge","InstanceCount":2}}`, env: env, wantPlan: plan, wantType: "ml.p4d.24xlarge",
		},
		"an environment without a plan adds none": {payload: `{"ResourceConfig":{"InstanceCount":2}}`, env: &model.ServiceEnvironment{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in, err := e.trainingJobInput(job(tc.payload), "sagequeue-id-1-2", tc.env, "ml.p5.48xlarge")
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
			if tc.wantType != "" && string(in.ResourceConfig.InstanceType) != tc.wantType {
				t.Errorf("instance type %q, want %q", in.ResourceConfig.InstanceType, tc.wantType)
			}
			tags := map[string]string{}
			for _, tag := range in.Tags {
				if _, dup := tags[aws.ToString(tag.Key)]; dup {
					t.Errorf("tag %s twice", aws.ToString(tag.Key))
				}
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if tags[TagJobID] != "id-1" || tags[TagQueue] != "research" || tags[TagAttempt] != "2" || tags[TagSubmittedBy] != "bob" {
				t.Errorf("tags %v", tags)
			}
		})
	}
	anonymous := job(`{}`)
	anonymous.SubmittedBy = ""
	in, err := e.trainingJobInput(anonymous, "n", env, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range in.Tags {
		if aws.ToString(tag.Key) == TagSubmittedBy {
			t.Errorf("a job nobody is known to have submitted has tag %s=%q", TagSubmittedBy, aws.ToString(tag.Value))
		}
	}
	if _, err := e.trainingJobInput(job(`{"ResourceConfig":"x"}`), "n", env, ""); classifyLaunch(err) != classRefused {
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

func TestCapacityBackoffAndAttemptCap(t *testing.T) {
	e, err := New(Config{Store: nopStore{}, SageMaker: nopSageMaker{}})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int32]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 60: 5 * time.Minute} {
		if got := e.capacityBackoff(n); got != want {
			t.Errorf("backoff after %d failures: %v, want %v", n, got, want)
		}
	}
	var attempts []model.Attempt
	attempts = append(attempts, model.Attempt{TrainingJobName: "ran", StatusReason: "Received status from SageMaker: AlgorithmError: x"})
	for i := range 25 {
		attempts = append(attempts, model.Attempt{TrainingJobName: fmt.Sprint(i), StatusReason: model.ReasonCapacity + " - x"})
		attempts = dropOldCapacityFailures(attempts)
	}
	if len(attempts) != 1+keptCapacityFailures || attempts[0].TrainingJobName != "ran" || attempts[len(attempts)-1].TrainingJobName != "24" {
		t.Fatalf("%d attempts kept: first %q last %q", len(attempts), attempts[0].TrainingJobName, attempts[len(attempts)-1].TrainingJobName)
	}
}

type nopStore struct{ store.Store }
type nopSageMaker struct{ SageMaker }

func TestTrainingDefaultsFillOnlyWhatIsMissing(t *testing.T) {
	d := TrainingDefaults{RoleArn: "arn:aws:iam::1:role/default", Subnets: []string{"subnet-1"}, SecurityGroupIDs: []string{"sg-1"}, KMSKeyID: "alias/k"}
	e := &Engine{cfg: Config{NamePrefix: "sagequeue", Training: d}}
	j := &model.ServiceJob{JobID: "id", JobQueue: "arn:aws:batch:r:1:job-queue/q", Instances: 1,
		ServiceRequestPayload: `{"OutputDataConfig":{"S3OutputPath":"s3://b/o"},"ResourceConfig":{"InstanceCount":1}}`}
	in, err := e.trainingJobInput(j, "n", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.RoleArn) != d.RoleArn || in.VpcConfig.Subnets[0] != "subnet-1" || in.VpcConfig.SecurityGroupIds[0] != "sg-1" ||
		aws.ToString(in.OutputDataConfig.KmsKeyId) != "alias/k" || aws.ToString(in.ResourceConfig.VolumeKmsKeyId) != "alias/k" {
		t.Fatalf("defaults not applied: %+v", in)
	}
	j.ServiceRequestPayload = `{"RoleArn":"arn:aws:iam::1:role/mine","VpcConfig":{"Subnets":["subnet-9"],"SecurityGroupIds":["sg-9"]},"OutputDataConfig":{"S3OutputPath":"s3://b/o","KmsKeyId":"mine"},"ResourceConfig":{"InstanceCount":1,"VolumeKmsKeyId":"mine"}}`
	in, _ = e.trainingJobInput(j, "n", nil, "")
	if aws.ToString(in.RoleArn) != "arn:aws:iam::1:role/mine" || in.VpcConfig.Subnets[0] != "subnet-9" ||
		aws.ToString(in.OutputDataConfig.KmsKeyId) != "mine" || aws.ToString(in.ResourceConfig.VolumeKmsKeyId) != "mine" {
		t.Fatalf("a payload's own settings were overridden: %+v", in)
	}
}

// TestNoVolumeKeyOnInstanceStorage: SageMaker refuses a VolumeKmsKeyId for
// instance types with local NVMe storage, the usual training plan types, so
// the deployment's key only goes on the output there.
func TestNoVolumeKeyOnInstanceStorage(t *testing.T) {
	e := &Engine{cfg: Config{NamePrefix: "sagequeue", Training: TrainingDefaults{KMSKeyID: "alias/k"}}}
	for payload, wantVolumeKey := range map[string]bool{
		`{"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":1}}`:    true,
		`{"ResourceConfig":{"InstanceType":"ml.p5.48xlarge","InstanceCount":1}}`:  false,
		`{"ResourceConfig":{"InstanceType":"ml.p4d.24xlarge","InstanceCount":1}}`: false,
		`{"ResourceConfig":{"InstanceType":"ml.g5.2xlarge","InstanceCount":1}}`:   false,
		`{"ResourceConfig":{"InstanceGroups":[{"InstanceGroupName":"a","InstanceType":"ml.c5.xlarge","InstanceCount":1},{"InstanceGroupName":"b","InstanceType":"ml.trn1.32xlarge","InstanceCount":1}]}}`: false,
		`{"ResourceConfig":{"InstanceGroups":[{"InstanceGroupName":"a","InstanceType":"ml.c5.xlarge","InstanceCount":1}]}}`:                                                                               true,
	} {
		j := &model.ServiceJob{JobID: "id", JobQueue: "arn:aws:batch:r:1:job-queue/q", Instances: 1,
			ServiceRequestPayload: strings.Replace(payload, `{"ResourceConfig"`, `{"OutputDataConfig":{"S3OutputPath":"s3://b/o"},"ResourceConfig"`, 1)}
		in, err := e.trainingJobInput(j, "n", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := in.ResourceConfig.VolumeKmsKeyId != nil; got != wantVolumeKey {
			t.Errorf("%s: volume key set %v, want %v", payload, got, wantVolumeKey)
		}
		if aws.ToString(in.OutputDataConfig.KmsKeyId) != "alias/k" {
			t.Errorf("%s: output key %q", payload, aws.ToString(in.OutputDataConfig.KmsKeyId))
		}
	}
	// A plan environment with a payload naming no type gets the plan's
	// type, and with it no volume key.
	j := &model.ServiceJob{JobID: "id", JobQueue: "arn:aws:batch:r:1:job-queue/q", Instances: 1, ServiceRequestPayload: `{}`}
	in, _ := e.trainingJobInput(j, "n", &model.ServiceEnvironment{TrainingPlanArn: "arn:aws:sagemaker:r:1:training-plan/p"}, "ml.p5.48xlarge")
	if in.ResourceConfig.VolumeKmsKeyId != nil {
		t.Errorf("a plan job on ml.p5.48xlarge got volume key %q", aws.ToString(in.ResourceConfig.VolumeKmsKeyId))
	}
}
