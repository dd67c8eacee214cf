package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/testcert"
)

// The people of the shared box in the e2e tests: an admin and two users.
const (
	aliceKey, aliceSecret = "AKIAALICE0000000001", "alice-secret-0123456789"
	bobKey, bobSecret     = "AKIABOB00000000000001", "bob-secret-0123456789xy"
	carolKey, carolSecret = "AKIACAROL000000000001", "carol-secret-0123456789"
)

const sharedConfig = `
environments:
  - {name: gpu, maxCapacity: 4}
queues:
  - {name: research, priority: 10, environments: [gpu]}
  - {name: prod, priority: 20, environments: [gpu]}
`

func sharedAuthFile(bobSecret string, runAs map[string]string) string {
	line := func(name, key, secret, role, extra string) string {
		if a := runAs[name]; a != "" {
			extra += ", runAs: '" + a + "'"
		}
		return "  - {name: " + name + ", accessKeyId: " + key + ", secret: " + secret + ", role: " + role + extra + "}\n"
	}
	return "users:\n" + line("alice", aliceKey, aliceSecret, "admin", "") +
		line("bob", bobKey, bobSecret, "user", ", queues: [research]") +
		line("carol", carolKey, carolSecret, "user", ", queues: [research]")
}

// sharedAddress is a non-loopback IPv4 address of this machine, where a
// team would reach a shared serve. Without one (a machine with loopback
// only) it is 127.0.0.2, which serve takes for loopback: the requests and
// their checks are the same, but the refusal to serve it without
// authentication is then shown on 0.0.0.0 alone.
func sharedAddress(t *testing.T) (ip string, loopback bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && n.IP.IsGlobalUnicast() {
			if ln, err := net.Listen("tcp", net.JoinHostPort(n.IP.String(), "0")); err == nil {
				ln.Close()
				return n.IP.String(), false
			}
		}
	}
	t.Logf("this machine has no non-loopback IPv4 address to serve on: using 127.0.0.2")
	return "127.0.0.2", true
}

// startShared starts serve on the shared address with the auth file, TLS,
// and extra options.
func startShared(t *testing.T, o ServerOptions, runAs map[string]string) (s *Server, authFile string) {
	t.Helper()
	ip, _ := sharedAddress(t)
	dir := t.TempDir()
	authFile = filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(authFile, []byte(sharedAuthFile(bobSecret, runAs)), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	o.CA = testcert.Write(t, cert, key, "sagequeue e2e", net.ParseIP(ip))
	o.Host, o.Key, o.Secret = ip, aliceKey, aliceSecret
	o.Args = append(o.Args, "--auth-file", authFile, "--tls-cert", cert, "--tls-key", key)
	return StartServer(t, sharedConfig, o), authFile
}

// TestServeRefusesToShareWithoutAuth: serve will not listen where others
// reach it without an auth file, and says how to give one.
func TestServeRefusesToShareWithoutAuth(t *testing.T) {
	ip, loopback := sharedAddress(t)
	listens := []string{"0.0.0.0:0"}
	if !loopback {
		listens = append(listens, net.JoinHostPort(ip, "0"))
	}
	for _, listen := range listens {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, binary, "serve", "--listen", listen, "--data-dir", t.TempDir()).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !strings.Contains(string(out), "refusing to serve without authentication on a non-loopback address") ||
			!strings.Contains(string(out), "Give --auth-file FILE") {
			t.Errorf("serve --listen %s without --auth-file: %v\n%s", listen, err, out)
		}
	}
}

// apiError is the code, HTTP status and message of an SDK error.
func apiError(t *testing.T, err error) (code string, status int, msg string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("got %v, want an error answered by the server", err)
	}
	return ae.ErrorCode(), re.HTTPStatusCode(), ae.ErrorMessage()
}

// skewedSigner signs as if the client's clock were off.
type skewedSigner struct {
	*v4.Signer
	offset time.Duration
}

func (s skewedSigner) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, hash, service, region string, at time.Time, opts ...func(*v4.SignerOptions)) error {
	return s.Signer.SignHTTP(ctx, c, r, hash, service, region, at.Add(s.offset), opts...)
}

// TestSharedBox is serve on a non-loopback address of this machine with an
// auth file and TLS, as a team shares a GPU box: the real SDK with the
// right keys works end to end, and every bad request is refused as AWS
// refuses it, changing nothing.
func TestSharedBox(t *testing.T) {
	s, authFile := startShared(t, ServerOptions{}, nil)
	bob := s.Client(bobKey, bobSecret)
	ctx := context.Background()

	out, err := bob.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("bob-1"), JobQueue: aws.String("research"),
		ServiceJobType: jobType, ServiceRequestPayload: aws.String(Payload(`echo hello from bob`, 1))})
	if err != nil {
		t.Fatalf("bob submits to his queue: %v", err)
	}
	mine := aws.ToString(out.JobId)
	release := s.File("release")
	theirs := s.Submit("prod", "alices", Payload(blocker(release), 1))
	s.WaitStatus(mine, types.ServiceJobStatusSucceeded, 30*time.Second)
	s.WaitStatus(theirs, types.ServiceJobStatusRunning, 30*time.Second)
	if d, err := bob.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &theirs}); err != nil || d.Status != types.ServiceJobStatusRunning {
		t.Fatalf("bob reads alice's job: %v", err)
	}

	count := func() int { return len(s.ListAll("research", "")) + len(s.ListAll("prod", "")) }
	jobs := count()
	alicesJob := func() string {
		d := s.Describe(theirs)
		return string(d.Status) + "/" + aws.ToString(d.StatusReason) + "/" + strings.TrimSpace(strings.Join([]string{
			itoa(aws.ToInt32(d.SchedulingPriority)), boolString(aws.ToBool(d.IsTerminated))}, ","))
	}
	before := alicesJob()
	submitBy := func(c *batch.Client, queue string) error {
		_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String("bad"), JobQueue: aws.String(queue),
			ServiceJobType: jobType, ServiceRequestPayload: aws.String(Payload("true", 1))})
		return err
	}

	for name, tc := range map[string]struct {
		call     func() error
		code     string
		status   int
		contains string
	}{
		"unknown key": {func() error { return submitBy(s.Client("AKIANOBODY000000000", aliceSecret), "research") },
			"UnrecognizedClientException", 403, "The security token included in the request is invalid."},
		"wrong secret": {func() error { return submitBy(s.Client(bobKey, "not-bobs-secret-0123456"), "research") },
			"InvalidSignatureException", 403, "The request signature we calculated does not match the signature you provided."},
		"a date 16 minutes off": {func() error {
			return submitBy(s.Client(bobKey, bobSecret, func(o *batch.Options) { o.HTTPSignerV4 = skewedSigner{v4.NewSigner(), -16 * time.Minute} }), "research")
		}, "InvalidSignatureException", 403, "Signature expired"},
		"a signature for another service": {func() error {
			return submitBy(s.Client(bobKey, bobSecret, batch.WithSigV4SigningName("sagemaker")), "research")
		}, "InvalidSignatureException", 403, "Credential should be scoped to correct service: 'batch'."},
		"a user submitting to a queue not theirs": {func() error { return submitBy(bob, "prod") },
			"AccessDeniedException", 403, "User: bob is not authorized to perform: batch:SubmitServiceJob on resource: arn:aws:batch:local:000000000000:job-queue/prod"},
		"a user terminating another user's job": {func() error {
			_, err := bob.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &theirs, Reason: aws.String("mine now")})
			return err
		}, "AccessDeniedException", 403, "User: bob is not authorized to perform: batch:TerminateServiceJob on resource: arn:aws:batch:local:000000000000:service-job/" + theirs},
		"a user changing a queue": {func() error {
			_, err := bob.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("research"), Priority: aws.Int32(99)})
			return err
		}, "AccessDeniedException", 403, "batch:UpdateJobQueue"},
	} {
		t.Run(name, func(t *testing.T) {
			code, status, msg := apiError(t, tc.call())
			if code != tc.code || status != tc.status || !strings.Contains(msg, tc.contains) {
				t.Fatalf("HTTP %d %s %q; want HTTP %d %s containing %q", status, code, msg, tc.status, tc.code, tc.contains)
			}
		})
	}

	// Below the SDK: what no SDK sends.
	signed := func(body string, change func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/v1/submitservicejob", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: bobKey, SecretAccessKey: bobSecret}, req, hex.EncodeToString(sum[:]), "batch", "local", time.Now()); err != nil {
			t.Fatal(err)
		}
		if change != nil {
			change(req)
		}
		resp, err := s.HTTP().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	body := `{"jobName":"raw","jobQueue":"research","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":` + jsonString(Payload("true", 1)) + `}`
	if resp := signed(body, nil); resp.StatusCode != 200 {
		t.Fatalf("a signed raw request: HTTP %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	jobs++
	for name, tc := range map[string]struct {
		change  func(*http.Request)
		status  int
		errType string
	}{
		"unsigned": {func(r *http.Request) { r.Header.Del("Authorization") }, 403, "MissingAuthenticationTokenException"},
		"a body changed after signing": {func(r *http.Request) {
			b := strings.Replace(body, `"jobName":"raw"`, `"jobName":"rAw"`, 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}, 403, "InvalidSignatureException"},
	} {
		if resp := signed(body, tc.change); resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-ErrorType") != tc.errType {
			t.Errorf("%s: HTTP %d %s, want %d %s", name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.status, tc.errType)
		}
	}
	if n := count(); n != jobs {
		t.Errorf("refused requests stored jobs: %d, want %d", n, jobs)
	}
	if after := alicesJob(); after != before {
		t.Errorf("refused requests changed alice's job: %s -> %s", before, after)
	}

	// The log names the keys of refused requests, never a secret.
	logs := s.Stderr()
	for _, want := range []string{"accessKeyId=" + bobKey, "accessKeyId=AKIANOBODY000000000"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not have %q", want)
		}
	}
	for _, secret := range []string{aliceSecret, bobSecret, carolSecret, "not-bobs-secret-0123456"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log has a secret")
		}
	}

	// The dashboard: nothing without a session; a forged cookie is refused;
	// a session is revoked when the auth file changes the secret (SIGHUP).
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		c := *s.HTTP()
		c.Jar = jar
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &c
	}
	anonymous := browser()
	if resp := get(t, anonymous, s.URL+"/"); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Errorf("the dashboard without a session: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := post(t, anonymous, s.URL+"/v1/getdashboard", "application/json", "{}", s.URL); resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("a dashboard request without a session: HTTP %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	u, _ := url.Parse(s.URL)
	anonymous.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-sagequeue-session", Value: "forged-forged-forged-forged-forged-forged00"}})
	if resp := post(t, anonymous, s.URL+"/v1/getdashboard", "application/json", "{}", s.URL); resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "UnrecognizedClientException" {
		t.Errorf("a forged cookie: HTTP %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	bobsBrowser := browser()
	form := url.Values{"accessKeyId": {bobKey}, "secret": {bobSecret}}.Encode()
	resp := post(t, bobsBrowser, s.URL+"/login", "application/x-www-form-urlencoded", form, s.URL)
	if resp.StatusCode != 303 {
		t.Fatalf("bob's login: HTTP %d", resp.StatusCode)
	}
	var detail struct{ SubmittedBy string }
	resp = post(t, bobsBrowser, s.URL+"/v1/describeservicejob", "application/json", `{"jobId":"`+mine+`"}`, s.URL)
	if err := json.NewDecoder(resp.Body).Decode(&detail); err != nil || resp.StatusCode != 200 || detail.SubmittedBy != "bob" {
		t.Errorf("bob's job read in his session: HTTP %d, submittedBy %q", resp.StatusCode, detail.SubmittedBy)
	}

	newSecret := "bob-rotated-secret-98765"
	if err := os.WriteFile(authFile, []byte(sharedAuthFile(newSecret, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := post(t, bobsBrowser, s.URL+"/v1/getdashboard", "application/json", "{}", s.URL)
		if resp.StatusCode == 403 && resp.Header.Get("X-Amzn-ErrorType") == "ExpiredTokenException" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's session after his secret changed: HTTP %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, _ := apiError(t, submitBy(bob, "research")); code != "InvalidSignatureException" {
		t.Errorf("bob's old secret after the reload: %s", code)
	}
	if err := submitBy(s.Client(bobKey, newSecret), "research"); err != nil {
		t.Errorf("bob's new secret after the reload: %v", err)
	}
	touch(t, release)
	s.WaitStatus(theirs, types.ServiceJobStatusSucceeded, 30*time.Second)
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return do(t, c, req)
}

func post(t *testing.T, c *http.Client, u, contentType, body, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", origin)
	return do(t, c, req)
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(i int32) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// dashboardLoginOut is where TestDashboardLoginInBrowser leaves its
// screenshots (git-ignored), relative to this package.
const dashboardLoginOut = "out/dashboard-login"

// TestDashboardLoginInBrowser: headless Chromium logs into the dashboard of
// a shared serve (auth file, TLS), sees the jobs, logs out, and is refused
// afterwards (dashboard_login_browser.mjs).
func TestDashboardLoginInBrowser(t *testing.T) {
	node := browserTools(t)
	s, _ := startShared(t, ServerOptions{}, nil)
	out, err := s.Client(bobKey, bobSecret).SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{JobName: aws.String("bobs-job"),
		JobQueue: aws.String("research"), ServiceJobType: jobType, ServiceRequestPayload: aws.String(Payload(`echo trained`, 1))})
	if err != nil {
		t.Fatal(err)
	}
	s.WaitStatus(aws.ToString(out.JobId), types.ServiceJobStatusSucceeded, 30*time.Second)

	dir, err := filepath.Abs(dashboardLoginOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(map[string]any{
		"url": s.URL + "/", "out": dir, "chromium": chromiumPath, "userDataDir": t.TempDir(),
		"key": bobKey, "secret": bobSecret, "user": "bob", "jobName": "bobs-job", "succeeded": 1,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard_login_browser.mjs")
	cmd.Env = append(os.Environ(), "DASHBOARD_LOGIN_TEST="+string(input))
	output, err := cmd.CombinedOutput()
	t.Logf("dashboard_login_browser.mjs:\n%s", output)
	if err != nil {
		t.Fatalf("the browser test failed: %v (see the output above and %s)", err, filepath.Join(dir, "failure.png"))
	}
	if !strings.Contains(s.Stderr(), `msg="dashboard login" component=auth user=bob`) || !strings.Contains(s.Stderr(), `msg="dashboard logout" component=auth user=bob`) ||
		!strings.Contains(s.Stderr(), `msg="dashboard login refused" component=auth accessKeyId=`+bobKey) {
		t.Errorf("the server's log should record the refused login, the login and the logout:\n%s", s.Stderr())
	}
}
