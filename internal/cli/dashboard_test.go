package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/dashboard"
)

// upstream is a stand-in deployment: it records the requests the
// dashboard proxy forwards and answers getdashboard.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	body []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen, u.body = append(u.seen, r), append(u.body, string(b))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(b), "refuse me") {
			w.Header().Set("X-Amzn-ErrorType", "ClientException")
			w.WriteHeader(400)
			io.WriteString(w, `{"message":"countLimit: must be between 1 and 1000"}`)
			return
		}
		io.WriteString(w, `{"generatedAt":1,"jobQueues":[{"jobQueueName":"q"}]}`)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("nothing was forwarded")
	}
	return u.seen[len(u.seen)-1], u.body[len(u.body)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDashboard runs `sagequeue dashboard` until the test ends and returns
// the URL it prints.
func startDashboard(t *testing.T, endpoint string) string {
	t.Helper()
	var out, errb lockedBuffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
		Now: time.Now, Location: time.UTC, Server: ServerParts{Dashboard: dashboard.Files{}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- a.Run(ctx, []string{"--endpoint", endpoint, "dashboard", "--listen", "127.0.0.1:0"}) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("sagequeue dashboard exited %d: %s", code, errb.String())
		}
	})
	re := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+/) `)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("sagequeue dashboard printed no URL: %q %q", out.String(), errb.String())
	return ""
}

func send(t *testing.T, method, url, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestDashboardProxy: the command serves the embedded dashboard and
// forwards the read operations to the endpoint (keeping its path), unsigned
// when no credentials are configured for a plain-HTTP endpoint, as the other
// commands send theirs (signed ones are below); it forwards nothing else,
// and answers only its own pages.
func TestDashboardProxy(t *testing.T) {
	up := newUpstream(t)
	base := startDashboard(t, up.srv.URL+"/prod")

	resp, body := send(t, "GET", base, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "app.js") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, "POST", base+"v1/getdashboard", `{"countLimit":5}`, "Content-Type", "application/json")
	if resp.StatusCode != 200 || body != `{"generatedAt":1,"jobQueues":[{"jobQueueName":"q"}]}` {
		t.Fatalf("getdashboard through the proxy: %d %s", resp.StatusCode, body)
	}
	fwd, fwdBody := up.last(t)
	if fwd.URL.Path != "/prod/v1/getdashboard" || fwdBody != `{"countLimit":5}` || fwd.Header.Get("Authorization") != "" {
		t.Errorf("forwarded %s %q, Authorization %q", fwd.URL.Path, fwdBody, fwd.Header.Get("Authorization"))
	}
	// The service's refusal comes back as it was.
	resp, body = send(t, "POST", base+"v1/getdashboard", `{"x":"refuse me"}`)
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "ClientException" || !strings.Contains(body, "countLimit: must be between") {
		t.Errorf("refusal: %d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}

	n := up.count()
	host := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/")
	for _, c := range []struct {
		name, method, path, body string
		headers                  []string
		code                     int
	}{
		{"a write", "POST", "v1/submitservicejob", `{}`, nil, 403},
		{"another site's page", "POST", "v1/getdashboard", `{}`, []string{"Origin", "http://evil.example"}, 403},
		{"a rebound name", "POST", "v1/getdashboard", `{}`, []string{"Host", "evil.example:" + strings.Split(host, ":")[1]}, 403},
		{"a rebound name, page", "GET", "", ``, []string{"Host", "evil.example:" + strings.Split(host, ":")[1]}, 403},
		{"GET of an operation", "GET", "v1/getdashboard", ``, nil, 405},
		{"not JSON", "POST", "v1/getdashboard", `{`, nil, 400},
		{"an unknown page", "GET", "nope.js", ``, nil, 404},
	} {
		if resp, body := send(t, c.method, base+c.path, c.body, c.headers...); resp.StatusCode != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.code)
		}
	}
	if up.count() != n {
		t.Errorf("refused requests were forwarded: %d more", up.count()-n)
	}
	// localhost is the same place.
	if resp, _ := send(t, "POST", base+"v1/getdashboard", `{}`, "Host", "localhost:"+strings.Split(host, ":")[1]); resp.StatusCode != 200 {
		t.Errorf("Host localhost: %d", resp.StatusCode)
	}
}

// TestDashboardSigning: the proxy signs as every command does (signing.go):
// here for execute-api, as for an API Gateway endpoint.
func TestDashboardSigning(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDASHBOARD")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	up := newUpstream(t)
	a := &App{Endpoint: up.srv.URL, Output: "table", Region: "eu-west-1", SigningName: SigningExecuteAPI, Getenv: func(string) string { return "" }}
	srv := httptest.NewServer(&dashboardProxy{app: a, files: dashboard.Files{}, hosts: map[string]bool{"127.0.0.1": true}})
	defer srv.Close()
	if resp, body := send(t, "POST", srv.URL+"/v1/getutilization", `{}`); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if fwd, _ := up.last(t); !regexp.MustCompile(`Credential=AKIDDASHBOARD/\d{8}/eu-west-1/execute-api/aws4_request`).MatchString(fwd.Header.Get("Authorization")) {
		t.Errorf("Authorization %q, want a signature for execute-api in eu-west-1", fwd.Header.Get("Authorization"))
	}
}

func TestDashboardUsage(t *testing.T) {
	r := runCLI(t, "http://127.0.0.1:9", "", "dashboard", "--listen", "0.0.0.0:8643")
	wantCode(t, r, ExitUsage)
	if !strings.Contains(r.stderr, "not a loopback address") {
		t.Errorf("stderr %q", r.stderr)
	}
	r = runCLI(t, "http://127.0.0.1:9", "", "--endpoint", "aws", "dashboard")
	wantCode(t, r, ExitUsage)
}
