package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain keeps the developer's AWS configuration out of the tests and
// makes failures fast: one attempt per request, no retries with backoff.
func TestMain(m *testing.M) {
	for _, k := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "SAGEQUEUE_ENDPOINT",
	} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	os.Setenv("AWS_MAX_ATTEMPTS", "1")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	os.Exit(m.Run())
}

// testNow is the clock of the tests: 2025-06-01 12:00:00 UTC.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// runCLI runs the CLI in-process against endpoint (passed through
// SAGEQUEUE_ENDPOINT), with the test clock and UTC times.
func runCLI(t *testing.T, endpoint, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string {
			if k == "SAGEQUEUE_ENDPOINT" {
				return endpoint
			}
			return ""
		},
		Now:      func() time.Time { return testNow },
		Location: time.UTC,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := a.Run(ctx, args)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	t.Logf("sagequeue %s -> %d\n%s%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// wantCode fails the test unless r exited with code; it checks that an
// error is exactly one line on stderr, and that success prints nothing there.
func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\n%s", r.code, code, r)
	}
	if code == 0 && r.stderr != "" {
		t.Fatalf("stderr on success: %q", r.stderr)
	}
	if code != 0 {
		if !strings.HasPrefix(r.stderr, "sagequeue: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
			t.Fatalf("error is not one line starting with 'sagequeue: ': %q", r.stderr)
		}
	}
}

// recorded is one request a recorder received.
type recorded struct {
	op   string
	raw  []byte
	body map[string]any
}

// recorder is a stand-in server for unit tests of the CLI's requests: it
// records each request and answers with reply (200 {} by default).
type recorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []recorded
	reply func(op string, body map[string]any) (status int, errType string, resp any)
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		raw, _ := io.ReadAll(hr.Body)
		op := strings.TrimPrefix(hr.URL.Path, "/v1/")
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{op: op, raw: raw, body: body})
		reply := r.reply
		r.mu.Unlock()
		status, errType, resp := 200, "", any(map[string]any{})
		if reply != nil {
			status, errType, resp = reply(op, body)
		}
		if errType != "" {
			w.Header().Set("X-Amzn-ErrorType", errType)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) URL() string { return r.srv.URL }

// last returns the last request for op.
func (r *recorder) last(t *testing.T, op string) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.reqs) - 1; i >= 0; i-- {
		if r.reqs[i].op == op {
			return r.reqs[i]
		}
	}
	t.Fatalf("no %s request; got %d requests", op, len(r.reqs))
	return recorded{}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// dig returns the value at a path of object members.
func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
