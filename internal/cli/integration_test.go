package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

// server is a real sagequeue API over a bolt store, as `sagequeue serve` runs
// it, without the engine: jobs stay where the API puts them unless a test
// moves them in the store.
type server struct {
	url string
	st  *bolt.Store
}

func newServer(t *testing.T) *server {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sagequeue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A clock that starts at the tests' now and ticks a second per request,
	// so jobs have distinct creation times.
	var mu sync.Mutex
	now := testNow.Add(-time.Hour)
	h := api.New(api.Config{
		Store:   st,
		Account: model.LocalAccount,
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Second)
			return now
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, st: st}
}

func (s *server) run(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, s.url, "", args...)
}

// ok runs a command that must succeed and returns its stdout.
func (s *server) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := s.run(t, args...)
	wantCode(t, r, 0)
	return r.stdout
}

func (s *server) okJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := s.ok(t, append([]string{"-o", "json"}, args...)...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: not a JSON object: %v\n%s", args, err, out)
	}
	return m
}

// fails runs a command that must fail with code and a message containing msg.
func (s *server) fails(t *testing.T, code int, msg string, args ...string) {
	t.Helper()
	r := s.run(t, args...)
	wantCode(t, r, code)
	if !strings.Contains(r.stderr, msg) {
		t.Fatalf("%v: stderr %q does not say %q", args, r.stderr, msg)
	}
}

const testPlan = "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p4d-june"

func TestIntegrationResources(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	envARN := "arn:aws:batch:local:000000000000:service-environment/gpu"

	// Service environments, the training plan extension included.
	if out := s.ok(t, "env", "create", "gpu", "--max-capacity", "8", "--training-plan-arn", testPlan, "--tag", "team=ml"); out != envARN+"\n" {
		t.Fatalf("env create printed %q", out)
	}
	e, err := s.st.GetEnvironment(ctx, "gpu")
	if err != nil {
		t.Fatal(err)
	}
	if e.TrainingPlanArn != testPlan || e.MaxInstances() != 8 || e.Tags["team"] != "ml" || e.State != "ENABLED" {
		t.Fatalf("stored environment %+v", e)
	}
	if m := s.okJSON(t, "environment", "create", "cpu", "--max-capacity", "2", "--state", "disabled"); m["serviceEnvironmentName"] != "cpu" {
		t.Fatalf("env create json %v", m)
	}
	s.fails(t, ExitRefused, "already exists", "env", "create", "gpu", "--max-capacity", "1")
	s.fails(t, ExitRefused, "capacityLimits[0].maxCapacity", "env", "create", "zero", "--max-capacity", "0")

	out := s.ok(t, "env", "describe")
	for _, want := range []string{"NAME", "TRAINING PLAN", "cpu", "DISABLED", "gpu", "ENABLED", "VALID", "p4d-june", envARN} {
		if !strings.Contains(out, want) {
			t.Fatalf("env describe lacks %q:\n%s", want, out)
		}
	}
	m := s.okJSON(t, "env", "describe", "gpu")
	envs := m["serviceEnvironments"].([]any)
	if len(envs) != 1 {
		t.Fatalf("env describe gpu: %v", m)
	}
	want := map[string]any{
		"serviceEnvironmentName": "gpu", "serviceEnvironmentArn": envARN, "serviceEnvironmentType": "SAGEMAKER_TRAINING",
		"state": "ENABLED", "status": "VALID", "tags": map[string]any{"team": "ml"}, "trainingPlanArn": testPlan,
		"capacityLimits": []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "maxCapacity": 8.0}},
	}
	if !reflect.DeepEqual(envs[0], want) {
		t.Fatalf("env describe json\n%v\nwant\n%v", envs[0], want)
	}
	s.fails(t, ExitNotFound, "service environment nope not found", "env", "describe", "gpu", "nope")

	s.ok(t, "env", "update", "gpu", "--max-capacity", "16", "--training-plan-arn", testPlan+"-2")
	if e, _ := s.st.GetEnvironment(ctx, "gpu"); e.MaxInstances() != 16 || e.TrainingPlanArn != testPlan+"-2" {
		t.Fatalf("after update: %+v", e)
	}
	s.ok(t, "env", "update", envARN, "--state", "DISABLED")
	s.ok(t, "env", "update", "gpu", "--state", "enabled")
	if e, _ := s.st.GetEnvironment(ctx, "gpu"); e.State != "ENABLED" || e.MaxInstances() != 16 {
		t.Fatalf("after state changes: %+v", e)
	}
	s.fails(t, ExitNotFound, "nope not found", "env", "update", "nope", "--max-capacity", "1")

	// Scheduling policies, named by name.
	policyARN := "arn:aws:batch:local:000000000000:scheduling-policy/fair"
	if out := s.ok(t, "policy", "create", "fair", "--decay", "1h", "--reservation", "10", "--share", "team-a=1", "--share", "intern-*=2.5"); out != policyARN+"\n" {
		t.Fatalf("policy create printed %q", out)
	}
	s.ok(t, "policy", "create", "other")
	out = s.ok(t, "policy", "list")
	if !strings.Contains(out, "fair") || !strings.Contains(out, policyARN) || !strings.Contains(out, "other") {
		t.Fatalf("policy list:\n%s", out)
	}
	if m := s.okJSON(t, "policy", "list"); len(m["schedulingPolicies"].([]any)) != 2 {
		t.Fatalf("policy list json %v", m)
	}
	out = s.ok(t, "policy", "describe", "fair")
	for _, want := range []string{"3600s", "10%", "team-a=1,intern-*=2.5"} {
		if !strings.Contains(out, want) {
			t.Fatalf("policy describe lacks %q:\n%s", want, out)
		}
	}
	// update keeps what is not given.
	s.ok(t, "policy", "update", "fair", "--share", "team-a=0.5")
	m = s.okJSON(t, "policy", "describe", policyARN)
	fp := dig(m["schedulingPolicies"].([]any)[0], "fairsharePolicy")
	if !reflect.DeepEqual(fp, map[string]any{"shareDecaySeconds": 3600.0, "computeReservation": 10.0,
		"shareDistribution": []any{map[string]any{"shareIdentifier": "team-a", "weightFactor": 0.5}}}) {
		t.Fatalf("policy after update: %v", fp)
	}
	if n := len(s.okJSON(t, "policy", "describe")["schedulingPolicies"].([]any)); n != 2 {
		t.Fatalf("policy describe of all: %d policies", n)
	}
	s.fails(t, ExitNotFound, "scheduling policy nope not found", "policy", "describe", "nope")
	s.fails(t, ExitNotFound, "scheduling policy nope not found", "policy", "update", "nope", "--decay", "1")
	s.fails(t, ExitNotFound, "scheduling policy nope not found", "policy", "delete", "nope")
	s.fails(t, ExitRefused, "computeReservation", "policy", "update", "fair", "--reservation", "100")

	// Job queues.
	queueARN := "arn:aws:batch:local:000000000000:job-queue/research"
	if out := s.ok(t, "queue", "create", "research", "--priority", "10", "--env", "gpu", "--env", "cpu:5", "--policy", "fair",
		"--time-limit", "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE=600",
		"--time-limit", "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY=2h:TERMINATE", "--tag", "k=v"); out != queueARN+"\n" {
		t.Fatalf("queue create printed %q", out)
	}
	q, err := s.st.GetQueue(ctx, "research")
	if err != nil {
		t.Fatal(err)
	}
	if q.SchedulingPolicyArn != policyARN || q.Priority != 10 || q.Type != "SAGEMAKER_TRAINING" || len(q.ServiceEnvironmentOrder) != 2 ||
		q.ServiceEnvironmentOrder[1].Order != 5 || len(q.JobStateTimeLimitActions) != 2 || q.JobStateTimeLimitActions[1].MaxTimeSeconds != 7200 ||
		q.JobStateTimeLimitActions[1].Action != "TERMINATE" || q.JobStateTimeLimitActions[0].Action != "CANCEL" {
		t.Fatalf("stored queue %+v", q)
	}
	s.ok(t, "queue", "create", "fifo", "--priority", "1", "--env", envARN+":1", "--backfill")
	if q, _ := s.st.GetQueue(ctx, "fifo"); !q.Backfill {
		t.Fatalf("queue create --backfill stored %+v", q)
	}
	// A missing referenced resource is a refused request, not "not found".
	s.fails(t, ExitRefused, "scheduling policy nope not found", "queue", "create", "q2", "--priority", "1", "--env", "gpu", "--policy", "nope")
	s.fails(t, ExitRefused, "service environment nope not found", "queue", "create", "q2", "--priority", "1", "--env", "nope")

	out = s.ok(t, "queue", "describe")
	for _, want := range []string{"research", "fair", "gpu:1,cpu:5", "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE=600:CANCEL", "fifo", "- (FIFO)", "BACKFILL", " on ", " off "} {
		if !strings.Contains(out, want) {
			t.Fatalf("queue describe lacks %q:\n%s", want, out)
		}
	}
	m = s.okJSON(t, "queue", "describe", "research")
	qd := m["jobQueues"].([]any)[0]
	if dig(qd, "jobQueueType") != "SAGEMAKER_TRAINING" || dig(qd, "schedulingPolicyArn") != policyARN || dig(qd, "priority") != 10.0 || dig(qd, "backfill") != false {
		t.Fatalf("queue describe json %v", qd)
	}
	if dig(s.okJSON(t, "queue", "describe", "fifo")["jobQueues"].([]any)[0], "backfill") != true {
		t.Fatal("queue describe fifo -o json: backfill is not true")
	}
	s.ok(t, "queue", "update", "fifo", "--backfill=false")
	if q, _ := s.st.GetQueue(ctx, "fifo"); q.Backfill {
		t.Fatal("queue update --backfill=false left backfill on")
	}
	s.fails(t, ExitNotFound, "job queue nope not found", "queue", "describe", "nope")
	s.ok(t, "queue", "update", "research", "--priority", "20", "--env", "gpu", "--policy", policyARN)
	if q, _ := s.st.GetQueue(ctx, "research"); q.Priority != 20 || len(q.ServiceEnvironmentOrder) != 1 || len(q.JobStateTimeLimitActions) != 2 {
		t.Fatalf("queue after update %+v", q)
	}
	s.fails(t, ExitNotFound, "job queue nope not found", "queue", "update", "nope", "--priority", "1")
	s.fails(t, ExitRefused, "DISABLED", "queue", "delete", "research")

	// Deleting, in the order Batch allows.
	s.ok(t, "queue", "update", "research", "--state", "DISABLED")
	if out := s.ok(t, "queue", "delete", "research"); out != "research\n" {
		t.Fatalf("queue delete printed %q", out)
	}
	s.fails(t, ExitNotFound, "not found", "queue", "delete", "research")
	if out := s.ok(t, "policy", "delete", "fair"); out != policyARN+"\n" {
		t.Fatalf("policy delete printed %q", out)
	}
	s.fails(t, ExitRefused, "ENABLED", "env", "delete", "gpu")
	s.ok(t, "env", "update", "gpu", "--state", "DISABLED")
	s.fails(t, ExitRefused, "fifo", "env", "delete", "gpu") // still used by queue fifo
	s.ok(t, "queue", "update", "fifo", "--state", "DISABLED")
	s.ok(t, "queue", "delete", "fifo")
	s.ok(t, "env", "delete", "gpu")
	s.fails(t, ExitNotFound, "service environment gpu not found", "env", "delete", "gpu")
	if m := s.okJSON(t, "env", "describe"); len(m["serviceEnvironments"].([]any)) != 1 {
		t.Fatalf("after delete: %v", m)
	}
}

// setupQueues makes environment gpu (4 instances), FIFO queue fifo and
// fair-share queue fair.
func setupQueues(t *testing.T, s *server) {
	t.Helper()
	s.ok(t, "env", "create", "gpu", "--max-capacity", "4", "--training-plan-arn", testPlan)
	s.ok(t, "policy", "create", "shares", "--share", "a=1")
	s.ok(t, "queue", "create", "fifo", "--priority", "1", "--env", "gpu")
	s.ok(t, "queue", "create", "fair", "--priority", "2", "--env", "gpu", "--policy", "shares")
}

func TestIntegrationSubmitAndInspect(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	setupQueues(t, s)

	// submit, table: the job id.
	id := strings.TrimSpace(s.ok(t, "submit", "-q", "fifo", "-n", "hello", "--", "python", "train.py", "--epochs", "3"))
	j, err := s.st.GetJob(ctx, id)
	if err != nil {
		t.Fatalf("submitted job %q: %v", id, err)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(j.ServiceRequestPayload), &payload); err != nil {
		t.Fatal(err)
	}
	if got := dig(payload, "AlgorithmSpecification", "ContainerEntrypoint"); !reflect.DeepEqual(got, []any{"python"}) {
		t.Fatalf("ContainerEntrypoint %v", got)
	}
	if got := dig(payload, "AlgorithmSpecification", "ContainerArguments"); !reflect.DeepEqual(got, []any{"train.py", "--epochs", "3"}) {
		t.Fatalf("ContainerArguments %v", got)
	}
	if j.Status != model.StatusSubmitted || j.Instances != 1 || j.JobName != "hello" {
		t.Fatalf("stored job %+v", j)
	}

	// submit, json, with the retry rules in command-line order.
	m := s.okJSON(t, "submit", "-q", "fair", "-n", "retrying", "--share", "a", "--priority", "5",
		"--instance-count", "2", "--attempts", "3",
		"--exit-on", "Received status from SageMaker: AlgorithmError*", "--retry-on", "CAPACITY*", "--exit-on", "*",
		"--timeout", "2h", "--tag", "owner=me", "--client-token", "token-1", "--image", "img:1", "--max-runtime", "3h")
	rid, _ := m["jobId"].(string)
	if rid == "" || m["jobName"] != "retrying" || m["jobArn"] != "arn:aws:batch:local:000000000000:service-job/"+rid || len(m) != 3 {
		t.Fatalf("submit json %v", m)
	}
	j, err = s.st.GetJob(ctx, rid)
	if err != nil {
		t.Fatal(err)
	}
	wantRules := []model.EvaluateOnExit{
		{Action: "EXIT", OnStatusReason: "Received status from SageMaker: AlgorithmError*"},
		{Action: "RETRY", OnStatusReason: "CAPACITY*"},
		{Action: "EXIT", OnStatusReason: "*"},
	}
	if j.RetryStrategy == nil || j.RetryStrategy.Attempts != 3 || !reflect.DeepEqual(j.RetryStrategy.EvaluateOnExit, wantRules) {
		t.Fatalf("stored retry strategy %+v", j.RetryStrategy)
	}
	if j.ShareIdentifier != "a" || j.SchedulingPriority != 5 || j.Instances != 2 || j.TimeoutConfig.AttemptDurationSeconds != 7200 ||
		j.Tags["owner"] != "me" || j.ClientToken != "token-1" {
		t.Fatalf("stored job %+v", j)
	}
	// The same client token returns the same job.
	if m := s.okJSON(t, "submit", "-q", "fair", "-n", "retrying", "--share", "a", "--priority", "5",
		"--instance-count", "2", "--attempts", "3",
		"--exit-on", "Received status from SageMaker: AlgorithmError*", "--retry-on", "CAPACITY*", "--exit-on", "*",
		"--timeout", "2h", "--tag", "owner=me", "--client-token", "token-1", "--image", "img:1", "--max-runtime", "3h"); m["jobId"] != rid {
		t.Fatalf("idempotent submit gave %v, want %s", m["jobId"], rid)
	}

	// Refused requests: the server's message, exit 1.
	r := s.run(t, "submit", "-q", "fifo", "-n", strings.Repeat("x", 129), "--", "true")
	wantCode(t, r, ExitRefused)
	if r.stderr != "sagequeue: jobName: must be at most 128 characters, got 129\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	s.fails(t, ExitRefused, "shareIdentifier: must not be set", "submit", "-q", "fifo", "-n", "x", "--share", "a", "--", "true")
	s.fails(t, ExitRefused, "shareIdentifier: is required", "submit", "-q", "fair", "-n", "x", "--", "true")
	s.fails(t, ExitRefused, "job queue nope not found", "submit", "-q", "nope", "-n", "x", "--", "true")
	s.fails(t, ExitRefused, "retryStrategy.attempts", "submit", "-q", "fifo", "-n", "x", "--attempts", "11", "--", "true")
	s.fails(t, ExitRefused, "TrainingPlanArn", "submit", "-q", "fifo", "-n", "x", "--training-plan-arn",
		"arn:aws:sagemaker:us-east-1:123456789012:training-plan/other", "--", "true")

	// describe, table and json.
	out := s.ok(t, "describe", rid)
	for _, want := range []string{"Job ID:", rid, "Status:", "SUBMITTED", "Queue:", "fair", "Share:", "a", "Priority:", "5",
		"Capacity:", "2 NUM_INSTANCES", "Timeout:", "7200s", "Retry strategy:", "3 attempts",
		`EXIT on "Received status from SageMaker: AlgorithmError*"`, `RETRY on "CAPACITY*"`, "Tags:", "owner=me", "Attempts:        none"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}
	d := s.okJSON(t, "describe", rid)
	for k, want := range map[string]any{"jobId": rid, "jobName": "retrying", "status": "SUBMITTED", "serviceJobType": "SAGEMAKER_TRAINING",
		"shareIdentifier": "a", "schedulingPriority": 5.0, "isTerminated": false} {
		if d[k] != want {
			t.Errorf("describe json %s = %v, want %v", k, d[k], want)
		}
	}
	if _, ok := d["serviceRequestPayload"].(string); !ok {
		t.Errorf("describe json has no serviceRequestPayload: %v", d)
	}
	if got := dig(d, "retryStrategy", "evaluateOnExit"); len(got.([]any)) != 3 {
		t.Errorf("describe json retryStrategy %v", got)
	}
	if _, ok := d["resultMetadata"]; ok {
		t.Error("resultMetadata in json output")
	}
	// Several ids: a JSON array.
	var both []map[string]any
	if err := json.Unmarshal([]byte(s.ok(t, "-o", "json", "describe", id, rid)), &both); err != nil || len(both) != 2 || both[0]["jobId"] != id {
		t.Fatalf("describe of two ids: %v %v", both, err)
	}

	// Not found: exit 3 with the server's message.
	missing := "0190a4c2-7d1e-7b3a-9f0e-2c4d5e6f7a8b"
	r = s.run(t, "describe", missing)
	wantCode(t, r, ExitNotFound)
	if r.stderr != "sagequeue: jobId: job "+missing+" not found\n" {
		t.Fatalf("stderr %q", r.stderr)
	}
	s.fails(t, ExitNotFound, "not found", "terminate", missing)
	s.fails(t, ExitNotFound, "not found", "update", missing, "--priority", "1")
	s.fails(t, ExitNotFound, "job queue nope not found", "snapshot", "nope")

	// update.
	if out := s.ok(t, "update", rid, "--priority", "42"); out != rid+" priority 42\n" {
		t.Fatalf("update printed %q", out)
	}
	if j, _ := s.st.GetJob(ctx, rid); j.SchedulingPriority != 42 {
		t.Fatalf("priority %d", j.SchedulingPriority)
	}
	if m := s.okJSON(t, "update", rid, "--priority", "43"); m["jobId"] != rid || m["jobName"] != "retrying" {
		t.Fatalf("update json %v", m)
	}
	s.fails(t, ExitRefused, "schedulingPriority", "update", rid, "--priority", "10000")

	// list: every status by default, newest first.
	other := strings.TrimSpace(s.ok(t, "submit", "-q", "fifo", "-n", "Second-Job", "--instance-count", "3", "--", "true"))
	out = s.ok(t, "list", "-q", "fifo")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], other) || !strings.HasPrefix(lines[2], id) {
		t.Fatalf("list -q fifo:\n%s", out)
	}
	for _, col := range []string{"JOB ID", "NAME", "STATUS", "SHARE", "INSTANCES", "CREATED", "STARTED", "STOPPED", "REASON"} {
		if !strings.Contains(lines[0], col) {
			t.Fatalf("list header lacks %s: %q", col, lines[0])
		}
	}
	if f := strings.Fields(lines[1]); f[1] != "Second-Job" || f[2] != "SUBMITTED" || f[3] != "-" || f[4] != "3" {
		t.Fatalf("list row %q", lines[1])
	}
	listIDs := func(args ...string) []string {
		t.Helper()
		m := s.okJSON(t, append([]string{"list"}, args...)...)
		var ids []string
		for _, j := range m["jobSummaryList"].([]any) {
			ids = append(ids, dig(j, "jobId").(string))
		}
		return ids
	}
	if got := listIDs(); !reflect.DeepEqual(got, []string{other, rid, id}) {
		t.Fatalf("list of all queues: %v", got)
	}
	if got := listIDs("-q", "fifo", "--name", "second-job"); !reflect.DeepEqual(got, []string{other}) {
		t.Fatalf("--name: %v", got)
	}
	if got := listIDs("--name", "SEC*"); !reflect.DeepEqual(got, []string{other}) {
		t.Fatalf("--name prefix: %v", got)
	}
	if got := listIDs("-q", "fair", "--share", "a"); !reflect.DeepEqual(got, []string{rid}) {
		t.Fatalf("--share: %v", got)
	}
	if got := listIDs("-q", "fair", "--share", "a", "--status", "RUNNING"); len(got) != 0 {
		t.Fatalf("--share --status RUNNING: %v", got)
	}
	if got := listIDs("--status", "SUBMITTED", "-q", "fifo"); !reflect.DeepEqual(got, []string{other, id}) {
		t.Fatalf("--status: %v", got)
	}
	if got := listIDs("--max", "2"); !reflect.DeepEqual(got, []string{other, rid}) {
		t.Fatalf("--max 2: %v", got)
	}
	first, _ := s.st.GetJob(ctx, id)
	created := time.UnixMilli(first.CreatedAt).UTC()
	if got := listIDs("--created-after", created.Format(time.RFC3339Nano)); !reflect.DeepEqual(got, []string{other, rid}) {
		t.Fatalf("--created-after: %v", got)
	}
	if got := listIDs("--created-before", created.Add(time.Millisecond).Format(time.RFC3339Nano)); !reflect.DeepEqual(got, []string{id}) {
		t.Fatalf("--created-before: %v", got)
	}
	if got := listIDs("--created-after", "2d"); len(got) != 3 {
		t.Fatalf("--created-after 2d: %v", got)
	}
	s.fails(t, ExitRefused, "job queue nope not found", "list", "-q", "nope")

	// terminate: a waiting job ends at once.
	if out := s.ok(t, "terminate", other, "--reason", "wrong data"); out != other+"\n" {
		t.Fatalf("terminate printed %q", out)
	}
	if j, _ := s.st.GetJob(ctx, other); j.Status != model.StatusFailed || !j.IsTerminated || j.StatusReason != "wrong data" {
		t.Fatalf("terminated job %+v", j)
	}
	s.ok(t, "terminate", id)
	if j, _ := s.st.GetJob(ctx, id); j.StatusReason != "Terminated by user" {
		t.Fatalf("default reason %q", j.StatusReason)
	}
	out = s.ok(t, "list", "-q", "fifo", "--status", "FAILED")
	if !strings.Contains(out, "wrong data") || !strings.Contains(out, "Terminated by user") {
		t.Fatalf("list of failed jobs:\n%s", out)
	}
	if out := s.ok(t, "describe", other); !strings.Contains(out, "FAILED (terminated)") {
		t.Fatalf("describe of a terminated job:\n%s", out)
	}
}

// TestIntegrationSnapshotAndAttempts moves jobs in the store the way the
// engine would, to see the snapshot's front of queue and a job's attempts.
func TestIntegrationSnapshotAndAttempts(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	setupQueues(t, s)

	out := s.ok(t, "snapshot", "fair")
	if !strings.Contains(out, "Front of queue: no jobs waiting") || !strings.Contains(out, "Total: 0") {
		t.Fatalf("snapshot of an empty queue:\n%s", out)
	}

	var ids []string
	for i, share := range []string{"a", "b", "a"} {
		ids = append(ids, strings.TrimSpace(s.ok(t, "submit", "-q", "fair", "-n", "job"+itoa(i), "--share", share, "--", "true")))
	}
	now := testNow.UnixMilli()
	for _, id := range ids {
		j, err := s.st.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Transition(model.StatusRunnable, now, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.st.UpdateJob(ctx, j, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The last one runs, with one failed attempt behind it. Share a then holds
	// an instance, so share b goes first.
	j, _ := s.st.GetJob(ctx, ids[2])
	trainingJob := "arn:aws:sagemaker:us-east-1:123456789012:training-job/sq-" + ids[2][:8] + "-1"
	j.Attempts = []model.Attempt{{TrainingJobArn: trainingJob, StartedAt: now - 60000, StoppedAt: now - 30000,
		StatusReason: "Received status from SageMaker: AlgorithmError: boom"}}
	j.ServiceEnvironment = "arn:aws:batch:local:000000000000:service-environment/gpu"
	for _, st := range []model.JobStatus{model.StatusScheduled, model.StatusRunning} {
		if err := j.Transition(st, now, ""); err != nil {
			t.Fatal(err)
		}
	}
	j.ServiceEnvironment = "arn:aws:batch:local:000000000000:service-environment/gpu"
	if _, err := s.st.UpdateJob(ctx, j, nil); err != nil {
		t.Fatal(err)
	}

	out = s.ok(t, "snapshot", "fair")
	for _, want := range []string{"Front of queue (as of", "POSITION", ids[0], ids[1], "Utilization", "Active shares: 2", "1 ml.m5.xlarge"} {
		if !strings.Contains(out, want) {
			t.Fatalf("snapshot lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n  3 ") {
		t.Fatalf("the running job is in the front of the queue:\n%s", out)
	}
	m := s.okJSON(t, "snapshot", "fair")
	front := dig(m, "frontOfQueue", "jobs").([]any)
	if len(front) != 2 || !strings.HasSuffix(dig(front[0], "jobArn").(string), "service-job/"+ids[1]) {
		t.Fatalf("snapshot json front %v", front)
	}
	if dig(m, "queueUtilization", "fairshareUtilization", "activeShareCount") != 2.0 {
		t.Fatalf("snapshot json utilization %v", m["queueUtilization"])
	}

	out = s.ok(t, "describe", ids[2])
	for _, want := range []string{"RUNNING", "Attempts:", "TRAINING JOB", trainingJob, "AlgorithmError: boom", "2025-06-01 11:59:00 UTC"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}
	d := s.okJSON(t, "describe", ids[2])
	att := d["attempts"].([]any)
	if len(att) != 1 || dig(att[0], "serviceResourceId", "value") != trainingJob || dig(att[0], "serviceResourceId", "name") != "TrainingJobArn" {
		t.Fatalf("describe json attempts %v", att)
	}

	// A job in flight: terminate records the request; the engine ends it.
	s.ok(t, "terminate", ids[2], "--reason", "enough")
	if j, _ := s.st.GetJob(ctx, ids[2]); j.TerminateReason != "enough" {
		t.Fatalf("terminate of a running job: %+v", j)
	}
}

// TestIntegrationPagination lists more jobs than one page holds.
func TestIntegrationPagination(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	setupQueues(t, s)
	a := &App{Endpoint: s.url}
	client, err := a.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 130
	for i := range n {
		_, err := client.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String("bulk-" + itoa(i)), JobQueue: aws.String("fifo"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
			ServiceRequestPayload: aws.String(`{"AlgorithmSpecification":{"ContainerEntrypoint":["true"]}}`),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	m := s.okJSON(t, "list", "-q", "fifo")
	jobs := m["jobSummaryList"].([]any)
	if len(jobs) != n {
		t.Fatalf("listed %d jobs, want %d", len(jobs), n)
	}
	seen := map[string]bool{}
	for i, j := range jobs {
		name := dig(j, "jobName").(string)
		if seen[name] || name != "bulk-"+itoa(n-1-i) {
			t.Fatalf("job %d is %s", i, name)
		}
		seen[name] = true
	}
	if got := len(s.okJSON(t, "list", "-q", "fifo", "--max", "105")["jobSummaryList"].([]any)); got != 105 {
		t.Fatalf("--max 105 listed %d", got)
	}
	if got := len(s.okJSON(t, "list", "-q", "fifo", "--name", "BULK-*")["jobSummaryList"].([]any)); got != n {
		t.Fatalf("--name prefix over pages listed %d", got)
	}
}
