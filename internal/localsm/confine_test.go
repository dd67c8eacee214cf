//go:build linux

package localsm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// TestConfinedJobs runs jobs as two unprivileged accounts (numeric uids, no
// passwd entries needed) and shows what confinement promises: a job runs as
// its account, with its own 0700 directories, without the server's
// environment, and can read neither another job's files nor the endpoint's
// own; what it leaves in output/failure cannot make the server read a file
// for it.
func TestConfinedJobs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("confinement needs root: run the tests as root to cover it (CI does)")
	}
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o711); err != nil { // let the accounts through to their directories
			t.Fatal(err)
		}
	}
	// A job that ran before jobs were confined left its files open to all.
	old := filepath.Join(root, "jobs", "old-job")
	if err := os.MkdirAll(filepath.Join(old, "model"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "model", "weights"), []byte("old weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	accounts := map[string]string{"a": "60917", "b": "60918:60918"}
	f := start(t, Config{Dir: filepath.Join(root, "jobs"), RunAs: func(tags map[string]string) (*runas.Account, error) {
		spec, ok := accounts[tags["user"]]
		if !ok {
			return nil, nil
		}
		return runas.Lookup(spec)
	}})
	t.Setenv("SAGEQUEUE_SERVER_SECRET", "the server's own")
	secret := filepath.Join(root, "root-only")
	if err := os.WriteFile(secret, []byte("TOPSECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	as := func(user, name, script string) {
		in := payload(name, sh(script)...)
		in.Tags = []types.Tag{{Key: aws.String("user"), Value: aws.String(user)}}
		in.Environment = map[string]string{"OTHER": filepath.Join(f.dir, "job-a"), "SECRET_FILE": secret, "OLD": old}
		f.create(t, in)
	}

	as("a", "job-a", `id -u > $SM_OUTPUT_DATA_DIR/uid; echo mine > $SM_MODEL_DIR/secret; echo "a's log line"`)
	if out := f.wait(t, "job-a"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("job-a: %s %s", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	as("b", "job-b", `o=$SM_OUTPUT_DATA_DIR
		{ id -u; id -g; id -G; } > $o/ids
		env > $o/env
		for p in "$OTHER/model/secret" "$OTHER/output.log" "$OTHER/state.json" "$SECRET_FILE" "$OLD/model/weights"; do
			if cat "$p" >/dev/null 2>&1; then echo "read $p"; else echo "refused $p"; fi
		done > $o/reads
		if ls "$OTHER/model" >/dev/null 2>&1; then echo "read $OTHER/model"; else echo "refused $OTHER/model"; fi >> $o/reads
		if ls "$(dirname "$OTHER")" >/dev/null 2>&1; then echo listed; else echo "not listed"; fi >> $o/reads
		touch "$OTHER/planted" 2>/dev/null && echo "wrote into a's directory" >> $o/reads
		true`)
	if out := f.wait(t, "job-b"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Fatalf("job-b: %s %s", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}

	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if uid := read(filepath.Join(f.dir, "job-a", "output", "data", "uid")); uid != "60917" {
		t.Errorf("job-a ran as uid %s, want 60917", uid)
	}
	if ids := read(filepath.Join(f.dir, "job-b", "output", "data", "ids")); ids != "60918\n60918\n60918" {
		t.Errorf("job-b ran as uid, gid, groups %q; want 60918 and no other group", ids)
	}
	reads := read(filepath.Join(f.dir, "job-b", "output", "data", "reads"))
	for _, want := range []string{"refused " + filepath.Join(f.dir, "job-a", "model", "secret"), "refused " + filepath.Join(f.dir, "job-a", "model"),
		"refused " + filepath.Join(f.dir, "job-a", "output.log"), "refused " + filepath.Join(f.dir, "job-a", "state.json"), "refused " + secret,
		"refused " + filepath.Join(old, "model", "weights"), "not listed"} {
		if !strings.Contains(reads, want) {
			t.Errorf("job-b: want %q in\n%s", want, reads)
		}
	}
	if strings.Contains(reads, "read ") || strings.Contains(reads, "wrote") {
		t.Errorf("job-b reached what is not its own:\n%s", reads)
	}
	env := read(filepath.Join(f.dir, "job-b", "output", "data", "env"))
	if strings.Contains(env, "SAGEQUEUE_SERVER_SECRET") || !strings.Contains(env, "PATH=") || !strings.Contains(env, "SM_MODEL_DIR=") || !strings.Contains(env, "OTHER=") {
		t.Errorf("job-b's environment should have PATH, SM_* and its payload's, not the server's secrets:\n%s", env)
	}

	for path, want := range map[string]struct {
		uid  uint32
		mode os.FileMode
	}{
		filepath.Join(f.dir, "job-a"):                   {0, 0o711},
		filepath.Join(f.dir, "job-a", "model"):          {60917, 0o700},
		filepath.Join(f.dir, "job-a", "input"):          {60917, 0o700},
		filepath.Join(f.dir, "job-a", "output"):         {60917, 0o700},
		filepath.Join(f.dir, "job-a", "output.log"):     {0, 0o600},
		filepath.Join(f.dir, "job-a", "state.json"):     {0, 0o600},
		filepath.Join(f.dir, "job-b", "output", "data"): {60918, 0o700},
		f.dir: {0, 0o711},
	} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != want.uid || fi.Mode().Perm() != want.mode {
			t.Errorf("%s: owner %d mode %04o, want %d %04o", path, uid, fi.Mode().Perm(), want.uid, want.mode)
		}
	}

	// What a job leaves as output/failure is read only if it is its own
	// regular file: a link to the server's secrets, or a FIFO that would
	// block the server, give no reason beyond the job's stderr.
	for name, plant := range map[string]string{
		"link": `ln -s "$SECRET_FILE" $SM_OUTPUT_DIR/failure`,
		"fifo": `mkfifo $SM_OUTPUT_DIR/failure`,
		"hard": `ln "$SECRET_FILE" $SM_OUTPUT_DIR/failure 2>/dev/null; true`,
	} {
		job := "plant-" + name
		as("a", job, plant+`; echo "planted a $0" >&2; exit 1`)
		done := make(chan string, 1)
		go func() { done <- aws.ToString(f.wait(t, job).FailureReason) }()
		select {
		case reason := <-done:
			if strings.Contains(reason, "TOPSECRET") || !strings.HasPrefix(reason, "AlgorithmError: exit code 1") {
				t.Errorf("%s: FailureReason %q", job, reason)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the server hung reading output/failure", job)
		}
	}
	// A job's own failure file is still its reason.
	as("a", "own-failure", `echo "out of memory on rank 3" > $SM_OUTPUT_DIR/failure; exit 2`)
	if reason := aws.ToString(f.wait(t, "own-failure").FailureReason); reason != "AlgorithmError: exit code 2: out of memory on rank 3" {
		t.Errorf("own-failure: FailureReason %q", reason)
	}
	// A job without an account runs as the server.
	f.create(t, payload("unmapped", sh(`id -u > $SM_OUTPUT_DATA_DIR/uid`)...))
	f.wait(t, "unmapped")
	if uid := read(filepath.Join(f.dir, "unmapped", "output", "data", "uid")); uid != "0" {
		t.Errorf("a job without an account ran as uid %s", uid)
	}
}
