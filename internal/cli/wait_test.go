package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSubmitWaitExitCodes(t *testing.T) {
	s := startLive(t)
	wait := []string{"--wait", "--poll-interval", "50ms"}

	// SUCCEEDED: exit 0; the id on stdout at once, the end on stderr.
	r := runWith(t, s.url, runOpts{}, append([]string{"submit", "-q", "q", "-n", "ok"}, append(wait, "--", "sh", "-c", "echo hi")...)...)
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s", r.code, r)
	}
	id := strings.TrimSpace(r.stdout)
	if len(id) != 36 || !strings.Contains(r.stderr, "job "+id+" (ok) SUCCEEDED after") || !strings.Contains(r.stderr, "Received status from SageMaker: Completed") {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	noANSI(t, "stderr", r.stderr)

	// FAILED: exit 5, the reason in the error line.
	r = runWith(t, s.url, runOpts{}, append([]string{"submit", "-q", "q", "-n", "bad"}, append(wait, "--", "sh", "-c", "exit 3")...)...)
	if r.code != ExitJobFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitJobFailed, r)
	}
	last := r.stderr[strings.LastIndex(strings.TrimSuffix(r.stderr, "\n"), "\n")+1:]
	if !strings.HasPrefix(last, "sagequeue: job ") || !strings.Contains(last, "(bad) FAILED after") || !strings.Contains(last, "AlgorithmError: exit code 3") {
		t.Fatalf("last stderr line %q", last)
	}
	// Not a terminal: a line per change, no escape sequences.
	if !strings.Contains(r.stderr, "SUBMITTED  bad") && !strings.Contains(r.stderr, "RUNNABLE  bad") && !strings.Contains(r.stderr, "RUNNING  bad") {
		t.Fatalf("no progress lines: %q", r.stderr)
	}
	noANSI(t, "stderr", r.stderr)

	// The wait ends first: exit 6, and the job goes on.
	r = runWith(t, s.url, runOpts{}, append([]string{"submit", "-q", "q", "-n", "slow"}, append(wait, "--wait-timeout", "300ms", "--", "sleep", "30")...)...)
	if r.code != ExitWaitEnded || !strings.Contains(r.stderr, "stopped waiting (--wait-timeout 300ms passed)") || !strings.Contains(r.stderr, "the job goes on") {
		t.Fatalf("timeout: %s", r)
	}
	slow := strings.TrimSpace(r.stdout)
	if out := runWith(t, s.url, runOpts{}, "describe", slow, "-o", "json"); !strings.Contains(out.stdout, `"status"`) || strings.Contains(out.stdout, `"FAILED"`) {
		t.Fatalf("the job did not go on: %s", out)
	}
	wantCode(t, runWith(t, s.url, runOpts{}, "terminate", slow), ExitOK)

	// JSON: the final DescribeServiceJob output, nothing else on stdout.
	r = runWith(t, s.url, runOpts{}, append([]string{"-o", "json", "submit", "-q", "q", "-n", "js"}, append(wait, "--", "true")...)...)
	var final map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &final); err != nil || r.code != 0 || final["status"] != "SUCCEEDED" || final["jobName"] != "js" {
		t.Fatalf("json: %v %v\n%s", err, final, r)
	}

	// Usage.
	wantCode(t, runWith(t, s.url, runOpts{}, "submit", "-q", "q", "-n", "x", "--wait-timeout", "1s", "--", "true"), ExitUsage)
}

func TestSubmitWaitOnATerminal(t *testing.T) {
	s := startLive(t)
	args := []string{"submit", "-q", "q", "-n", "tty", "--wait", "--poll-interval", "50ms", "--", "sh", "-c", "sleep 1.5"}
	r := runWith(t, s.url, runOpts{terminal: true}, args...)
	wantCode(t, result{code: r.code}, ExitOK)
	// One line rewritten in place, with the status colored.
	if !strings.Contains(r.stderr, ansiClearLine) || !strings.Contains(r.stderr, sgrBlue+"RUNNING"+sgrReset) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("live line: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, sgrGreen+"SUCCEEDED"+sgrReset) {
		t.Fatalf("final line not colored: %q", r.stderr)
	}
	// NO_COLOR and --color never keep the live line but drop the colors.
	for _, o := range []runOpts{{terminal: true, env: map[string]string{"NO_COLOR": "1"}}} {
		r := runWith(t, s.url, o, args...)
		if r.code != 0 || !strings.Contains(r.stderr, ansiClearLine) || strings.Contains(r.stderr, "\x1b[3") {
			t.Fatalf("NO_COLOR: %q", r.stderr)
		}
	}
	r = runWith(t, s.url, runOpts{terminal: true}, append([]string{"--color", "never"}, args...)...)
	if r.code != 0 || strings.Contains(r.stderr, "\x1b[3") {
		t.Fatalf("--color never: %q", r.stderr)
	}
	// The id on stdout stays plain for $(...).
	noANSI(t, "stdout", r.stdout)
}

func TestLogsExitStatus(t *testing.T) {
	s := startLive(t)
	// Two attempts that both fail: --exit-status follows both, exit 5.
	r := runWith(t, s.url, runOpts{}, "submit", "-q", "q", "-n", "retry", "--attempts", "2", "--", "sh", "-c", "echo attempt $TRAINING_JOB_NAME; exit 1")
	wantCode(t, r, ExitOK)
	id := strings.TrimSpace(r.stdout)
	r = runWith(t, s.url, runOpts{timeout: 30 * time.Second}, "logs", id, "--exit-status", "--interval", "50ms")
	if r.code != ExitJobFailed {
		t.Fatalf("exit %d, want %d\n%s", r.code, ExitJobFailed, r)
	}
	if !strings.Contains(r.stdout, "attempt sagequeue-"+id+"-1") || !strings.Contains(r.stdout, "attempt sagequeue-"+id+"-2") {
		t.Fatalf("not both attempts' logs: %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "sagequeue: attempt 2 of job "+id+" started") || !strings.Contains(r.stderr, "FAILED after") {
		t.Fatalf("stderr %q", r.stderr)
	}

	r = runWith(t, s.url, runOpts{}, "submit", "-q", "q", "-n", "fine", "--", "sh", "-c", "echo all good")
	id = strings.TrimSpace(r.stdout)
	r = runWith(t, s.url, runOpts{timeout: 30 * time.Second}, "logs", id, "--exit-status", "--interval", "50ms")
	if r.code != ExitOK || strings.TrimSpace(r.stdout) != "all good" || r.stderr != "" {
		t.Fatalf("success: %s", r)
	}
	wantCode(t, runWith(t, s.url, runOpts{}, "logs", id, "--exit-status", "--attempt", "1"), ExitUsage)
}
