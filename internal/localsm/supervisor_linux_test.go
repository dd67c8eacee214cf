package localsm

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// clientBinary builds the client binary (cmd/sagequeue), which serve runs
// supervisors with, once per test binary.
var clientBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "localsm-client-")
	if err != nil {
		return "", err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	out := filepath.Join(dir, "sagequeue")
	cmd := exec.Command("go", "build", "-o", out, "github.com/sagequeue/sagequeue/cmd/sagequeue")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{string(b), err}
	}
	return out, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string {
	return "go build ./cmd/sagequeue: " + e.err.Error() + ": " + e.out
}

func needClientBinary(t testing.TB) string {
	t.Helper()
	p, err := clientBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSupervisorFromTheClientBinary: with Config.Supervisor, the
// supervisors are that program (the light client binary, as serve runs
// them), and a job runs to its end under one as under the server's own.
func TestSupervisorFromTheClientBinary(t *testing.T) {
	t.Parallel()
	bin := needClientBinary(t)
	f := start(t, Config{Supervisor: bin})
	release := filepath.Join(t.TempDir(), "release")
	f.create(t, payload("light", sh("echo started; while [ ! -e "+release+" ]; do sleep 0.05; done; echo done")...))
	f.waitEvent(t, "light", "InProgress/Training")

	var rec record
	b, err := os.ReadFile(filepath.Join(f.dir, "light", stateFile))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil || rec.Supervisor == nil {
		t.Fatalf("state.json: %v, %+v", err, rec)
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(rec.Supervisor.Pid) + "/exe")
	if err != nil || exe != bin {
		t.Errorf("the supervisor runs %q (%v), want the client binary %s", exe, err, bin)
	}
	touch(t, release)
	evs := f.rec.waitEvents(t, "light")
	if last := evs[len(evs)-1].Detail; last.TrainingJobStatus != "Completed" {
		t.Fatalf("ended %s: %s", last.TrainingJobStatus, last.FailureReason)
	}
	log, _ := os.ReadFile(filepath.Join(f.dir, "light", logFile))
	if !strings.Contains(string(log), "started\n") || !strings.Contains(string(log), "done\n") {
		t.Errorf("output.log %q", log)
	}
}

// TestSupervisorProgramGone: when the supervisors' program cannot be
// started (deleted since), the server supervises with its own.
func TestSupervisorProgramGone(t *testing.T) {
	t.Parallel()
	f := start(t, Config{Supervisor: filepath.Join(t.TempDir(), "deleted-sagequeue")})
	f.create(t, payload("fallback", sh("echo ran")...))
	evs := f.rec.waitEvents(t, "fallback")
	if last := evs[len(evs)-1].Detail; last.TrainingJobStatus != "Completed" {
		t.Fatalf("ended %s: %s", last.TrainingJobStatus, last.FailureReason)
	}
}
