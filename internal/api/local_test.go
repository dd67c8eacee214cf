package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/api"
)

// TestLocalEndpointRefusesWhatItCannotRun: on sagequeue serve, a payload
// that the local endpoint has no way to run is refused at submission, with
// a message that says how to run it; nothing is stored. The cloud takes
// every shape SageMaker takes.
func TestLocalEndpointRefusesWhatItCannotRun(t *testing.T) {
	const (
		image      = `{"AlgorithmSpecification":{"TrainingImage":"123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1","TrainingInputMode":"File"}}`
		both       = `{"AlgorithmSpecification":{"TrainingImage":"img","ContainerEntrypoint":["python3","train.py"]}}`
		entrypoint = `{"AlgorithmSpecification":{"ContainerEntrypoint":["sh","-c","true"]}}`
		algorithm  = `{"AlgorithmSpecification":{"AlgorithmName":"xgboost-marketplace"}}`
		nothing    = `{"ResourceConfig":{"InstanceCount":1}}`
	)
	const (
		needsRuntime = "serviceRequestPayload.AlgorithmSpecification.TrainingImage: 123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1 runs on this server only with a container runtime: start sagequeue serve with --container-runtime podman (or docker); without one, give ContainerEntrypoint, the command to run here as a process"
		needsCommand = "serviceRequestPayload.AlgorithmSpecification.ContainerEntrypoint: is required to run a training job on this server: the command to run here as a process (to run a TrainingImage instead, start sagequeue serve with --container-runtime podman or docker)"
		needsEither  = "serviceRequestPayload.AlgorithmSpecification: needs TrainingImage, the image to run, or ContainerEntrypoint, the command to run here as a process"
		noAlgorithm  = "serviceRequestPayload.AlgorithmSpecification.AlgorithmName: xgboost-marketplace cannot run on the local SageMaker endpoint: give TrainingImage (with sagequeue serve --container-runtime) or ContainerEntrypoint"
	)
	for name, tc := range map[string]struct {
		local *api.LocalEndpoint
		want  map[string]string // payload -> error ("" accepted)
	}{
		"cloud":                     {nil, map[string]string{image: "", both: "", entrypoint: "", algorithm: "", nothing: ""}},
		"serve":                     {&api.LocalEndpoint{}, map[string]string{image: needsRuntime, both: "", entrypoint: "", algorithm: noAlgorithm, nothing: needsCommand}},
		"serve --container-runtime": {&api.LocalEndpoint{Images: true}, map[string]string{image: "", both: "", entrypoint: "", algorithm: noAlgorithm, nothing: needsEither}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarnessWith(t, func(c *api.Config) { c.LocalEndpoint = tc.local })
			h.setup(4)
			for payload, want := range tc.want {
				before := h.jobCount()
				_, err := h.client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
					JobName: aws.String("j"), JobQueue: aws.String("fifo"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
					ServiceRequestPayload: aws.String(payload),
				})
				if want == "" {
					if err != nil {
						t.Errorf("%s: %v", payload, err)
					}
					continue
				}
				clientError(t, err, want)
				if h.jobCount() != before {
					t.Errorf("%s: a refused job was stored", payload)
				}
			}
		})
	}
}
