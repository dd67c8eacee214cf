package localsm

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagequeue/sagequeue/internal/containertest"
	"github.com/sagequeue/sagequeue/internal/runas"
)

// TestContainer runs TrainingImage payloads in a container runtime as
// SageMaker runs them: /opt/ml from the job directory, SM_* variables with
// /opt/ml paths, hyperparameters, `train` as the command unless the payload
// says otherwise, SIGTERM to stop (SIGKILL after the grace), and a
// container job outlives the server like any other.
func TestContainer(t *testing.T) {
	t.Parallel()
	img := containertest.TrainImage(t)
	dir, data := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "data.csv"), []byte("1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A job tagged user=a runs as uid 60917 (confine.go), in its container
	// too; confining jobs needs root.
	cfg := Config{Dir: dir, ContainerRuntime: img.Runtime, StopGrace: 2 * time.Second, KeepRunning: true}
	confined := os.Geteuid() == 0
	if confined {
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		cfg.RunAs = func(tags map[string]string) (*runas.Account, error) {
			if tags["user"] != "a" {
				return nil, nil
			}
			return runas.Lookup("60917")
		}
	}
	first := start(t, cfg)
	job := func(name, mode string, mutate func(*sagemaker.CreateTrainingJobInput)) {
		in := payload(name)
		in.AlgorithmSpecification.TrainingImage = aws.String(img.Name)
		in.HyperParameters = map[string]string{"mode": mode, "epochs": "3"}
		if mutate != nil {
			mutate(in)
		}
		first.create(t, in)
	}
	job("image", "", func(in *sagemaker.CreateTrainingJobInput) {
		in.Environment = map[string]string{"USER_VAR": "from the payload"}
		in.InputDataConfig = []types.Channel{{ChannelName: aws.String("train"), DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{
			S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("file://" + data)}}}}
	})
	job("entrypoint", "", func(in *sagemaker.CreateTrainingJobInput) {
		in.AlgorithmSpecification.ContainerEntrypoint = []string{"/usr/bin/train", "first"}
		in.AlgorithmSpecification.ContainerArguments = []string{"second"}
	})
	job("failed", "fail", nil)
	job("stopped", "wait", nil)
	job("stubborn", "stubborn", nil)
	job("adopted", "until", func(in *sagemaker.CreateTrainingJobInput) {
		in.HyperParameters["file"] = "go"
		in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("s3://bucket/checkpoints")}
	})
	if confined {
		job("confined", "until", func(in *sagemaker.CreateTrainingJobInput) {
			in.Tags = []types.Tag{{Key: aws.String("user"), Value: aws.String("a")}}
			in.HyperParameters["file"] = "go"
			in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("s3://bucket/checkpoints")}
		})
	}
	noImage := payload("nothing-to-run")
	noImage.AlgorithmSpecification.TrainingImage = nil
	first.create(t, noImage)

	out := first.wait(t, "image")
	if out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("image: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	lines := first.waitLog(t, "image", "done")
	for k, v := range map[string]string{
		"PROGRAM": "train", "ARGS": "", "HOSTNAME": "algo-1", "USER_VAR": "from the payload",
		"SM_MODEL_DIR": "/opt/ml/model", "SM_OUTPUT_DATA_DIR": "/opt/ml/output/data", "SM_INPUT_CONFIG_DIR": "/opt/ml/input/config",
		"SM_CHANNEL_TRAIN": "/opt/ml/input/data/train", "SM_HP_EPOCHS": "3", "SM_CURRENT_HOST": "algo-1",
		"TRAINING_JOB_NAME": "image", "TRAINING_JOB_ARN": "arn:aws:sagemaker:local:000000000000:training-job/image",
		"HYPERPARAMETERS": `{"epochs":"3","mode":""}`, "CHANNEL train/data.csv": "1,2",
	} {
		if got, ok := logValue(lines, k); !ok || got != v {
			t.Errorf("image: %s = %q (%v), want %q", k, got, ok, v)
		}
	}
	if v, _ := logValue(lines, "PATH"); v != "" {
		t.Errorf("the server's environment reached the container: PATH=%s", v)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "image", "model", "model.txt")); err != nil || string(b) != "trained in a container\n" {
		t.Errorf("model/model.txt: %q %v", b, err)
	}
	if v, _ := logValue(lines, "UID"); v != "0" {
		t.Errorf("image: ran as uid %s, want the image's user (root)", v)
	}
	if confined {
		first.waitLog(t, "confined", "SM_HP_FILE=go")
		touch(t, filepath.Join(dir, "confined", "checkpoints", "go"))
		if out := first.wait(t, "confined"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
			t.Errorf("confined: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
		}
		if v, _ := logValue(first.waitLog(t, "confined", "done"), "UID"); v != "60917" {
			t.Errorf("confined: ran as uid %s, want its account's, 60917", v)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "confined", "checkpoints", "checkpoint")); err != nil || string(b) != "step 1\n" {
			t.Errorf("confined: its checkpoint: %q %v", b, err)
		}
	}
	if out := first.wait(t, "entrypoint"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("entrypoint: %s", out.TrainingJobStatus)
	}
	lines = first.waitLog(t, "entrypoint", "done")
	if p, _ := logValue(lines, "PROGRAM"); p != "/usr/bin/train" {
		t.Errorf("entrypoint: PROGRAM=%q, want the entry point", p)
	}
	if v, _ := logValue(lines, "ARGS"); v != "first second" {
		t.Errorf("entrypoint: ARGS=%q, want the entry point's arguments then ContainerArguments", v)
	}
	if out := first.wait(t, "failed"); out.TrainingJobStatus != types.TrainingJobStatusFailed || aws.ToString(out.FailureReason) != "AlgorithmError: exit code 4: the loss went to NaN" {
		t.Errorf("failed: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	if out := first.wait(t, "nothing-to-run"); aws.ToString(out.FailureReason) != noEntrypoint {
		t.Errorf("nothing-to-run: %q", aws.ToString(out.FailureReason))
	}

	// Stopping: SIGTERM reaches the training program in its container;
	// one that ignores it is killed after the grace, container and all.
	first.waitLog(t, "stopped", "waiting for SIGTERM")
	first.waitLog(t, "stubborn", "ignoring SIGTERM")
	for _, name := range []string{"stopped", "stubborn"} {
		if _, err := first.sm.StopTrainingJob(context.Background(), &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"stopped", "stubborn"} {
		if out := first.wait(t, name); out.TrainingJobStatus != types.TrainingJobStatusStopped {
			t.Errorf("%s: %s", name, out.TrainingJobStatus)
		}
	}
	first.waitLog(t, "stopped", "got SIGTERM")
	lines = first.waitLog(t, "stubborn", "sending SIGKILL")
	if !strings.Contains(strings.Join(lines, "\n"), "got SIGTERM, going on") {
		t.Errorf("stubborn: SIGTERM did not reach the container: %q", lines)
	}
	for _, name := range []string{"stopped", "stubborn"} {
		argv := append(append([]string(nil), img.Runtime...), "ps", "--all", "--quiet", "--filter", "name="+containerName(filepath.Join(dir, name)))
		if out, err := exec.Command(argv[0], argv[1:]...).Output(); err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s: the container is still there (%q, %v)", name, out, err)
		}
	}

	// A container job outlives its server and is adopted by the next.
	first.waitLog(t, "adopted", "SM_HP_FILE=go")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	second := start(t, Config{Dir: dir, ContainerRuntime: img.Runtime})
	if out := second.describe(t, "adopted"); out.TrainingJobStatus != types.TrainingJobStatusInProgress {
		t.Fatalf("adopted: %s", out.TrainingJobStatus)
	}
	touch(t, filepath.Join(dir, "adopted", "checkpoints", "go"))
	if out := second.wait(t, "adopted"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("adopted: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	second.waitLog(t, "adopted", "done")
}
