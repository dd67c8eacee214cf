package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go/middleware"
)

func decodePayload(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, s)
	}
	return m
}

func TestBuildPayloadFromFlags(t *testing.T) {
	hp := &kvFlag{}
	_ = hp.Set("epochs=3")
	_ = hp.Set("lr=0.1")
	env := &kvFlag{}
	_ = env.Set("WANDB_MODE=offline")
	got, err := buildPayload(payloadSpec{
		Image:           "img:latest",
		InstanceType:    "ml.p4d.24xlarge",
		InstanceCount:   2,
		MaxRuntimeSecs:  3600,
		RoleArn:         "arn:aws:iam::123456789012:role/R",
		HyperParameters: hp,
		Environment:     env,
		OutputPath:      "s3://bucket/out",
		TrainingPlanArn: "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p",
		CheckpointURI:   "s3://bucket/ckpt/run-1",
		Entrypoint:      []string{"python", "train.py", "--epochs", "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"AlgorithmSpecification": map[string]any{
			"TrainingImage":       "img:latest",
			"TrainingInputMode":   "File",
			"ContainerEntrypoint": []any{"python"},
			"ContainerArguments":  []any{"train.py", "--epochs", "3"},
		},
		"ResourceConfig": map[string]any{
			"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2.0, "VolumeSizeInGB": 30.0,
			"TrainingPlanArn": "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p",
		},
		"StoppingCondition": map[string]any{"MaxRuntimeInSeconds": 3600.0},
		"RoleArn":           "arn:aws:iam::123456789012:role/R",
		"HyperParameters":   map[string]any{"epochs": "3", "lr": "0.1"},
		"Environment":       map[string]any{"WANDB_MODE": "offline"},
		"OutputDataConfig":  map[string]any{"S3OutputPath": "s3://bucket/out"},
		"CheckpointConfig":  map[string]any{"S3Uri": "s3://bucket/ckpt/run-1"},
	}
	if m := decodePayload(t, got); !reflect.DeepEqual(m, want) {
		t.Fatalf("payload\n%v\nwant\n%v", m, want)
	}
}

func TestBuildPayloadDefaults(t *testing.T) {
	got, err := buildPayload(payloadSpec{InstanceType: defaultInstanceType, Entrypoint: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	m := decodePayload(t, got)
	if dig(m, "ResourceConfig", "InstanceType") != "ml.m5.xlarge" || dig(m, "ResourceConfig", "InstanceCount") != 1.0 ||
		dig(m, "StoppingCondition", "MaxRuntimeInSeconds") != 86400.0 {
		t.Fatalf("defaults missing: %s", got)
	}
	if _, ok := m["AlgorithmSpecification"].(map[string]any)["ContainerArguments"]; ok {
		t.Fatalf("ContainerArguments for an entry point without arguments: %s", got)
	}
	if _, err := buildPayload(payloadSpec{InstanceType: defaultInstanceType}); exitCodeOf(err) != ExitUsage {
		t.Fatalf("no image, no entry point, no payload: %v", err)
	}
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return -1
}

func TestBuildPayloadFile(t *testing.T) {
	file := []byte(`  {"AlgorithmSpecification": {"TrainingImage": "a", "TrainingInputMode": "Pipe", "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(.*)"}]},
  "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 4, "VolumeSizeInGB": 100},
  "HyperParameters": {"epochs": "1", "batch": "64"}, "BigNumber": 12345678901234567890, "Html": "<a&b>"}
`)
	// Without overriding flags the file goes through unchanged.
	got, err := buildPayload(payloadSpec{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if got != string(bytes.TrimSpace(file)) {
		t.Fatalf("file changed without overrides:\n%s", got)
	}
	// Flags override members; the rest is kept exactly.
	hp := &kvFlag{}
	_ = hp.Set("epochs=5")
	got, err = buildPayload(payloadSpec{File: file, Image: "b", InstanceCount: 8, HyperParameters: hp, Entrypoint: []string{"torchrun", "x.py"}})
	if err != nil {
		t.Fatal(err)
	}
	m := decodePayload(t, got)
	for path, want := range map[string]any{
		"AlgorithmSpecification.TrainingImage":     "b",
		"AlgorithmSpecification.TrainingInputMode": "Pipe",
		"ResourceConfig.InstanceType":              "ml.g5.xlarge",
		"ResourceConfig.InstanceCount":             8.0,
		"ResourceConfig.VolumeSizeInGB":            100.0,
		"HyperParameters.epochs":                   "5",
		"HyperParameters.batch":                    "64",
		"Html":                                     "<a&b>",
	} {
		if got := dig(m, strings.Split(path, ".")...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if !strings.Contains(got, "12345678901234567890") {
		t.Errorf("a big number lost precision: %s", got)
	}
	if !strings.Contains(got, `"loss=(.*)"`) || !strings.Contains(got, "<a&b>") {
		t.Errorf("members not kept verbatim: %s", got)
	}
	if dig(m, "AlgorithmSpecification", "ContainerEntrypoint") == nil {
		t.Errorf("entry point not set: %s", got)
	}
}

func TestBuildPayloadErrors(t *testing.T) {
	for name, spec := range map[string]payloadSpec{
		"not json":         {File: []byte("{nope")},
		"array":            {File: []byte(`[1]`)},
		"null":             {File: []byte(`null`)},
		"two values":       {File: []byte(`{} {}`)},
		"member not obj":   {File: []byte(`{"ResourceConfig": 3}`), InstanceCount: 2},
		"groups and count": {File: []byte(`{"ResourceConfig": {"InstanceGroups": [{"InstanceCount": 1}]}}`), InstanceCount: 2},
		"output path":      {Image: "x", InstanceType: "t", OutputPath: "/tmp/out"},
		"checkpoint path":  {Image: "x", InstanceType: "t", CheckpointURI: "ckpt/run-1"},
	} {
		if _, err := buildPayload(spec); exitCodeOf(err) != ExitUsage {
			t.Errorf("%s: got %v, want a usage error", name, err)
		}
	}
}

func TestExitRuleOrderAcrossFlags(t *testing.T) {
	rec := newRecorder(t)
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		return 200, "", map[string]any{"jobId": "j1", "jobArn": "arn:aws:batch:local:000000000000:service-job/j1", "jobName": "n"}
	}
	r := runCLI(t, rec.URL(), "", "submit", "-q", "q", "-n", "n", "--attempts", "4",
		"--retry-on", "CAPACITY*", "--exit-on", "Received status from SageMaker: AlgorithmError*",
		"--retry-on", "Received status from SageMaker: *", "--exit-on", "*",
		"--", "python", "train.py")
	wantCode(t, r, 0)
	if r.stdout != "j1\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	body := rec.last(t, "submitservicejob").body
	want := []any{
		map[string]any{"action": "RETRY", "onStatusReason": "CAPACITY*"},
		map[string]any{"action": "EXIT", "onStatusReason": "Received status from SageMaker: AlgorithmError*"},
		map[string]any{"action": "RETRY", "onStatusReason": "Received status from SageMaker: *"},
		map[string]any{"action": "EXIT", "onStatusReason": "*"},
	}
	if got := dig(body, "retryStrategy", "evaluateOnExit"); !reflect.DeepEqual(got, want) {
		t.Fatalf("evaluateOnExit %v\nwant %v", got, want)
	}
	if got := dig(body, "retryStrategy", "attempts"); got != 4.0 {
		t.Fatalf("attempts %v", got)
	}
	payload := decodePayload(t, body["serviceRequestPayload"].(string))
	if got := dig(payload, "AlgorithmSpecification", "ContainerEntrypoint"); !reflect.DeepEqual(got, []any{"python"}) {
		t.Fatalf("ContainerEntrypoint %v", got)
	}
	if got := dig(payload, "AlgorithmSpecification", "ContainerArguments"); !reflect.DeepEqual(got, []any{"train.py"}) {
		t.Fatalf("ContainerArguments %v", got)
	}
}

func TestSubmitRequest(t *testing.T) {
	rec := newRecorder(t)
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		return 200, "", map[string]any{"jobId": "j1", "jobArn": "arn:aws:batch:local:000000000000:service-job/j1", "jobName": "n"}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "job.json")
	os.WriteFile(file, []byte(`{"AlgorithmSpecification": {"TrainingImage": "img"}, "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50}}`), 0o644)
	r := runCLI(t, rec.URL(), "", "-o", "json", "submit", "--queue", "research", "--name", "bert", "--payload", file,
		"--instance-count", "3", "--share", "team-a", "--priority", "7", "--timeout", "90m",
		"--tag", "team=nlp", "--tag", "cost=42", "--client-token", "tok-1")
	wantCode(t, r, 0)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("json output: %v", err)
	}
	if !reflect.DeepEqual(out, map[string]any{"jobId": "j1", "jobArn": "arn:aws:batch:local:000000000000:service-job/j1", "jobName": "n"}) {
		t.Fatalf("json output %v", out)
	}
	body := rec.last(t, "submitservicejob").body
	for k, want := range map[string]any{
		"jobQueue": "research", "jobName": "bert", "serviceJobType": "SAGEMAKER_TRAINING", "shareIdentifier": "team-a",
		"schedulingPriority": 7.0, "clientToken": "tok-1",
	} {
		if body[k] != want {
			t.Errorf("%s = %v, want %v", k, body[k], want)
		}
	}
	if got := dig(body, "timeoutConfig", "attemptDurationSeconds"); got != 5400.0 {
		t.Errorf("attemptDurationSeconds %v", got)
	}
	if got := body["tags"]; !reflect.DeepEqual(got, map[string]any{"team": "nlp", "cost": "42"}) {
		t.Errorf("tags %v", got)
	}
	if _, ok := body["retryStrategy"]; ok {
		t.Errorf("retryStrategy without --attempts: %v", body["retryStrategy"])
	}
	payload := decodePayload(t, body["serviceRequestPayload"].(string))
	if dig(payload, "ResourceConfig", "InstanceCount") != 3.0 || dig(payload, "ResourceConfig", "InstanceType") != "ml.g5.xlarge" ||
		dig(payload, "ResourceConfig", "VolumeSizeInGB") != 50.0 {
		t.Errorf("payload %v", payload)
	}

	// The payload from stdin.
	r = runCLI(t, rec.URL(), `{"AlgorithmSpecification": {"TrainingImage": "from-stdin"}}`, "submit", "-q", "q", "-n", "n", "--payload", "-")
	wantCode(t, r, 0)
	if got := rec.last(t, "submitservicejob").body["serviceRequestPayload"]; got != `{"AlgorithmSpecification": {"TrainingImage": "from-stdin"}}` {
		t.Errorf("stdin payload %v", got)
	}
}

func TestUsageErrors(t *testing.T) {
	rec := newRecorder(t)
	for _, args := range [][]string{
		{"bogus"},
		{"submit", "-q", "q"},                      // no --name
		{"submit", "-q", "q", "-n", "n"},           // nothing to run
		{"submit", "-q", "q", "-n", "n", "python"}, // entry point without --
		{"submit", "-q", "q", "-n", "n", "--tag", "novalue", "--", "x"}, // bad k=v
		{"submit", "-q", "q", "-n", "n", "--retry-on", "X*", "--", "x"}, // rules without --attempts
		{"submit", "-q", "q", "-n", "n", "--timeout", "soon", "--", "x"},
		{"submit", "-q", "q", "-n", "n", "--payload", "/nonexistent/job.json"},
		{"submit", "-q", "q", "-n", "n", "--instance-count", "0", "--", "x"},
		{"--output", "yaml", "list"},
		{"--endpoint", "localhost:8642", "list"},
		{"list", "--status", "DONE"},
		{"list", "--name", "a", "--share", "b"},
		{"list", "--created-after", "2h", "--created-before", "1h"},
		{"list", "--status", "RUNNING", "--name", "a"},
		{"list", "--created-after", "yesterday-ish"},
		{"describe"},
		{"update", "j1"}, // no --priority
		{"update", "j1", "j2", "--priority", "1"}, // two ids
		{"terminate", "j1", "--reason", ""},
		{"env", "create", "e"}, // no --max-capacity
		{"env", "create", "e", "--max-capacity", "2", "--state", "ON"},
		{"env", "create", "e", "--max-capacity", "2", "--training-plan-arn", "plan"},
		{"env", "update", "e"},                    // nothing to update
		{"policy", "create", "p", "--share", "a"}, // no weight
		{"policy", "create", "p", "--decay", "forever"},
		{"policy", "update", "p"},
		{"queue", "create", "q", "--priority", "1"}, // no --env
		{"queue", "create", "q", "--priority", "1", "--env", "e:first"},
		{"queue", "create", "q", "--priority", "1", "--env", "e", "--time-limit", "REASON"},
		{"queue", "create", "q", "--priority", "1", "--env", "e", "--time-limit", "R=600:KILL"},
		{"queue", "update", "q"},
	} {
		r := runCLI(t, rec.URL(), "", args...)
		wantCode(t, r, ExitUsage)
	}
	if n := rec.count(); n != 0 {
		t.Fatalf("usage errors sent %d requests", n)
	}
	r := runCLI(t, rec.URL(), "", "list", "--name", "a", "--share", "b")
	if !strings.Contains(r.stderr, "--name and --share cannot be combined") {
		t.Errorf("incompatible filters: %q", r.stderr)
	}
	r = runCLI(t, rec.URL(), "", "submit", "-q", "q", "--bogus")
	if !strings.Contains(r.stderr, "unknown flag: --bogus") || !strings.Contains(r.stderr, "sagequeue submit --help") {
		t.Errorf("unknown flag: %q", r.stderr)
	}
}

func TestExitCodesOfResponses(t *testing.T) {
	rec := newRecorder(t)
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		switch body["jobId"] {
		case "missing":
			return 400, "ClientException", map[string]any{"message": "jobId: job missing not found"}
		case "bad":
			return 400, "ClientException", map[string]any{"message": "jobName: must be at most 128 characters"}
		case "boom":
			return 500, "ServerException", map[string]any{"message": "internal error (request id x)"}
		case "gateway":
			return 502, "", map[string]any{}
		case "busy":
			return 429, "TooManyRequestsException", map[string]any{"message": "slow down"}
		}
		return 200, "", map[string]any{"jobId": body["jobId"], "jobName": "n", "status": "RUNNABLE", "createdAt": 1}
	}
	cases := []struct {
		id   string
		code int
		msg  string
	}{
		{"missing", ExitNotFound, "sagequeue: jobId: job missing not found\n"},
		{"bad", ExitRefused, "sagequeue: jobName: must be at most 128 characters\n"},
		{"boom", ExitUnavailable, "sagequeue: internal error (request id x)\n"},
		{"gateway", ExitUnavailable, ""},
		{"busy", ExitRefused, "sagequeue: slow down\n"},
	}
	for _, c := range cases {
		r := runCLI(t, rec.URL(), "", "describe", c.id)
		wantCode(t, r, c.code)
		if c.msg != "" && r.stderr != c.msg {
			t.Errorf("%s: stderr %q, want %q", c.id, r.stderr, c.msg)
		}
	}
	// A not-found message is exit 3 only for the command's own target.
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		return 400, "ClientException", map[string]any{"message": "jobQueue: job queue nope not found"}
	}
	wantCode(t, runCLI(t, rec.URL(), "", "submit", "-q", "nope", "-n", "n", "--", "x"), ExitRefused)
	wantCode(t, runCLI(t, rec.URL(), "", "snapshot", "nope"), ExitNotFound)

	// Several ids: every one is tried, each failure is one line, the first
	// failure's code wins.
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		if body["jobId"] == "missing" {
			return 400, "ClientException", map[string]any{"message": "jobId: job missing not found"}
		}
		return 200, "", map[string]any{}
	}
	r := runCLI(t, rec.URL(), "", "terminate", "a", "missing", "b")
	if r.code != ExitNotFound || r.stdout != "a\nb\n" || r.stderr != "sagequeue: jobId: job missing not found\n" {
		t.Fatalf("terminate of several ids: %s", r)
	}
	if got := rec.last(t, "terminateservicejob").body["reason"]; got != "Terminated by user" {
		t.Fatalf("default reason %v", got)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := runCLI(t, "http://"+addr, "", "list")
	wantCode(t, r, ExitUnavailable)
	if !strings.Contains(r.stderr, "cannot reach http://"+addr) || !strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("stderr %q", r.stderr)
	}
}

func TestTrainingPlanExtensionMember(t *testing.T) {
	rec := newRecorder(t)
	plan := "arn:aws:sagemaker:us-east-1:123456789012:training-plan/p4d"
	wantCode(t, runCLI(t, rec.URL(), "", "env", "create", "gpu", "--max-capacity", "8", "--training-plan-arn", plan, "--tag", "a=b"), 0)
	body := rec.last(t, "createserviceenvironment").body
	want := map[string]any{
		"serviceEnvironmentName": "gpu", "serviceEnvironmentType": "SAGEMAKER_TRAINING", "state": "ENABLED",
		"capacityLimits":  []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "maxCapacity": 8.0}},
		"tags":            map[string]any{"a": "b"},
		"trainingPlanArn": plan,
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("body %v\nwant %v", body, want)
	}
	// Not sent when the flag is not given.
	wantCode(t, runCLI(t, rec.URL(), "", "env", "create", "cpu", "--max-capacity", "2"), 0)
	if _, ok := rec.last(t, "createserviceenvironment").body["trainingPlanArn"]; ok {
		t.Fatal("trainingPlanArn sent without the flag")
	}
	wantCode(t, runCLI(t, rec.URL(), "", "environment", "update", "gpu", "--training-plan-arn", plan), 0)
	if got := rec.last(t, "updateserviceenvironment").body; got["trainingPlanArn"] != plan || got["serviceEnvironment"] != "gpu" {
		t.Fatalf("update body %v", got)
	}
}

func TestToJSON(t *testing.T) {
	out := &batch.DescribeServiceJobOutput{
		JobId:          aws.String("j1"),
		JobName:        aws.String("n"),
		Status:         types.ServiceJobStatusRunnable,
		ServiceJobType: types.ServiceJobTypeSagemakerTraining,
		CreatedAt:      aws.Int64(1748779200000),
		IsTerminated:   aws.Bool(false),
		RetryStrategy: &types.ServiceJobRetryStrategy{Attempts: aws.Int32(2), EvaluateOnExit: []types.ServiceJobEvaluateOnExit{
			{Action: types.ServiceJobRetryActionExit, OnStatusReason: aws.String("*")},
		}},
		CapacityUsage:         []types.ServiceJobCapacityUsageDetail{{CapacityUnit: aws.String("NUM_INSTANCES"), Quantity: aws.Float64(2)}},
		Tags:                  map[string]string{"k": "v"},
		Attempts:              []types.ServiceJobAttemptDetail{},
		ServiceRequestPayload: aws.String(`{"a":"<b>"}`),
		ResultMetadata:        middleware.Metadata{},
	}
	got := toJSON(out)
	want := map[string]any{
		"jobId": "j1", "jobName": "n", "status": "RUNNABLE", "serviceJobType": "SAGEMAKER_TRAINING",
		"createdAt": int64(1748779200000), "isTerminated": false,
		"retryStrategy": map[string]any{"attempts": int64(2), "evaluateOnExit": []any{
			map[string]any{"action": "EXIT", "onStatusReason": "*"},
		}},
		"capacityUsage":         []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "quantity": 2.0}},
		"tags":                  map[string]any{"k": "v"},
		"attempts":              []any{},
		"serviceRequestPayload": `{"a":"<b>"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("toJSON\n%#v\nwant\n%#v", got, want)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"serviceRequestPayload": "{\"a\":\"<b>\"}"`) {
		t.Fatalf("HTML escaped or wrong: %s", buf.String())
	}
	// float32 members print in their own shortest form.
	buf.Reset()
	_ = writeJSON(&buf, toJSON(types.ShareAttributes{ShareIdentifier: aws.String("a"), WeightFactor: aws.Float32(0.1)}))
	if !strings.Contains(buf.String(), `"weightFactor": 0.1`) {
		t.Fatalf("float32: %s", buf.String())
	}
	if toJSON(nil) != nil || toJSON((*batch.DescribeServiceJobOutput)(nil)) != nil {
		t.Fatal("nil values")
	}
}

// TestMemberNamesMatchTheWire checks the converter's naming rule against the
// SDK's own serializer: a request with every member set is sent to a
// recorder, and the member names on the wire must be those toJSON gives.
func TestMemberNamesMatchTheWire(t *testing.T) {
	rec := newRecorder(t)
	client := batch.New(batch.Options{
		BaseEndpoint: aws.String(rec.URL()),
		Region:       "local",
		Credentials:  aws.AnonymousCredentials{},
	})
	ctx := context.Background()
	inputs := map[string]any{
		"submitservicejob": &batch.SubmitServiceJobInput{
			JobName: aws.String("n"), JobQueue: aws.String("q"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
			ServiceRequestPayload: aws.String("{}"), ClientToken: aws.String("t"), SchedulingPriority: aws.Int32(1),
			ShareIdentifier: aws.String("s"), Tags: map[string]string{"k": "v"},
			RetryStrategy: &types.ServiceJobRetryStrategy{Attempts: aws.Int32(2), EvaluateOnExit: []types.ServiceJobEvaluateOnExit{
				{Action: types.ServiceJobRetryActionRetry, OnStatusReason: aws.String("x")},
			}},
			TimeoutConfig: &types.ServiceJobTimeout{AttemptDurationSeconds: aws.Int32(60)},
		},
		"createjobqueue": &batch.CreateJobQueueInput{
			JobQueueName: aws.String("q"), Priority: aws.Int32(1), JobQueueType: types.JobQueueTypeSagemakerTraining,
			SchedulingPolicyArn: aws.String("arn"), State: types.JQStateEnabled, Tags: map[string]string{"k": "v"},
			ServiceEnvironmentOrder: []types.ServiceEnvironmentOrder{{Order: aws.Int32(1), ServiceEnvironment: aws.String("e")}},
			JobStateTimeLimitActions: []types.JobStateTimeLimitAction{{
				Action: types.JobStateTimeLimitActionsActionCancel, MaxTimeSeconds: aws.Int32(600), Reason: aws.String("r"),
				State: types.JobStateTimeLimitActionsStateRunnable,
			}},
		},
		"createschedulingpolicy": &batch.CreateSchedulingPolicyInput{
			Name: aws.String("p"), FairsharePolicy: &types.FairsharePolicy{
				ComputeReservation: aws.Int32(1), ShareDecaySeconds: aws.Int32(2),
				ShareDistribution: []types.ShareAttributes{{ShareIdentifier: aws.String("a"), WeightFactor: aws.Float32(0.5)}},
			},
		},
		"listservicejobs": &batch.ListServiceJobsInput{
			JobQueue: aws.String("q"), JobStatus: types.ServiceJobStatusRunning, MaxResults: aws.Int32(5), NextToken: aws.String("t"),
			Filters: []types.KeyValuesPair{{Name: aws.String("JOB_NAME"), Values: []string{"x"}}},
		},
	}
	for op, in := range inputs {
		var err error
		switch in := in.(type) {
		case *batch.SubmitServiceJobInput:
			_, err = client.SubmitServiceJob(ctx, in)
		case *batch.CreateJobQueueInput:
			_, err = client.CreateJobQueue(ctx, in)
		case *batch.CreateSchedulingPolicyInput:
			_, err = client.CreateSchedulingPolicy(ctx, in)
		case *batch.ListServiceJobsInput:
			_, err = client.ListServiceJobs(ctx, in)
		}
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		wire := rec.last(t, op).body
		if got, want := memberPaths(toJSON(in), ""), memberPaths(wire, ""); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: toJSON members %v\nwire members %v", op, got, want)
		}
	}
}

// memberPaths lists the object member paths in v, sorted.
func memberPaths(v any, prefix string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			p := prefix + "." + k
			if prefix == ".tags" || strings.HasSuffix(prefix, ".tags") {
				continue // map keys are data, not members
			}
			out = append(out, p)
			out = append(out, memberPaths(val, p)...)
		}
	case []any:
		for _, val := range v {
			out = append(out, memberPaths(val, prefix+"[]")...)
		}
	}
	sort.Strings(out)
	return out
}

func TestFlagValues(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "2d": 48 * time.Hour, "0.5d": 12 * time.Hour,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "-", "1x"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) accepted", in)
		}
	}
	var d durationFlag
	if d.Set("0") == nil || d.Set("-5s") == nil {
		t.Error("durationFlag accepted a non-positive duration")
	}
	if d.Set("1500ms") != nil || d.Seconds() != 2 {
		t.Errorf("durationFlag rounds up to whole seconds: %d", d.Seconds())
	}

	tf := &timeFlag{now: func() time.Time { return testNow }, loc: func() *time.Location { return time.UTC }}
	for in, want := range map[string]time.Time{
		"2h":                        testNow.Add(-2 * time.Hour),
		"2025-05-01T10:00:00Z":      time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC),
		"2025-05-01T10:00:00+02:00": time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC),
		"2025-05-01":                time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC),
	} {
		if err := tf.Set(in); err != nil || !tf.T.Equal(want) {
			t.Errorf("timeFlag %q = %v, %v; want %v", in, tf.T, err, want)
		}
	}

	kv := &kvFlag{}
	for _, s := range []string{"a=1", "b=x=y", "a=2", "c="} {
		if err := kv.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(kv.Map, map[string]string{"a": "2", "b": "x=y", "c": ""}) || kv.String() != "a=2,b=x=y,c=" {
		t.Errorf("kvFlag %v %q", kv.Map, kv.String())
	}
	if kv.Set("=1") == nil || kv.Set("novalue") == nil {
		t.Error("kvFlag accepted a bad pair")
	}

	var rules []types.ServiceJobEvaluateOnExit
	retry, exit := newExitRuleFlags(&rules)
	_ = exit.Set("A*")
	_ = retry.Set("B")
	_ = exit.Set("*")
	if retry.Set("") == nil {
		t.Error("empty pattern accepted")
	}
	if len(rules) != 3 || rules[0].Action != "EXIT" || rules[1].Action != "RETRY" || aws.ToString(rules[2].OnStatusReason) != "*" {
		t.Errorf("rules %+v", rules)
	}
	if exit.String() != "A*,*" || retry.String() != "B" {
		t.Errorf("rule flag strings %q %q", exit.String(), retry.String())
	}

	envs := &envOrderFlag{}
	for _, s := range []string{"gpu", "cpu:5", "arn:aws:batch:local:000000000000:service-environment/x", "arn:aws:batch:local:000000000000:service-environment/y:9"} {
		if err := envs.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := envs.String(); got != "gpu:1,cpu:5,arn:aws:batch:local:000000000000:service-environment/x:3,arn:aws:batch:local:000000000000:service-environment/y:9" {
		t.Errorf("env order %s", got)
	}

	tl := &timeLimitFlag{}
	for _, s := range []string{"MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE=600", "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY=2h:terminate"} {
		if err := tl.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := tl.String(); got != "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE=600:CANCEL,CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY=7200:TERMINATE" {
		t.Errorf("time limits %s", got)
	}
	if tl.actions[0].State != types.JobStateTimeLimitActionsStateRunnable {
		t.Errorf("state %s", tl.actions[0].State)
	}
	for _, s := range []string{"=600", "R", "R=0", "R=600:STOP", "R=x"} {
		if (&timeLimitFlag{}).Set(s) == nil {
			t.Errorf("time limit %q accepted", s)
		}
	}

	sf := &shareFlag{}
	if sf.Set("team-a=1") != nil || sf.Set("intern-*=0.25") != nil || sf.String() != "team-a=1,intern-*=0.25" {
		t.Errorf("shares %q", sf.String())
	}
	for _, s := range []string{"a", "=1", "a=x", "a=NaN"} {
		if (&shareFlag{}).Set(s) == nil {
			t.Errorf("share %q accepted", s)
		}
	}
}

func TestListRequests(t *testing.T) {
	rec := newRecorder(t)
	page, paging := 0, true
	rec.reply = func(op string, body map[string]any) (int, string, any) {
		page++
		resp := map[string]any{"jobSummaryList": []any{
			map[string]any{"jobId": "j" + itoa(page), "jobName": "n", "status": "RUNNING", "createdAt": int64(1748779200000) - int64(page),
				"capacityUsage": []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "quantity": 2}}},
		}}
		if paging && body["nextToken"] == nil {
			resp["nextToken"] = "more"
		}
		return 200, "", resp
	}
	// No flags: every status, through the "created after the epoch" filter,
	// all pages.
	r := runCLI(t, rec.URL(), "", "list", "-q", "research")
	wantCode(t, r, 0)
	body := rec.last(t, "listservicejobs").body
	if !reflect.DeepEqual(body["filters"], []any{map[string]any{"name": "AFTER_CREATED_AT", "values": []any{"0"}}}) || body["jobQueue"] != "research" {
		t.Fatalf("body %v", body)
	}
	if !strings.Contains(r.stdout, "j1") || !strings.Contains(r.stdout, "j2") {
		t.Fatalf("not every page listed:\n%s", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "JOB ID") || !strings.Contains(lines[0], "INSTANCES") || !strings.Contains(lines[1], " 2 ") {
		t.Fatalf("table:\n%s", r.stdout)
	}

	paging = false
	for _, c := range []struct {
		args []string
		want map[string]any
	}{
		{[]string{"--status", "runnable"}, map[string]any{"jobStatus": "RUNNABLE"}},
		{[]string{"--name", "Bert*"}, map[string]any{"filters": []any{map[string]any{"name": "JOB_NAME", "values": []any{"Bert*"}}}}},
		{[]string{"--share", "a", "--status", "RUNNING"}, map[string]any{"jobStatus": "RUNNING", "filters": []any{map[string]any{"name": "SHARE_IDENTIFIER", "values": []any{"a"}}}}},
		{[]string{"--created-after", "2h"}, map[string]any{"filters": []any{map[string]any{"name": "AFTER_CREATED_AT", "values": []any{itoa(int(testNow.Add(-2 * time.Hour).UnixMilli()))}}}}},
		{[]string{"--created-before", "2025-05-01T00:00:00Z"}, map[string]any{"filters": []any{map[string]any{"name": "BEFORE_CREATED_AT", "values": []any{"1746057600000"}}}}},
		{[]string{"--status", "FAILED", "--max", "1"}, map[string]any{"jobStatus": "FAILED", "maxResults": 1.0}},
	} {
		page = 0
		r := runCLI(t, rec.URL(), "", append([]string{"list"}, c.args...)...)
		wantCode(t, r, 0)
		if got := rec.last(t, "listservicejobs").body; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v: body %v, want %v", c.args, got, c.want)
		}
	}

	// --max stops paging.
	page, paging = 0, true
	before := rec.count()
	r = runCLI(t, rec.URL(), "", "-o", "json", "list", "--max", "1")
	wantCode(t, r, 0)
	if n := rec.count() - before; n != 1 {
		t.Fatalf("--max 1 made %d requests", n)
	}
	var out struct {
		JobSummaryList []map[string]any `json:"jobSummaryList"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.JobSummaryList) != 1 || out.JobSummaryList[0]["jobId"] != "j1" {
		t.Fatalf("json %s (%v)", r.stdout, err)
	}

	// --share without --status: one request per status, merged newest first.
	page, paging = 0, false
	before = rec.count()
	r = runCLI(t, rec.URL(), "", "list", "--share", "a")
	wantCode(t, r, 0)
	if n := rec.count() - before; n != len(statusNames()) {
		t.Fatalf("--share made %d requests", n)
	}
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")[1:]
	for i, l := range lines {
		if !strings.HasPrefix(l, "j"+itoa(i+1)+" ") {
			t.Fatalf("--share results not newest first:\n%s", r.stdout)
		}
	}
}

func TestShortTimes(t *testing.T) {
	a := &App{Now: func() time.Time { return testNow }, Location: time.UTC}
	ms := func(t time.Time) *int64 { v := t.UnixMilli(); return &v }
	for _, c := range []struct {
		at   *int64
		want string
	}{
		{nil, "-"},
		{aws.Int64(0), "-"},
		{ms(testNow.Add(-time.Hour)), "11:00:00"},
		{ms(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)), "Mar 04 05:06"},
		{ms(time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)), "2024-03-04"},
	} {
		if got := a.shortTime(c.at); got != c.want {
			t.Errorf("shortTime = %q, want %q", got, c.want)
		}
	}
	if got := truncate(strings.Repeat("x", 100), 10); got != "xxxxxxx..." {
		t.Errorf("truncate %q", got)
	}
	if got := nameFromARN("arn:aws:batch:local:000000000000:service-environment/gpu"); got != "gpu" {
		t.Errorf("nameFromARN %q", got)
	}
	if got := jobIDFromARN("arn:aws:batch:local:000000000000:service-job/abc"); got != "abc" {
		t.Errorf("jobIDFromARN %q", got)
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"submit", "--help"}, {"queue", "create", "--help"}} {
		r := runCLI(t, "", "", args...)
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "Exit codes:") || !strings.Contains(r.stdout, "3  not found") {
			t.Errorf("%v: no exit codes in help", args)
		}
	}
}

func TestMainEntryPoint(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"--endpoint", "ftp://x", "list"}, nil, &out, &errb)
	if code != ExitUsage || !strings.HasPrefix(errb.String(), "sagequeue: --endpoint: ") {
		t.Fatalf("Main: %d %q", code, errb.String())
	}
}

func TestClientConfiguration(t *testing.T) {
	ctx := context.Background()
	build := func(endpoint, region string) batch.Options {
		t.Helper()
		a := &App{Endpoint: endpoint, Region: region}
		c, err := a.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c.Options()
	}
	creds := func(o batch.Options) string {
		t.Helper()
		c, err := o.Credentials.Retrieve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c.AccessKeyID
	}

	o := build("http://127.0.0.1:8642", "")
	if o.Region != "local" || aws.ToString(o.BaseEndpoint) != "http://127.0.0.1:8642" || o.Credentials != nil {
		t.Fatalf("local endpoint: region %q endpoint %v credentials %T, want none (unsigned)", o.Region, aws.ToString(o.BaseEndpoint), o.Credentials)
	}
	if o := build("https://sagequeue.example.com", "eu-west-1"); o.Region != "eu-west-1" {
		t.Fatalf("--region: %q", o.Region)
	}
	o = build(EndpointAWS, "")
	if o.Region != "us-east-1" || o.BaseEndpoint != nil {
		t.Fatalf("aws endpoint: region %q endpoint %v", o.Region, aws.ToString(o.BaseEndpoint))
	}

	// Configured credentials and region win over the fallbacks.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "ap-south-1")
	o = build("http://127.0.0.1:8642", "")
	if o.Region != "ap-south-1" || creds(o) != "AKIDEXAMPLE" {
		t.Fatalf("configured: region %q key %q", o.Region, creds(o))
	}
	if o := build(EndpointAWS, ""); o.Region != "ap-south-1" || creds(o) != "AKIDEXAMPLE" {
		t.Fatalf("aws configured: region %q", o.Region)
	}

	// An unknown profile is a usage error.
	a := &App{Endpoint: EndpointAWS, Profile: "no-such-profile"}
	if _, err := a.Batch(ctx); exitCodeOf(err) != ExitUsage {
		t.Fatalf("unknown profile: %v", err)
	}
}

// TestConstructorNames keeps each registration's names true to the command
// it builds: a name missing there would build the whole tree for nothing,
// and a wrong one would build a command the line does not name.
func TestConstructorNames(t *testing.T) {
	a := &App{Getenv: func(string) string { return "" }}
	seen := map[string]bool{}
	for _, c := range constructors {
		cmd := c.fn(a)
		want := append([]string{cmd.Name()}, cmd.Aliases...)
		if !slices.Equal(c.names, want) {
			t.Errorf("command %s is registered with names %q, want %q", cmd.Name(), c.names, want)
		}
		for _, n := range c.names {
			if seen[n] {
				t.Errorf("two commands are named %q", n)
			}
			seen[n] = true
		}
	}
}

// TestInvoked: which command a command line names, when it can be told
// without building the others.
func TestInvoked(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string // "" builds the whole tree
	}{
		"command first":              {[]string{"submit", "-q", "q", "-n", "n"}, "submit"},
		"after a global flag":        {[]string{"--endpoint", "http://127.0.0.1:8642", "list"}, "list"},
		"after flag=value":           {[]string{"--endpoint=http://127.0.0.1:8642", "describe", "id"}, "describe"},
		"after a shorthand flag":     {[]string{"-o", "json", "snapshot", "q"}, "snapshot"},
		"an alias":                   {[]string{"environment", "describe"}, "env"},
		"a flag's value like a name": {[]string{"--profile", "submit", "list"}, "list"},
		"no arguments":               {nil, ""},
		"help":                       {[]string{"help", "submit"}, ""},
		"completion request":         {[]string{"__complete", "submit", ""}, ""},
		"unknown command":            {[]string{"submti"}, ""},
		"unknown flag first":         {[]string{"--bogus", "list"}, ""},
		"joined shorthand value":     {[]string{"-ojson", "list"}, ""},
		"help flag first":            {[]string{"--help", "list"}, ""},
		"dash dash":                  {[]string{"--", "list"}, ""},
	}
	a := &App{Getenv: func(string) string { return "" }}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a.args = nil
			root := a.rootCmd() // the whole tree, whose root flags invoked reads
			c, ok := invoked(root, tc.args)
			got := ""
			if ok {
				got = c.names[0]
			}
			if got != tc.want {
				t.Errorf("invoked(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}
