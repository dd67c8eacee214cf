package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/containertest"
)

// TestContainerRuntime: serve --container-runtime runs a plain SageMaker
// payload (a TrainingImage, no entry point) in that image; a serve without
// one refuses the same payload at submission, saying how to run it.
func TestContainerRuntime(t *testing.T) {
	t.Parallel()
	img := containertest.TrainImage(t)
	payload := `{"AlgorithmSpecification":{"TrainingImage":"` + img.Name + `","TrainingInputMode":"File"},"HyperParameters":{"epochs":"3"},` +
		`"ResourceConfig":{"InstanceType":"ml.g5.xlarge","InstanceCount":1,"VolumeSizeInGB":10},"StoppingCondition":{"MaxRuntimeInSeconds":600}}`

	s := StartServer(t, oneQueue, ServerOptions{Args: []string{"--container-runtime", strings.Join(img.Runtime, " ")}})
	id := s.Submit("q", "in-a-container", payload, withRetry(1))
	d := s.WaitStatus(id, types.ServiceJobStatusSucceeded, 60*time.Second)
	if len(d.Attempts) != 1 {
		t.Errorf("%d attempts", len(d.Attempts))
	}
	logs := s.Logs(logsRequest{JobID: id, StartFromHead: true})
	var lines []string
	for _, ev := range logs.Events {
		lines = append(lines, ev.Message)
	}
	for _, want := range []string{"PROGRAM=train", "SM_HP_EPOCHS=3", "SM_MODEL_DIR=/opt/ml/model", `HYPERPARAMETERS={"epochs":"3"}`, "done"} {
		found := false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf("the job's log lacks %q: %q", want, lines)
		}
	}

	plain := StartServer(t, oneQueue, ServerOptions{})
	_, err := plain.Batch.SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{
		JobName: aws.String("image"), JobQueue: aws.String("q"), ServiceJobType: jobType, ServiceRequestPayload: aws.String(payload),
	})
	var ce *types.ClientException
	if !errors.As(err, &ce) || !strings.Contains(ce.ErrorMessage(), "serviceRequestPayload.AlgorithmSpecification.TrainingImage: "+img.Name+" runs on this server only with a container runtime: start sagequeue serve with --container-runtime podman") {
		t.Errorf("a TrainingImage without a container runtime: %v", err)
	}
	if jobs := plain.ListAll("q", ""); len(jobs) != 0 {
		t.Errorf("a refused job was stored: %+v", jobs)
	}
}

// TestContainerRuntimeMissing: serve does not start with a container
// runtime that does not answer.
func TestContainerRuntimeMissing(t *testing.T) {
	t.Parallel()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"), "--container-runtime", "no-such-runtime --flag"}
	if os.Geteuid() == 0 {
		args = append(args, "--insecure-run-as-root")
	}
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--container-runtime no-such-runtime --flag: executable file not found in $PATH") {
		t.Errorf("serve with a missing runtime: %v: %s", err, out)
	}
}
