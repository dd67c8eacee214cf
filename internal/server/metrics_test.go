package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/metrics"
	"github.com/sagequeue/sagequeue/internal/server"
)

// startServer runs `sagequeue serve` in-process on a free port with a
// temporary data directory, and returns its URL.
func startServer(t *testing.T, config string, o server.Options) string {
	t.Helper()
	return "http://" + runServer(t, config, o, io.Discard)
}

func batchClient(url string) *batch.Client {
	return batch.New(batch.Options{BaseEndpoint: aws.String(url), Region: "local", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
}

const metricsConfig = `
environments:
  - {name: box, maxCapacity: 4}
queues:
  - {name: q, priority: 1, environments: [box]}
`

func submit(t *testing.T, c *batch.Client, name string, instances int, script string) string {
	t.Helper()
	payload := fmt.Sprintf(`{"AlgorithmSpecification":{"ContainerEntrypoint":["sh","-c"],"ContainerArguments":[%q]},"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":%d,"VolumeSizeInGB":1}}`, script, instances)
	out, err := c.SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{
		JobName: aws.String(name), JobQueue: aws.String("q"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
		ServiceRequestPayload: aws.String(payload),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.JobId)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t *testing.T, c *batch.Client, id string) types.ServiceJobStatus {
	t.Helper()
	out, err := c.DescribeServiceJob(context.Background(), &batch.DescribeServiceJobInput{JobId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Status
}

// scrape reads /metrics and returns each sample line's value by its name
// and labels as written.
func scrape(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(url + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("GET /metrics: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	samples := map[string]float64{}
	line := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$`)
	for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a sample line of the text format: %q", l)
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil && m[2] != "+Inf" {
			t.Fatalf("bad value in %q", l)
		}
		samples[m[1]] = v
	}
	return samples, string(body)
}

// TestMetricsOfARunningServer runs jobs through a real server and reads what
// /metrics says about them.
func TestMetricsOfARunningServer(t *testing.T) {
	// The environment offers 4 instances, but the local endpoint's "account
	// quota" is 2: a 3-instance job is admitted, and SageMaker refuses it.
	url := startServer(t, metricsConfig, server.Options{InstanceLimit: 2})
	c := batchClient(url)

	ok := submit(t, c, "ok", 1, "echo fine")
	bad := submit(t, c, "bad", 1, "exit 3")
	waitFor(t, "the first two jobs to end", func() bool {
		return status(t, c, ok) == types.ServiceJobStatusSucceeded && status(t, c, bad) == types.ServiceJobStatusFailed
	})
	// FIFO: the long job first, or the refused one would block it.
	long := submit(t, c, "long", 1, "sleep 60")
	waitFor(t, "the long job to run", func() bool { return status(t, c, long) == types.ServiceJobStatusRunning })
	big := submit(t, c, "big", 3, "echo never")
	waitFor(t, "the refusal", func() bool {
		s, _ := scrape(t, url)
		return s[`sagequeue_sagemaker_errors_total{operation="CreateTrainingJob",code="ResourceLimitExceeded"}`] >= 1
	})

	s, body := scrape(t, url)
	want := map[string]float64{
		`sagequeue_jobs_submitted_total{queue="q"}`:                                                    4,
		`sagequeue_jobs_finished_total{queue="q",status="SUCCEEDED"}`:                                  1,
		`sagequeue_jobs_finished_total{queue="q",status="FAILED"}`:                                     1,
		`sagequeue_jobs{queue="q",status="RUNNING"}`:                                                   1,
		`sagequeue_jobs{queue="q",status="RUNNABLE"}`:                                                  1, // big, backing off
		`sagequeue_jobs{queue="q",status="SUBMITTED"}`:                                                 0,
		`sagequeue_environment_instances_capacity{environment="box"}`:                                  4,
		`sagequeue_environment_instances_in_use{environment="box"}`:                                    1,
		`sagequeue_queue_instances_in_use{queue="q"}`:                                                  1,
		`sagequeue_job_run_seconds_count{queue="q"}`:                                                   2,
		`sagequeue_api_requests_total{operation="submitservicejob",code="200"}`:                        4,
		`sagequeue_job_transitions_total{queue="q",from="RUNNING",to="SUCCEEDED"}`:                     1,
		`sagequeue_sagemaker_requests_total{operation="StopTrainingJob"}`:                              0,
		`sagequeue_job_transitions_total{queue="q",from="SUBMITTED",to="RUNNABLE"}`:                    4,
		`sagequeue_job_wait_seconds_bucket{queue="q",le="+Inf"}`:                                       s[`sagequeue_job_wait_seconds_count{queue="q"}`],
		`sagequeue_scheduling_pass_duration_seconds_bucket{le="+Inf"}`:                                 s[`sagequeue_scheduling_pass_duration_seconds_count`],
		`sagequeue_job_transitions_total{queue="q",from="SCHEDULED",to="RUNNABLE"}`:                    s[`sagequeue_capacity_failures_total{queue="q"}`],
		`sagequeue_sagemaker_errors_total{operation="CreateTrainingJob",code="ResourceLimitExceeded"}`: s[`sagequeue_capacity_failures_total{queue="q"}`],
	}
	delete(want, `sagequeue_sagemaker_requests_total{operation="StopTrainingJob"}`) // none yet: no series
	for k, v := range want {
		if got, ok := s[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// Every job but the refused one waited and was placed: ok, bad, long and
	// big's first placement.
	if n := s[`sagequeue_job_wait_seconds_count{queue="q"}`]; n != 4 {
		t.Errorf("wait-time observations %v, want 4", n)
	}
	if s[`sagequeue_capacity_failures_total{queue="q"}`] < 1 || s[`sagequeue_scheduling_passes_total{result="ok"}`] < 1 ||
		s[`sagequeue_launches_total`] < 3 || s[`sagequeue_sagemaker_requests_total{operation="CreateTrainingJob"}`] < 4 {
		t.Errorf("counters too low:\n%s", body)
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}

	// Terminating the two unfinished jobs: one stop, two more FAILED.
	for _, id := range []string{big, long} {
		if _, err := c.TerminateServiceJob(context.Background(), &batch.TerminateServiceJobInput{JobId: aws.String(id), Reason: aws.String("test over")}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the terminations", func() bool {
		s, _ := scrape(t, url)
		return s[`sagequeue_jobs_finished_total{queue="q",status="FAILED"}`] == 3 && s[`sagequeue_environment_instances_in_use{environment="box"}`] == 0
	})
	s, body = scrape(t, url)
	if s[`sagequeue_stops_total`] != 1 || s[`sagequeue_sagemaker_requests_total{operation="StopTrainingJob"}`] != 1 ||
		s[`sagequeue_jobs{queue="q",status="RUNNING"}`] != 0 || s[`sagequeue_jobs{queue="q",status="RUNNABLE"}`] != 0 {
		t.Errorf("after the terminations:\n%s", body)
	}

	// Only GET (and HEAD) reads metrics.
	resp, err := http.Post(url+metrics.Path, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
}

// TestForeignHostIsRefused: a page on another site that rebinds its name to
// 127.0.0.1 must not reach a loopback server under that name.
func TestForeignHostIsRefused(t *testing.T) {
	url := startServer(t, "environments: [{name: e, maxCapacity: 1}]\n", server.Options{})
	for host, want := range map[string]int{"evil.example.com": http.StatusForbidden, "localhost": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/describejobqueues", strings.NewReader("{}"))
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: HTTP %d, want %d", host, resp.StatusCode, want)
		}
	}
}
