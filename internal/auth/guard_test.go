package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/auth"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

var ctx = context.Background()

const (
	aliceKey, aliceSecret = "AKIAALICE0000000001", "alice-secret-0123456789"
	bobKey, bobSecret     = "AKIABOB00000000000001", "bob-secret-0123456789xy"
)

const authFile = `
users:
  - {name: alice, accessKeyId: ` + aliceKey + `, secret: ` + aliceSecret + `, role: admin}
  - {name: bob, accessKeyId: ` + bobKey + `, secret: ` + bobSecret + `, role: user, queues: [research]}
`

const payload = `{"AlgorithmSpecification":{"TrainingImage":"img","TrainingInputMode":"File"},"ResourceConfig":{"InstanceType":"ml.g5.xlarge","InstanceCount":1,"VolumeSizeInGB":30}}`

// world is a Batch API behind a Guard, as serve runs it.
type world struct {
	t     *testing.T
	guard *auth.Guard
	file  string
	store store.Store
	srv   *httptest.Server
	mu    sync.Mutex
	now   time.Time
}

func newWorld(t *testing.T, useTLS bool) *world {
	t.Helper()
	w := &world{t: t, now: time.Now(), file: filepath.Join(t.TempDir(), "auth.yaml")}
	writeFile(t, w.file, authFile)
	g, err := auth.New(auth.Options{File: w.file, TLS: useTLS, Now: w.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w.guard = g
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sagequeue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.store = st
	h := g.Wrap(api.New(api.Config{Store: st, Account: model.LocalAccount, Identity: auth.CallerName, Access: g}))
	if useTLS {
		w.srv = httptest.NewTLSServer(h)
	} else {
		w.srv = httptest.NewServer(h)
	}
	t.Cleanup(w.srv.Close)
	return w
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// skewed signs as if the client's clock were off by offset.
type skewed struct {
	*v4.Signer
	offset time.Duration
}

func (s skewed) SignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, hash, service, region string, t time.Time, opts ...func(*v4.SignerOptions)) error {
	return s.Signer.SignHTTP(ctx, c, r, hash, service, region, t.Add(s.offset), opts...)
}

// client is the real SDK Batch client with the given keys.
func (w *world) client(key, secret string, opts ...func(*batch.Options)) *batch.Client {
	return batch.New(batch.Options{
		BaseEndpoint: aws.String(w.srv.URL), Region: "local", HTTPClient: w.srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	}, opts...)
}

func refusedAs(t *testing.T, err error, code string, status int, contains string) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("got %v, want HTTP %d %s", err, status, code)
	}
	if ae.ErrorCode() != code || re.HTTPStatusCode() != status || !strings.Contains(ae.ErrorMessage(), contains) {
		t.Fatalf("got HTTP %d %s %q, want HTTP %d %s containing %q", re.HTTPStatusCode(), ae.ErrorCode(), ae.ErrorMessage(), status, code, contains)
	}
}

func (w *world) setup(admin *batch.Client) {
	w.t.Helper()
	if _, err := admin.CreateServiceEnvironment(ctx, &batch.CreateServiceEnvironmentInput{
		ServiceEnvironmentName: aws.String("gpu"), ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
		CapacityLimits: []types.CapacityLimit{{CapacityUnit: aws.String("NUM_INSTANCES"), MaxCapacity: aws.Int32(4)}},
	}); err != nil {
		w.t.Fatal(err)
	}
	for _, q := range []string{"research", "prod"} {
		if _, err := admin.CreateJobQueue(ctx, &batch.CreateJobQueueInput{
			JobQueueName: aws.String(q), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
			ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("gpu")}},
		}); err != nil {
			w.t.Fatal(err)
		}
	}
}

func submit(c *batch.Client, queue, name string) (string, error) {
	out, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{JobName: aws.String(name), JobQueue: aws.String(queue),
		ServiceJobType: types.ServiceJobTypeSagemakerTraining, ServiceRequestPayload: aws.String(payload)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.JobId), nil
}

func (w *world) jobs() int {
	page, err := w.store.ListJobs(ctx, store.JobQuery{Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(page.Jobs)
}

func TestSignedRequestsAndRoles(t *testing.T) {
	w := newWorld(t, false)
	alice, bob := w.client(aliceKey, aliceSecret), w.client(bobKey, bobSecret)
	w.setup(alice)

	mine, err := submit(bob, "research", "bobs")
	if err != nil {
		t.Fatalf("bob submits to his queue: %v", err)
	}
	theirs, err := submit(alice, "prod", "alices")
	if err != nil {
		t.Fatalf("alice submits anywhere: %v", err)
	}
	d, err := bob.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &theirs})
	if err != nil {
		t.Fatalf("bob reads alice's job: %v", err)
	}
	if got := submittedBy(t, w, mine); got != "bob" {
		t.Errorf("bob's job was submitted by %q", got)
	}
	if got := submittedBy(t, w, theirs); got != "alice" || d.Status == "" {
		t.Errorf("alice's job was submitted by %q", got)
	}

	jobs := w.jobs()
	_, err = submit(bob, "prod", "not-his")
	refusedAs(t, err, "AccessDeniedException", 403, "User: bob is not authorized to perform: batch:SubmitServiceJob on resource: arn:aws:batch:local:000000000000:job-queue/prod because role user may submit only to the queues the auth file lists for bob (research)")
	_, err = bob.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &theirs, Reason: aws.String("mine now")})
	refusedAs(t, err, "AccessDeniedException", 403, "batch:TerminateServiceJob on resource: arn:aws:batch:local:000000000000:service-job/"+theirs+" because role user may act only on their own jobs, and this one was submitted by alice")
	_, err = bob.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &theirs, SchedulingPriority: aws.Int32(9)})
	refusedAs(t, err, "AccessDeniedException", 403, "batch:UpdateServiceJob")
	_, err = bob.UpdateJobQueue(ctx, &batch.UpdateJobQueueInput{JobQueue: aws.String("research"), Priority: aws.Int32(100)})
	refusedAs(t, err, "AccessDeniedException", 403, "User: bob is not authorized to perform: batch:UpdateJobQueue because role user may not change")
	_, err = bob.DeleteServiceEnvironment(ctx, &batch.DeleteServiceEnvironmentInput{ServiceEnvironment: aws.String("gpu")})
	refusedAs(t, err, "AccessDeniedException", 403, "batch:DeleteServiceEnvironment")
	if w.jobs() != jobs {
		t.Errorf("refused requests stored jobs: %d -> %d", jobs, w.jobs())
	}
	if j, _ := w.store.GetJob(ctx, theirs); j.IsTerminated || j.TerminateReason != "" || j.SchedulingPriority != 0 {
		t.Errorf("refused requests changed alice's job: %+v", j)
	}
	if q, _ := w.store.GetQueue(ctx, "research"); q.Priority != 1 {
		t.Errorf("a refused request changed the queue's priority to %d", q.Priority)
	}
	// Bob acts on his own job; alice on anyone's.
	if _, err := bob.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: &mine, Reason: aws.String("done")}); err != nil {
		t.Errorf("bob terminates his own job: %v", err)
	}
	if _, err := alice.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{JobId: &theirs, SchedulingPriority: aws.Int32(3)}); err != nil {
		t.Errorf("alice updates a job: %v", err)
	}
}

func submittedBy(t *testing.T, w *world, id string) string {
	j, err := w.store.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return j.SubmittedBy
}

func TestBadSignaturesThroughTheSDK(t *testing.T) {
	w := newWorld(t, false)
	w.setup(w.client(aliceKey, aliceSecret))
	jobs := w.jobs()
	for name, tc := range map[string]struct {
		client         *batch.Client
		code, contains string
	}{
		"unknown key":  {w.client("AKIANOBODY000000000", aliceSecret), "UnrecognizedClientException", "The security token included in the request is invalid."},
		"wrong secret": {w.client(aliceKey, bobSecret), "InvalidSignatureException", "The request signature we calculated does not match"},
		"16 minutes slow": {w.client(aliceKey, aliceSecret, func(o *batch.Options) { o.HTTPSignerV4 = skewed{v4.NewSigner(), -16 * time.Minute} }),
			"InvalidSignatureException", "Signature expired"},
		"16 minutes fast": {w.client(aliceKey, aliceSecret, func(o *batch.Options) { o.HTTPSignerV4 = skewed{v4.NewSigner(), 16 * time.Minute} }),
			"InvalidSignatureException", "Signature not yet current"},
		"another service": {w.client(aliceKey, aliceSecret, batch.WithSigV4SigningName("execute-api")),
			"InvalidSignatureException", "Credential should be scoped to correct service: 'batch'."},
		"another region": {w.client(aliceKey, aliceSecret, batch.WithSigV4SigningRegion("us-east-1")),
			"InvalidSignatureException", "Credential should be scoped to a valid region, not 'us-east-1'."},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := submit(tc.client, "research", "x")
			refusedAs(t, err, tc.code, 403, tc.contains)
			if w.jobs() != jobs {
				t.Fatal("a refused submission stored a job")
			}
		})
	}
	// 14 minutes off is within AWS's 15.
	c := w.client(aliceKey, aliceSecret, func(o *batch.Options) { o.HTTPSignerV4 = skewed{v4.NewSigner(), 14 * time.Minute} })
	if _, err := submit(c, "research", "x"); err != nil {
		t.Fatalf("14 minutes of skew: %v", err)
	}
}

// raw sends a request without the SDK.
func raw(t *testing.T, c *http.Client, method, u, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestUnsignedRequests(t *testing.T) {
	w := newWorld(t, false)
	w.setup(w.client(aliceKey, aliceSecret))
	c := noRedirects(w.srv.Client(), nil)
	for name, tc := range map[string]struct {
		method, path string
		header       map[string]string
		status       int
		errType      string
		location     string
	}{
		"an API call":          {method: "POST", path: "/v1/submitservicejob", status: 403, errType: "MissingAuthenticationTokenException"},
		"a read":               {method: "POST", path: "/v1/listservicejobs", status: 403, errType: "MissingAuthenticationTokenException"},
		"the dashboard":        {method: "GET", path: "/", status: 303, location: "/login"},
		"the dashboard's code": {method: "GET", path: "/app.js", status: 403, errType: "MissingAuthenticationTokenException"},
		"the metrics":          {method: "GET", path: "/metrics", status: 401, errType: "MissingAuthenticationTokenException"},
		"the local SageMaker endpoint": {method: "POST", path: "/", header: map[string]string{"X-Amz-Target": "SageMaker.CreateTrainingJob"},
			status: 403, errType: "MissingAuthenticationTokenException"},
		"the login page":        {method: "GET", path: "/login", status: 200},
		"the login page's icon": {method: "GET", path: "/favicon.svg", status: 200},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := raw(t, c, tc.method, w.srv.URL+tc.path, `{"jobName":"x","jobQueue":"research"}`, tc.header)
			if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-ErrorType") != tc.errType || resp.Header.Get("Location") != tc.location {
				t.Fatalf("HTTP %d %q Location %q, want %d %q %q: %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"),
					resp.Header.Get("Location"), tc.status, tc.errType, tc.location, body)
			}
		})
	}
	if w.jobs() != 0 {
		t.Fatal("an unsigned request stored a job")
	}
}

func noRedirects(c *http.Client, jar http.CookieJar) *http.Client {
	cc := *c
	cc.Jar = jar
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t   *testing.T
	w   *world
	c   *http.Client
	jar *cookiejar.Jar
}

func newBrowser(t *testing.T, w *world) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, w: w, c: noRedirects(w.srv.Client(), jar), jar: jar}
}

func (b *browser) login(key, secret string) *http.Response {
	b.t.Helper()
	form := url.Values{"accessKeyId": {key}, "secret": {secret}, "next": {"#/jobs"}}
	resp, _ := raw(b.t, b.c, "POST", b.w.srv.URL+"/login", form.Encode(), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": b.w.srv.URL,
	})
	return resp
}

func (b *browser) call(op string) (int, string) {
	b.t.Helper()
	resp, _ := raw(b.t, b.c, "POST", b.w.srv.URL+"/v1/"+op, `{}`, map[string]string{"Content-Type": "application/json", "Origin": b.w.srv.URL})
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType")
}

func (b *browser) get(path string) *http.Response {
	b.t.Helper()
	resp, _ := raw(b.t, b.c, "GET", b.w.srv.URL+path, "", nil)
	return resp
}

func sessionCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, resp.Header["Set-Cookie"])
	return nil
}

func TestDashboardSessions(t *testing.T) {
	w := newWorld(t, false)
	w.setup(w.client(aliceKey, aliceSecret))
	b := newBrowser(t, w)

	if resp := b.login(aliceKey, bobSecret); resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("a wrong secret: HTTP %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp := b.login(aliceKey, aliceSecret)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/#/jobs" {
		t.Fatalf("login: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := sessionCookie(t, resp, "sagequeue-session")
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, 12h, not Secure without TLS", c)
	}
	if resp := b.get("/"); resp.StatusCode != 200 {
		t.Fatalf("the dashboard with a session: HTTP %d", resp.StatusCode)
	}
	if status, _ := b.call("getdashboard"); status != 200 {
		t.Fatalf("a read with a session: HTTP %d", status)
	}
	if status, errType := b.call("createjobqueue"); status != 403 || errType != "AccessDeniedException" {
		t.Fatalf("a change with a session (even an admin's): HTTP %d %s, want 403 AccessDeniedException", status, errType)
	}
	if who := b.get("/").Header.Get(auth.UserHeader); who != "alice" {
		t.Fatalf("the dashboard of alice's session says %s %q", auth.UserHeader, who)
	}

	// A forged cookie.
	forged := newBrowser(t, w)
	u, _ := url.Parse(w.srv.URL)
	forged.jar.SetCookies(u, []*http.Cookie{{Name: "sagequeue-session", Value: strings.Repeat("A", 43)}})
	if status, errType := forged.call("listservicejobs"); status != 403 || errType != "UnrecognizedClientException" {
		t.Fatalf("a forged cookie: HTTP %d %s", status, errType)
	}
	if resp := forged.get("/"); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Fatalf("the dashboard with a forged cookie: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// An expired one.
	late := newBrowser(t, w)
	late.login(bobKey, bobSecret)
	w.advance(12*time.Hour + time.Second)
	if status, errType := late.call("listservicejobs"); status != 403 || errType != "ExpiredTokenException" {
		t.Fatalf("an expired session: HTTP %d %s", status, errType)
	}
	if status, errType := b.call("listservicejobs"); status != 403 || errType != "ExpiredTokenException" {
		t.Fatalf("alice's expired session: HTTP %d %s", status, errType)
	}

	// Log in again, log out: the cookie no longer opens anything, even if
	// the browser kept it.
	b.login(aliceKey, aliceSecret)
	kept := b.jar.Cookies(u)
	if resp, _ := raw(t, b.c, "POST", w.srv.URL+"/logout", "", map[string]string{"Origin": w.srv.URL}); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, _ := b.call("listservicejobs"); status != 403 {
		t.Fatalf("after logout: HTTP %d", status)
	}
	b.jar.SetCookies(u, kept)
	if status, errType := b.call("listservicejobs"); status != 403 || errType != "UnrecognizedClientException" {
		t.Fatalf("the cookie of a logged-out session: HTTP %d %s", status, errType)
	}

	// Another site's page cannot log a browser in.
	form := url.Values{"accessKeyId": {aliceKey}, "secret": {aliceSecret}}
	if resp, _ := raw(t, b.c, "POST", w.srv.URL+"/login", form.Encode(), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example",
	}); resp.StatusCode != 403 || len(resp.Cookies()) != 0 {
		t.Fatalf("a cross-site login: HTTP %d", resp.StatusCode)
	}
}

func TestLoginThrottling(t *testing.T) {
	w := newWorld(t, false)
	b := newBrowser(t, w)
	for i := 0; i < 10; i++ {
		if resp := b.login(aliceKey, "wrong-wrong-wrong-wrong"); resp.StatusCode != 401 {
			t.Fatalf("failure %d: HTTP %d", i+1, resp.StatusCode)
		}
	}
	if resp := b.login(aliceKey, aliceSecret); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: HTTP %d, want 429 with Retry-After", resp.StatusCode)
	}
	w.advance(5 * time.Minute)
	if resp := b.login(aliceKey, aliceSecret); resp.StatusCode != 303 {
		t.Fatalf("after the window: HTTP %d", resp.StatusCode)
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	w := newWorld(t, true)
	b := newBrowser(t, w)
	c := sessionCookie(t, b.login(bobKey, bobSecret), "__Host-sagequeue-session")
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie under TLS %+v", c)
	}
	if status, _ := b.call("listservicejobs"); status != 200 {
		t.Fatalf("a read over TLS with a session: HTTP %d", status)
	}
}

func TestReload(t *testing.T) {
	w := newWorld(t, false)
	w.setup(w.client(aliceKey, aliceSecret))
	b := newBrowser(t, w)
	b.login(bobKey, bobSecret)
	if status, _ := b.call("listservicejobs"); status != 200 {
		t.Fatal("bob's session does not read")
	}

	// A broken file changes nothing.
	writeFile(t, w.file, "users: [{name: bob}]")
	if err := w.guard.Reload(); err == nil || !strings.Contains(err.Error(), "accessKeyId: is required") {
		t.Fatalf("reloading a broken file: %v", err)
	}
	if _, err := submit(w.client(bobKey, bobSecret), "research", "still"); err != nil {
		t.Fatalf("bob after a failed reload: %v", err)
	}

	// Bob's secret changes and he gets the prod queue.
	newSecret := "bob-new-secret-9876543210"
	writeFile(t, w.file, strings.NewReplacer(bobSecret, newSecret, "queues: [research]", "queues: [research, prod]").Replace(authFile))
	if err := w.guard.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err := submit(w.client(bobKey, bobSecret), "prod", "old-secret")
	refusedAs(t, err, "InvalidSignatureException", 403, "does not match")
	if _, err := submit(w.client(bobKey, newSecret), "prod", "new-secret"); err != nil {
		t.Fatalf("bob with his new secret, to his new queue: %v", err)
	}
	if status, errType := b.call("listservicejobs"); status != 403 || errType != "ExpiredTokenException" {
		t.Fatalf("a session opened with the old secret: HTTP %d %s", status, errType)
	}
}

func TestMetricsAndSageMaker(t *testing.T) {
	w := newWorld(t, false)
	c := w.srv.Client()
	req, _ := http.NewRequest("GET", w.srv.URL+"/metrics", nil)
	req.SetBasicAuth(bobKey, bobSecret)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The API handler has no /metrics (serve routes it before): a 404 from
	// it means the guard let the request through.
	if resp.StatusCode == 401 || resp.StatusCode == 403 {
		t.Fatalf("/metrics with Basic credentials: HTTP %d", resp.StatusCode)
	}
	req.SetBasicAuth(bobKey, aliceSecret)
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("/metrics with a wrong secret: %v %v", resp.StatusCode, err)
	}

	// The local SageMaker endpoint is for admins (and serve itself).
	call := func(key, secret string) int {
		req, _ := http.NewRequest("POST", w.srv.URL+"/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", "SageMaker.ListTrainingJobs")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		sum := "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" // sha256("{}")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, sum, "sagemaker", "local", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(bobKey, bobSecret); got != 403 {
		t.Errorf("a user calls the local SageMaker endpoint: HTTP %d", got)
	}
	id, secret := w.guard.ServerKey()
	if got := call(id, secret); got == 401 || got == 403 {
		t.Errorf("serve's own key on the local SageMaker endpoint: HTTP %d", got)
	}
	if got := call(aliceKey, aliceSecret); got == 401 || got == 403 {
		t.Errorf("an admin on the local SageMaker endpoint: HTTP %d", got)
	}
}
