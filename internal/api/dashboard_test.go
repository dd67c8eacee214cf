package api_test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
)

// post sends a body to an operation with extra headers and decodes the answer.
func (h *harness) post(op, body string, headers map[string]string, out any) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/"+op, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s: %v: %s", op, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func (h *harness) clock() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now.UnixMilli()
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

type dashboardOut struct {
	GeneratedAt   int64
	RecentSeconds int32
	CountLimit    int32
	JobQueues     []struct {
		JobQueueName        string
		SchedulingPolicyArn string
		ServiceEnvironments []string
		JobCounts           map[string]int64
		CappedCounts        []string
		InstancesInUse      int64
		Fairshare           *struct {
			ShareDecaySeconds int32
			ShareCount        int
			Shares            []struct {
				ShareIdentifier string
				WeightFactor    float64
				InstancesInUse  int64
				DecayedUsage    float64
				Runnable        int64
				Score           float64
			}
		}
	}
	ServiceEnvironments []struct {
		ServiceEnvironmentName string
		MaxCapacity            int64
		InstancesInUse         int64
		Jobs                   int
	}
}

// TestGetDashboard: per-queue counts (RUNNABLE from the lines, the active
// states from the jobs holding capacity, SUBMITTED and the finished states
// counted up to the limit, the finished ones over the recent window),
// environments' use, and the shares of a fair-share queue with their
// decayed usage.
func TestGetDashboard(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	plan := arn(model.KindServiceEnvironment, "plan")
	running := func(j *model.ServiceJob) { j.ServiceEnvironment = plan }
	h.set(h.submit("fifo", "ok", "", 0), model.StatusSucceeded, nil)
	h.set(h.submit("fifo", "bad", "", 0), model.StatusFailed, nil)
	h.set(h.submit("fifo", "bad2", "", 0), model.StatusFailed, nil)
	h.set(h.submit("fifo", "train", "", 0), model.StatusRunning, running)
	h.set(h.submit("fifo", "wait", "", 0), model.StatusRunnable, nil)
	h.submit("fifo", "new", "", 0) // SUBMITTED
	h.set(h.submit("fair", "r1", "research", 0), model.StatusStarting, running)
	h.set(h.submit("fair", "p1", "prod", 0), model.StatusRunnable, nil)
	h.set(h.submit("fair", "p2", "prod", 0), model.StatusRunnable, nil)
	h.set(h.submit("fair", "x1", "other", 0), model.StatusRunnable, nil)
	if _, err := h.store.AddUsage(ctx, arn(model.KindJobQueue, "fair"), "research", 2, h.clock()-600_000, h.clock(), 600); err != nil {
		t.Fatal(err)
	}

	var d dashboardOut
	if code, body := h.post("getdashboard", `{}`, nil, &d); code != 200 {
		t.Fatalf("getdashboard: %d %s", code, body)
	}
	if d.RecentSeconds != 86400 || d.CountLimit != 1000 || d.GeneratedAt == 0 || len(d.JobQueues) != 2 {
		t.Fatalf("dashboard %+v", d)
	}
	fair, fifo := d.JobQueues[0], d.JobQueues[1]
	want := map[string]int64{"SUBMITTED": 1, "RUNNABLE": 1, "SCHEDULED": 0, "STARTING": 0, "RUNNING": 1, "SUCCEEDED": 1, "FAILED": 2}
	if fifo.JobQueueName != "fifo" || !reflect.DeepEqual(fifo.JobCounts, want) || len(fifo.CappedCounts) != 0 || fifo.InstancesInUse != 2 ||
		!reflect.DeepEqual(fifo.ServiceEnvironments, []string{"plan"}) || fifo.Fairshare != nil {
		t.Errorf("fifo queue %+v, want counts %v", fifo, want)
	}
	want = map[string]int64{"SUBMITTED": 0, "RUNNABLE": 3, "SCHEDULED": 0, "STARTING": 1, "RUNNING": 0, "SUCCEEDED": 0, "FAILED": 0}
	if fair.JobQueueName != "fair" || !reflect.DeepEqual(fair.JobCounts, want) || fair.Fairshare == nil {
		t.Fatalf("fair queue %+v, want counts %v", fair, want)
	}
	fs := fair.Fairshare
	if fs.ShareDecaySeconds != 600 || fs.ShareCount != 3 || len(fs.Shares) != 3 {
		t.Fatalf("fair share %+v", fs)
	}
	other, prod, research := fs.Shares[0], fs.Shares[1], fs.Shares[2]
	if other.ShareIdentifier != "other" || other.WeightFactor != 1 || other.Runnable != 1 || other.Score != 0 {
		t.Errorf("share other %+v", other)
	}
	if prod.ShareIdentifier != "prod" || prod.WeightFactor != 0.25 || prod.Runnable != 2 || prod.InstancesInUse != 0 || prod.DecayedUsage != 0 {
		t.Errorf("share prod %+v", prod)
	}
	// 2 instances for one time constant: 2(1-1/e) = 1.264.
	if research.ShareIdentifier != "research" || research.InstancesInUse != 2 || research.DecayedUsage < 1.26 || research.DecayedUsage > 1.27 ||
		math.Abs(research.Score-(research.DecayedUsage+2)) > 0.002 {
		t.Errorf("share research %+v", research)
	}
	if len(d.ServiceEnvironments) != 1 || d.ServiceEnvironments[0].MaxCapacity != 8 || d.ServiceEnvironments[0].InstancesInUse != 4 || d.ServiceEnvironments[0].Jobs != 2 {
		t.Errorf("environments %+v", d.ServiceEnvironments)
	}

	// A count stops at the limit and says so.
	d = dashboardOut{}
	h.post("getdashboard", `{"countLimit":1}`, nil, &d)
	if q := d.JobQueues[1]; q.JobCounts["FAILED"] != 1 || !reflect.DeepEqual(q.CappedCounts, []string{"FAILED"}) || q.JobCounts["RUNNABLE"] != 1 {
		t.Errorf("countLimit 1: counts %v, capped %v", q.JobCounts, q.CappedCounts)
	}
	// Finished jobs count over the recent window; the rest is not windowed.
	h.advance(2 * time.Hour)
	d = dashboardOut{}
	h.post("getdashboard", `{"recentSeconds":3600}`, nil, &d)
	if q := d.JobQueues[1]; q.JobCounts["FAILED"] != 0 || q.JobCounts["SUCCEEDED"] != 0 || q.JobCounts["RUNNABLE"] != 1 || q.JobCounts["SUBMITTED"] != 1 {
		t.Errorf("recentSeconds 3600, two hours later: counts %v", q.JobCounts)
	}

	for body, msg := range map[string]string{
		`{"recentSeconds":0}`:    "recentSeconds: must be between 1 and 604800, got 0",
		`{"countLimit":1001}`:    "countLimit: must be between 1 and 1000, got 1001",
		`{"countLimit":"seven"}`: "countLimit",
	} {
		if code, out := h.post("getdashboard", body, nil, nil); code != 400 || !strings.Contains(out, msg) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, out, msg)
		}
	}
}

type utilizationOut struct {
	StartTime, EndTime  int64
	PeriodSeconds       int32
	Timestamps          []int64
	JobsRead            int
	Truncated           bool
	ServiceEnvironments []struct {
		ServiceEnvironmentName string
		MaxCapacity            int64
		Average                []float64
		Peak                   []int64
	}
}

// TestGetUtilization derives the instances held per period from the jobs'
// attempts: the latest from scheduledAt, earlier ones from their start, a
// job holding capacity until now.
func TestGetUtilization(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	plan := arn(model.KindServiceEnvironment, "plan")
	t0 := h.clock() + 1000
	at := func(s int64) int64 { return t0 + s*1000 }
	// Each job takes 2 instances (the harness payload).
	h.set(h.submit("fifo", "a", "", 0), model.StatusSucceeded, func(j *model.ServiceJob) {
		j.ScheduledAt, j.StartedAt, j.StoppedAt = at(5), at(10), at(70)
		j.Attempts = []model.Attempt{{ServiceEnvironment: plan, StartedAt: at(10), StoppedAt: at(70)}}
	})
	h.set(h.submit("fifo", "b", "", 0), model.StatusRunning, func(j *model.ServiceJob) {
		j.ScheduledAt, j.StartedAt, j.ServiceEnvironment = at(40), at(41), plan
		j.Attempts = []model.Attempt{{ServiceEnvironment: plan, StartedAt: at(41)}}
	})
	h.set(h.submit("fifo", "c", "", 0), model.StatusFailed, func(j *model.ServiceJob) {
		j.ScheduledAt, j.StoppedAt = at(90), at(100)
		j.Attempts = []model.Attempt{
			{ServiceEnvironment: plan, StartedAt: at(20), StoppedAt: at(30), StatusReason: "x"},
			{ServiceEnvironment: plan, StartedAt: at(95), StoppedAt: at(100), StatusReason: "y"},
		}
	})
	h.set(h.submit("fifo", "never", "", 0), model.StatusFailed, nil) // no attempt: held nothing
	h.advance(130 * time.Second)                                     // b runs until "now"

	var u utilizationOut
	body := `{"startTime":` + itoa(at(0)) + `,"endTime":` + itoa(at(120)) + `,"periodSeconds":10}`
	if code, out := h.post("getutilization", body, nil, &u); code != 200 {
		t.Fatalf("getutilization: %d %s", code, out)
	}
	if u.StartTime != at(0) || u.EndTime != at(120) || u.PeriodSeconds != 10 || len(u.Timestamps) != 12 || u.Timestamps[3] != at(30) ||
		u.JobsRead != 4 || u.Truncated || len(u.ServiceEnvironments) != 1 {
		t.Fatalf("utilization %+v", u)
	}
	e := u.ServiceEnvironments[0]
	wantAvg := []float64{1, 2, 4, 2, 4, 4, 4, 2, 2, 4, 2, 2}
	wantPeak := []int64{2, 2, 4, 2, 4, 4, 4, 2, 2, 4, 2, 2}
	if e.MaxCapacity != 8 || !reflect.DeepEqual(e.Average, wantAvg) || !reflect.DeepEqual(e.Peak, wantPeak) {
		t.Errorf("plan: average %v peak %v\nwant average %v peak %v", e.Average, e.Peak, wantAvg, wantPeak)
	}

	// The default: the last hour, in 120 periods of 30 s.
	u = utilizationOut{}
	h.post("getutilization", `{}`, nil, &u)
	if u.EndTime-u.StartTime != 3_600_000 || u.PeriodSeconds != 30 || len(u.Timestamps) != 120 || len(u.ServiceEnvironments[0].Peak) != 120 {
		t.Errorf("default window: %d ms, period %d, %d points", u.EndTime-u.StartTime, u.PeriodSeconds, len(u.Timestamps))
	}

	for body, msg := range map[string]string{
		`{"startTime":5,"endTime":5}`:                          "startTime: must be a time in epoch milliseconds before endTime",
		`{"endTime":-1}`:                                       "endTime: must be a time in epoch milliseconds",
		`{"startTime":0,"endTime":900000000000}`:               "must be at most 7 days",
		`{"periodSeconds":0}`:                                  "periodSeconds: must be at least 1",
		`{"startTime":1,"endTime":86400001,"periodSeconds":1}`: "makes 86400 periods",
	} {
		if code, out := h.post("getutilization", body, nil, nil); code != 400 || !strings.Contains(out, msg) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, out, msg)
		}
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

type searchOut struct {
	JobSummaryList []struct {
		JobID, JobName, JobQueue, Status, ShareIdentifier string
		SchedulingPriority                                int32
	}
	NextToken string
}

// TestSearchServiceJobs combines the filters ListServiceJobs takes one at a
// time, and pages through with nextToken.
func TestSearchServiceJobs(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	for _, n := range []string{"sweep-1", "sweep-2", "sweep-3", "other"} {
		h.set(h.submit("fair", n, "research", 3), model.StatusRunnable, nil)
	}
	h.set(h.submit("fair", "sweep-p", "prod", 0), model.StatusRunnable, nil)
	h.set(h.submit("fair", "sweep-f", "research", 0), model.StatusFailed, nil)
	h.submit("fifo", "sweep-x", "", 0)

	names := func(out searchOut) []string {
		var n []string
		for _, j := range out.JobSummaryList {
			n = append(n, j.JobName)
		}
		return n
	}
	var out searchOut
	h.post("searchservicejobs", `{"jobQueue":"fair","jobStatus":"RUNNABLE","shareIdentifier":"research","jobNamePrefix":"SWEEP"}`, nil, &out)
	if got := names(out); !reflect.DeepEqual(got, []string{"sweep-3", "sweep-2", "sweep-1"}) || out.NextToken != "" {
		t.Errorf("combined filters: %v %q", got, out.NextToken)
	}
	if j := out.JobSummaryList[0]; j.JobQueue != arn(model.KindJobQueue, "fair") || j.SchedulingPriority != 3 || j.Status != "RUNNABLE" || j.ShareIdentifier != "research" {
		t.Errorf("summary %+v", j)
	}
	// No filter at all is every job, newest first, a page at a time.
	var all []string
	req := map[string]any{"maxResults": 3}
	for range 10 {
		var page searchOut
		b, _ := json.Marshal(req)
		if code, body := h.post("searchservicejobs", string(b), nil, &page); code != 200 {
			t.Fatalf("page: %d %s", code, body)
		}
		all = append(all, names(page)...)
		if page.NextToken == "" {
			break
		}
		req["nextToken"] = page.NextToken
	}
	if want := []string{"sweep-x", "sweep-f", "sweep-p", "other", "sweep-3", "sweep-2", "sweep-1"}; !reflect.DeepEqual(all, want) {
		t.Errorf("all jobs: %v, want %v", all, want)
	}
	for body, msg := range map[string]string{
		`{"jobStatus":"DONE"}`: "jobStatus: must be one of",
		`{"jobQueue":"nope"}`:  "jobQueue: job queue nope not found",
		`{"maxResults":0}`:     "maxResults: must be between 1 and 100",
		`{"nextToken":"e30"}`:  "nextToken: is not a token",
		`{"jobNamePrefix":"` + strings.Repeat("n", 129) + `"}`: "jobNamePrefix: must be at most 128 characters",
	} {
		if code, body2 := h.post("searchservicejobs", body, nil, nil); code != 400 || !strings.Contains(body2, msg) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, body2, msg)
		}
	}
	// A token is bound to its query.
	h.post("searchservicejobs", `{"maxResults":1}`, nil, &out)
	if code, body := h.post("searchservicejobs", `{"maxResults":1,"jobStatus":"FAILED","nextToken":"`+out.NextToken+`"}`, nil, nil); code != 400 {
		t.Errorf("token of another query: %d %s", code, body)
	}
}

// TestDashboardServed: GET outside /v1/ is the dashboard; the API's answers
// under /v1/ and to POSTs elsewhere are unchanged.
func TestDashboardServed(t *testing.T) {
	h := newHarness(t)
	get := func(path string, headers ...string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
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
	resp, body := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<script src="app.js"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	for path, ctype := range map[string]string{"/app.js": "text/javascript", "/app.css": "text/css", "/favicon.svg": "image/svg+xml", "/index.html": "text/html"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || body == "" {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if again, _ := get(path, "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.StatusCode)
		}
	}
	if resp, body := get("/jobs/123"); resp.StatusCode != 404 || !strings.Contains(body, "dashboard is at /") {
		t.Errorf("GET /jobs/123: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get("/v1/getdashboard"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of an operation: %d, want 405 as before", resp.StatusCode)
	}
	post, err := http.Post(h.srv.URL+"/", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != 404 || post.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" {
		t.Errorf("POST /: %d %s, want 404 UnknownOperationException as before", post.StatusCode, post.Header.Get("X-Amzn-ErrorType"))
	}
}

// TestCrossSiteRefused: a web page of another origin may not call the API
// (a browser sends its POSTs without asking); the dashboard's own calls and
// SDK clients (no Origin) go through.
func TestCrossSiteRefused(t *testing.T) {
	h := newHarness(t)
	host := strings.TrimPrefix(h.srv.URL, "http://")
	for _, c := range []struct {
		headers map[string]string
		code    int
	}{
		{nil, 200},
		{map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}, 200},
		{map[string]string{"Origin": "https://evil.example"}, 403},
		{map[string]string{"Origin": "null"}, 403},
		{map[string]string{"Origin": "http://localhost:1"}, 403},
		{map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
	} {
		code, body := h.post("describejobqueues", `{}`, c.headers, nil)
		if code != c.code || code == 403 && !strings.Contains(body, "cross-site requests") {
			t.Errorf("headers %v: %d %s, want %d", c.headers, code, body, c.code)
		}
	}
}
