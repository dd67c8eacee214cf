package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_sagequeue",
		"zsh":        "#compdef sagequeue",
		"fish":       "complete -c sagequeue",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := runCLI(t, "http://127.0.0.1:9", "", "completion", shell)
		wantCode(t, r, ExitOK)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("%s script lacks %q", shell, want)
		}
	}
	wantCode(t, runCLI(t, "http://127.0.0.1:9", "", "completion", "tcsh"), ExitUsage)
	// Listed in the help.
	if r := runCLI(t, "http://127.0.0.1:9", "", "--help"); !strings.Contains(r.stdout, "completion") {
		t.Errorf("help does not list completion:\n%s", r.stdout)
	}
}

// complete runs cobra's hidden __complete command and returns the
// completions (without descriptions) and the directive line.
func complete(t *testing.T, url string, args ...string) ([]string, string) {
	t.Helper()
	r := runCLI(t, url, "", append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var out []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		out = append(out, v)
	}
	return out, lines[len(lines)-1]
}

func TestDynamicCompletion(t *testing.T) {
	s := newServer(t)
	s.ok(t, "env", "create", "gpu", "--max-capacity", "4")
	s.ok(t, "policy", "create", "fair", "--share", "a=1")
	s.ok(t, "queue", "create", "research", "--priority", "1", "--env", "gpu")
	s.ok(t, "queue", "create", "review", "--priority", "1", "--env", "gpu", "--policy", "fair")
	id := strings.TrimSpace(s.ok(t, "submit", "-q", "research", "-n", "hello", "--", "x"))

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"snapshot", ""}, []string{"research", "review"}},
		{[]string{"watch", "rev"}, []string{"review"}},
		{[]string{"snapshot", "research", ""}, nil}, // one queue only
		{[]string{"submit", "-q", ""}, []string{"research", "review"}},
		{[]string{"list", "--queue", "res"}, []string{"research"}},
		{[]string{"queue", "create", "x", "--policy", ""}, []string{"fair"}},
		{[]string{"queue", "update", "x", "--env", ""}, []string{"gpu"}},
		{[]string{"env", "describe", ""}, []string{"gpu"}},
		{[]string{"describe", ""}, []string{id}},
		{[]string{"logs", ""}, []string{id}},
		{[]string{"terminate", ""}, []string{id}},
		{[]string{"terminate", id, ""}, nil}, // not twice
		{[]string{"list", "--status", "RUNN"}, []string{"RUNNABLE", "RUNNING"}},
		{[]string{"--color", ""}, []string{"auto", "always", "never"}},
	} {
		got, directive := complete(t, s.url, c.args...)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("complete %q = %v, want %v", c.args, got, c.want)
		}
		if !strings.HasPrefix(directive, ":") {
			t.Errorf("directive %q", directive)
		}
	}
	// With descriptions, as shells show them.
	r := runCLI(t, s.url, "", "__complete", "describe", "")
	if !strings.Contains(r.stdout, id+"\thello SUBMITTED") {
		t.Errorf("job completion: %q", r.stdout)
	}
	// No server: no completions, no error.
	if got, _ := complete(t, "http://127.0.0.1:9", "snapshot", ""); len(got) != 0 {
		t.Errorf("without a server: %v", got)
	}
}

func TestColorsOnlyOnATerminal(t *testing.T) {
	s := newServer(t)
	s.ok(t, "env", "create", "gpu", "--max-capacity", "4")
	s.ok(t, "queue", "create", "research", "--priority", "1", "--env", "gpu")
	id := strings.TrimSpace(s.ok(t, "submit", "-q", "research", "-n", "hello", "--", "x"))

	plain := runWith(t, s.url, runOpts{}, "list")
	noANSI(t, "list", plain.stdout)
	tty := runWith(t, s.url, runOpts{terminal: true}, "list")
	if !strings.Contains(tty.stdout, sgrGray+"SUBMITTED"+sgrReset) {
		t.Fatalf("no colors on a terminal:\n%q", tty.stdout)
	}
	// The columns still line up: the same text once the colors are gone.
	if stripANSI(tty.stdout) != plain.stdout {
		t.Fatalf("colored table differs from the plain one:\n%s\n%s", stripANSI(tty.stdout), plain.stdout)
	}
	for name, o := range map[string]struct {
		opts runOpts
		args []string
	}{
		"NO_COLOR":      {runOpts{terminal: true, env: map[string]string{"NO_COLOR": "1"}}, []string{"list"}},
		"--color never": {runOpts{terminal: true}, []string{"--color", "never", "list"}},
		"TERM=dumb":     {runOpts{terminal: true, env: map[string]string{"TERM": "dumb"}}, []string{"list"}},
		"json":          {runOpts{terminal: true}, []string{"-o", "json", "describe", id}},
	} {
		r := runWith(t, s.url, o.opts, o.args...)
		noANSI(t, name, r.stdout)
	}
	// --color always colors even a pipe, and beats NO_COLOR.
	r := runWith(t, s.url, runOpts{env: map[string]string{"NO_COLOR": "1"}}, "--color", "always", "describe", id)
	if !strings.Contains(r.stdout, "Status:     "+sgrGray+"SUBMITTED") {
		t.Fatalf("--color always:\n%q", r.stdout)
	}
	wantCode(t, runWith(t, s.url, runOpts{}, "--color", "sometimes", "list"), ExitUsage)
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			i = skipEscape(s, i)
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func TestWatch(t *testing.T) {
	s := startLive(t)
	for range 2 {
		wantCode(t, runWith(t, s.url, runOpts{}, "submit", "-q", "fair", "--share", "a", "-n", "long", "--instance-count", "2", "--", "sleep", "30"), ExitOK)
	}
	wantCode(t, runWith(t, s.url, runOpts{}, "submit", "-q", "fair", "--share", "a", "-n", "waiting", "--", "true"), ExitOK)
	// Wait for the two to run and the third to wait behind them.
	for i := 0; ; i++ {
		r := runWith(t, s.url, runOpts{}, "-o", "json", "watch", "fair", "--iterations", "1")
		var f watchFrame
		if err := json.Unmarshal([]byte(r.stdout), &f); err != nil {
			t.Fatalf("%v: %s", err, r)
		}
		if f.Counts["RUNNING"] == 2 && f.Counts["RUNNABLE"] == 1 {
			if f.Source != "getdashboard" || len(f.Environments) != 1 || f.Environments[0].InUse != 4 || f.Environments[0].Capacity != 4 ||
				len(f.Front) != 1 || f.Front[0].Name != "waiting" || len(f.Running) != 2 || f.Running[0].Instances != 2 {
				t.Fatalf("frame %+v", f)
			}
			break
		}
		if i == 200 {
			t.Fatalf("jobs did not settle: %s", r.stdout)
		}
	}

	// Plain frames when not on a terminal, one per refresh.
	r := runWith(t, s.url, runOpts{}, "watch", "fair", "--iterations", "2", "--interval", "100ms")
	wantCode(t, r, ExitOK)
	noANSI(t, "watch", r.stdout)
	if strings.Count(r.stdout, "sagequeue watch fair · fair share") != 2 || !strings.Contains(r.stdout, "RUNNING 2") ||
		!strings.Contains(r.stdout, "Env box:  [████████████████████] 4/4 instances in use (100%)") || !strings.Contains(r.stdout, "FRONT OF QUEUE (1 waiting)") {
		t.Fatalf("plain output:\n%s", r.stdout)
	}

	// On a terminal: the alternate screen, redrawn from the top, no
	// newline at the end (no scrolling), the cursor back on exit.
	r = runWith(t, s.url, runOpts{terminal: true, env: map[string]string{"COLUMNS": "100", "LINES": "12"}}, "watch", "fair", "--iterations", "2", "--interval", "100ms")
	if r.code != 0 || !strings.HasPrefix(r.stdout, ansiAltScreen+ansiHideCursor+ansiHome) || !strings.HasSuffix(r.stdout, ansiShowCursor+ansiMainScreen) ||
		strings.Count(r.stdout, ansiHome) != 2 {
		t.Fatalf("terminal output: %q", r.stdout)
	}
	frame := r.stdout[strings.LastIndex(r.stdout, ansiHome):]
	if n := strings.Count(frame, "\r\n") + 1; n > 12 {
		t.Fatalf("a frame of %d lines on a 12-line terminal: %q", n, frame)
	}
	for _, l := range strings.Split(stripANSI(frame), "\r\n") {
		if visibleWidth(l) > 100 {
			t.Fatalf("a line wider than the terminal: %q", l)
		}
	}

	wantCode(t, runWith(t, s.url, runOpts{}, "watch", "nope", "--iterations", "1"), ExitNotFound)
	wantCode(t, runWith(t, s.url, runOpts{}, "watch", "fair", "--interval", "1ms"), ExitUsage)
	terminateAll(t, s)
}

// TestWatchWithoutDashboard: against a server without getdashboard (AWS
// Batch), watch counts with ListServiceJobs.
func TestWatchWithoutDashboard(t *testing.T) {
	s := newServer(t)
	s.ok(t, "env", "create", "gpu", "--max-capacity", "4")
	s.ok(t, "queue", "create", "research", "--priority", "1", "--env", "gpu")
	for range 3 {
		s.ok(t, "submit", "-q", "research", "-n", "w", "--", "x")
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/getdashboard" {
			w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"unknown operation"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, s.url+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	r := runWith(t, proxy.URL, runOpts{}, "-o", "json", "watch", "research", "--iterations", "1")
	var f watchFrame
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil || r.code != 0 {
		t.Fatalf("%v: %s", err, r)
	}
	if f.Source != "ListServiceJobs" || f.Counts["SUBMITTED"] != 3 || len(f.Environments) != 1 || f.Environments[0].Capacity != 4 {
		t.Fatalf("frame %+v", f)
	}
	wantCode(t, runWith(t, proxy.URL, runOpts{}, "watch", "nope", "--iterations", "1"), ExitNotFound)
}

// terminateAll ends the jobs a test left running, so the server stops fast.
func terminateAll(t *testing.T, s *liveServer) {
	r := runWith(t, s.url, runOpts{}, "-o", "json", "list")
	var m struct {
		JobSummaryList []struct{ JobId, Status string }
	}
	_ = json.Unmarshal([]byte(r.stdout), &m)
	for _, j := range m.JobSummaryList {
		if j.Status != "SUCCEEDED" && j.Status != "FAILED" {
			runWith(t, s.url, runOpts{}, "terminate", j.JobId)
		}
	}
}
