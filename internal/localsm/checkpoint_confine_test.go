//go:build linux

package localsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// TestConfinedCheckpoints: a confined job resumes from its own account's
// checkpoints, another account's job with the same URI sees none of them,
// and a file:// URI, which would have the server make a directory where
// the job says, is refused.
func TestConfinedCheckpoints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("confinement needs root: run the tests as root to cover it (CI does)")
	}
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	accounts := map[string]string{"a": "60927", "b": "60928"}
	f := start(t, Config{Dir: filepath.Join(root, "jobs"), CheckpointDir: filepath.Join(root, "checkpoints"),
		RunAs: func(tags map[string]string) (*runas.Account, error) { return runas.Lookup(accounts[tags["user"]]) }})
	run := func(user, name, uri string) *types.TrainingJobStatus {
		t.Helper()
		in := payload(name, sh(`cd "$SAGEMAKER_BASE_DIR/checkpoints" && echo "found: $(cat step 2>/dev/null)" && echo `+name+` > step`)...)
		in.Tags = []types.Tag{{Key: aws.String("user"), Value: aws.String(user)}}
		in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String(uri)}
		f.create(t, in)
		out := f.wait(t, name)
		return &out.TrainingJobStatus
	}
	const uri = "s3://bucket/shared-name"
	if st := run("a", "a-1", uri); *st != types.TrainingJobStatusCompleted {
		t.Fatalf("a-1: %s", *st)
	}
	if st := run("b", "b-1", uri); *st != types.TrainingJobStatusCompleted {
		t.Fatalf("b-1: %s", *st)
	}
	if st := run("a", "a-2", uri); *st != types.TrainingJobStatusCompleted {
		t.Fatalf("a-2: %s", *st)
	}
	logOf := func(name string) string { return strings.Join(f.waitLog(t, name, "found:"), "\n") }
	if l := logOf("b-1"); strings.Contains(l, "found: a-1") {
		t.Errorf("b's job saw a's checkpoint:\n%s", l)
	}
	if l := logOf("a-2"); !strings.Contains(l, "found: a-1") {
		t.Errorf("a's second job did not resume from a's first:\n%s", l)
	}
	in := payload("a-file", sh("true")...)
	in.Tags = []types.Tag{{Key: aws.String("user"), Value: aws.String("a")}}
	in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String("file://" + filepath.Join(root, "made-by-root"))}
	f.create(t, in)
	if out := f.wait(t, "a-file"); out.TrainingJobStatus != types.TrainingJobStatusFailed || !strings.Contains(aws.ToString(out.FailureReason), "give an s3:// URI") {
		t.Fatalf("a confined job's file:// checkpoint: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	if _, err := os.Stat(filepath.Join(root, "made-by-root")); err == nil {
		t.Fatal("the server made the directory a confined job's file:// URI named")
	}
}
