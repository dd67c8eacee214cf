//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package supervisor

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// run runs a supervisor in this process for spec, released at once, and
// returns its exit code and the reports it sent.
func run(t *testing.T, spec Spec, during func()) (int, []Report) {
	t.Helper()
	specR, specW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(specW).Encode(spec); err != nil {
		t.Fatal(err)
	}
	specW.Close()
	code := make(chan int, 1)
	go func() {
		code <- Run(specR, repW)
		repW.Close()
	}()
	if during != nil {
		during()
	}
	var reports []Report
	sc := bufio.NewScanner(repR)
	for sc.Scan() {
		var r Report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report %q: %v", sc.Text(), err)
		}
		reports = append(reports, r)
	}
	select {
	case c := <-code:
		return c, reports
	case <-time.After(time.Minute):
		t.Fatal("the supervisor did not end")
		return 0, nil
	}
}

// TestSupervise: the process runs in a group of its own, its output goes
// to output.log line by line, and how it ended goes to exit.json and to the
// server; started.json names it.
func TestSupervise(t *testing.T) {
	dir := t.TempDir()
	code, reports := run(t, Spec{Dir: dir, Argv: []string{"sh", "-c", "echo out; echo first >&2; echo last >&2; exit 3"},
		Env: []string{"PATH=" + os.Getenv("PATH")}, StopGrace: time.Second}, nil)
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if len(reports) != 2 || reports[0].Started == nil || reports[0].Started.Pid <= 0 || reports[1].Exit == nil {
		t.Fatalf("reports %+v: want started, then exit", reports)
	}
	ex := reports[1].Exit
	if ex.Description != "exit code 3" || ex.LastStderr != "last" || ex.Stopped || ex.StartError != "" {
		t.Errorf("exit %+v", ex)
	}
	var saved Exit
	if !ReadJSON(filepath.Join(dir, ExitFile), &saved) || saved.Description != ex.Description {
		t.Errorf("exit.json %+v, want %+v", saved, ex)
	}
	var started Started
	if !ReadJSON(filepath.Join(dir, StartedFile), &started) || started.Pid != reports[0].Started.Pid {
		t.Errorf("started.json %+v, want pid %d", started, reports[0].Started.Pid)
	}
	b, _ := os.ReadFile(filepath.Join(dir, OutputLog))
	for _, line := range []string{"out", "first", "last"} {
		if !strings.Contains(string(b), line+"\n") {
			t.Errorf("output.log %q lacks %q", b, line)
		}
	}
}

// TestSuperviseStop: SIGTERM to the supervisor stops the process group with
// SIGTERM, and the end is recorded as stopped.
func TestSuperviseStop(t *testing.T) {
	dir := t.TempDir()
	_, reports := run(t, Spec{Dir: dir, Argv: []string{"sh", "-c", `trap 'echo terminated; exit 7' TERM; echo ready; while :; do sleep 0.05; done`},
		Env: []string{"PATH=" + os.Getenv("PATH")}, StopGrace: 10 * time.Second}, func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if b, _ := os.ReadFile(filepath.Join(dir, OutputLog)); strings.Contains(string(b), "ready") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the process did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The supervisor catches SIGTERM (it runs in this process here).
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
	})
	ex := reports[len(reports)-1].Exit
	if ex == nil || !ex.Stopped || ex.Description != "exit code 7" {
		t.Fatalf("exit %+v: want stopped, exit code 7", ex)
	}
	b, _ := os.ReadFile(filepath.Join(dir, OutputLog))
	if !strings.Contains(string(b), NoteHeader+"stop requested: sending SIGTERM to process group") || !strings.Contains(string(b), "terminated") {
		t.Errorf("output.log %q", b)
	}
}

// TestSuperviseStartError: a program that cannot start leaves no
// started.json and says why, without the command line repeated.
func TestSuperviseStartError(t *testing.T) {
	dir := t.TempDir()
	_, reports := run(t, Spec{Dir: dir, Argv: []string{filepath.Join(dir, "missing")}}, nil)
	ex := reports[len(reports)-1].Exit
	if ex == nil || ex.StartError != "cannot start "+filepath.Join(dir, "missing")+": no such file or directory" || ex.Fault != "" {
		t.Fatalf("exit %+v", ex)
	}
	if _, err := os.Stat(filepath.Join(dir, StartedFile)); err == nil {
		t.Error("started.json left behind though nothing ran")
	}
}

// TestNeverReleased: a supervisor whose server never writes its spec
// starts nothing and exits with code 3.
func TestNeverReleased(t *testing.T) {
	specR, specW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	specW.Close()
	if code := Run(specR, nil); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
}
