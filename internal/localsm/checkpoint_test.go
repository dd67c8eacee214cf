package localsm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// TestCheckpointsOutliveTheJob: a job whose CheckpointConfig names a URI
// finds what an earlier job with the same URI left in its checkpoints
// directory, as SageMaker restores S3Uri into LocalPath.
func TestCheckpointsOutliveTheJob(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	local := t.TempDir()
	for _, uri := range []string{"s3://bucket/runs/lr-1", "file://" + local} {
		for i, name := range []string{"first", "second"} {
			name := name + "-" + strings.NewReplacer(":", "", "/", "", ".", "").Replace(uri)[:6]
			in := payload(name, sh(`cd "$SAGEMAKER_BASE_DIR/checkpoints" && echo "found: $(cat step 2>/dev/null)" && echo `+name+` > step`)...)
			in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String(uri)}
			f.create(t, in)
			if out := f.wait(t, name); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
				t.Fatalf("%s: %s %s", name, out.TrainingJobStatus, aws.ToString(out.FailureReason))
			}
			lines := f.waitLog(t, name, "found:")
			if i == 1 && !strings.Contains(strings.Join(lines, "\n"), "found: first") {
				t.Fatalf("%s (%s) did not find the first job's checkpoint:\n%s", name, uri, strings.Join(lines, "\n"))
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(f.dir, ".checkpoints", "bucket", "runs", "lr-1", "step")); err != nil || !strings.HasPrefix(string(b), "second") {
		t.Fatalf("the s3:// checkpoint is not under CheckpointDir: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(local, "step")); err != nil || !strings.HasPrefix(string(b), "second") {
		t.Fatalf("the file:// checkpoint is not in its directory: %q %v", b, err)
	}
}

func TestCheckpointTarget(t *testing.T) {
	s := &Server{cfg: Config{CheckpointDir: "/data/ckpt"}}
	for uri, want := range map[string]string{
		"s3://b/k/run-1/":              "/data/ckpt/b/k/run-1",
		"https://b.s3.amazonaws.com/k": "/data/ckpt/b.s3.amazonaws.com/k",
		"s3://b/../../etc":             "/data/ckpt/etc",
		"file:///tmp/ckpt/../c":        "/tmp/c",
		"s3://":                        "error",
		"file://relative/x":            "error",
		"ftp://h/x":                    "error",
	} {
		got, err := s.checkpointTarget(uri, nil)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("checkpointTarget(%q) = %q (%v), want %q", uri, got, err, want)
		}
	}
}

// TestToolkitVariables: what the SageMaker training toolkit sets beyond
// the directories.
func TestToolkitVariables(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	in := payload("toolkit", sh(`echo "BASE=$SAGEMAKER_BASE_DIR"; echo "ARGS=$SM_USER_ARGS"; echo "INTER=$SM_OUTPUT_INTERMEDIATE_DIR"; test -d "$SM_OUTPUT_INTERMEDIATE_DIR" && test -d "$SAGEMAKER_BASE_DIR/checkpoints" && echo dirs-ok`)...)
	in.HyperParameters = map[string]string{"lr": "0.1", "epochs": "3"}
	f.create(t, in)
	if out := f.wait(t, "toolkit"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("%s %s", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	lines := f.waitLog(t, "toolkit", "dirs-ok")
	base, _ := logValue(lines, "BASE")
	if base != filepath.Join(f.dir, "toolkit") {
		t.Fatalf("SAGEMAKER_BASE_DIR %q, want the job directory", base)
	}
	args, _ := logValue(lines, "ARGS")
	var got []string
	if err := json.Unmarshal([]byte(args), &got); err != nil || strings.Join(got, " ") != "--epochs 3 --lr 0.1" {
		t.Fatalf("SM_USER_ARGS %q", args)
	}
	if inter, _ := logValue(lines, "INTER"); inter != filepath.Join(base, "output", "intermediate") {
		t.Fatalf("SM_OUTPUT_INTERMEDIATE_DIR %q", inter)
	}
}
