package cloud_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

// emfDocs decodes the EMF documents a function wrote and checks their
// shape: one JSON object a line, an _aws member with a Timestamp and one
// directive in the sagequeue namespace whose every dimension (Function
// among them) and metric is a member of the document.
func emfDocs(t *testing.T, b *bytes.Buffer, function string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	sc := bufio.NewScanner(b)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		aws, _ := d["_aws"].(map[string]any)
		if aws == nil {
			t.Fatalf("no _aws member: %s", sc.Text())
		}
		if _, ok := aws["Timestamp"].(float64); !ok {
			t.Fatalf("no Timestamp: %s", sc.Text())
		}
		dirs, _ := aws["CloudWatchMetrics"].([]any)
		if len(dirs) != 1 {
			t.Fatalf("CloudWatchMetrics: %s", sc.Text())
		}
		dir := dirs[0].(map[string]any)
		if dir["Namespace"] != cloud.MetricsNamespace {
			t.Fatalf("namespace: %s", sc.Text())
		}
		sets := dir["Dimensions"].([]any)
		if len(sets) != 1 || sets[0].([]any)[0] != "Function" || d["Function"] != function {
			t.Fatalf("dimensions: %s", sc.Text())
		}
		for _, n := range sets[0].([]any) {
			if v, ok := d[n.(string)].(string); !ok || v == "" {
				t.Fatalf("dimension %v without a value: %s", n, sc.Text())
			}
		}
		for _, m := range dir["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			if _, ok := m.(map[string]any)["Unit"].(string); !ok {
				t.Fatalf("metric %s without a unit", name)
			}
			switch d[name].(type) {
			case float64, []any:
			default:
				t.Fatalf("metric %s without a value: %s", name, sc.Text())
			}
		}
		docs = append(docs, d)
	}
	return docs
}

// metricValue finds a metric in documents by its dimensions (besides
// Function), as "Name=Value" pairs.
func metricValue(docs []map[string]any, metric string, dims ...string) (any, bool) {
	sort.Strings(dims)
	for _, d := range docs {
		if _, ok := d[metric]; !ok {
			continue
		}
		set := d["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)[0].([]any)
		var have []string
		for _, n := range set[1:] {
			have = append(have, n.(string)+"="+d[n.(string)].(string))
		}
		sort.Strings(have)
		if strings.Join(have, ",") == strings.Join(dims, ",") {
			return d[metric], true
		}
	}
	return nil, false
}

func TestFunctionsWriteEMF(t *testing.T) {
	ctx := context.Background()
	u := newUnit(t, cloud.FunctionSubmit)
	u.deps.Config.AccountID = "123456789012"
	var submitOut bytes.Buffer
	u.deps.Metrics = &submitOut
	sub, err := cloud.NewSubmit(u.deps)
	if err != nil {
		t.Fatal(err)
	}
	call := func(op string, body map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		ev, _ := json.Marshal(lambdaevents.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: "/v1/" + op, Body: string(b),
			RequestContext: lambdaevents.APIGatewayV2HTTPRequestContext{Stage: "$default", HTTP: lambdaevents.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}},
		})
		if _, err := lambda.NewHandler(sub.Handle).Invoke(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	call("createserviceenvironment", map[string]any{
		"serviceEnvironmentName": "env", "serviceEnvironmentType": "SAGEMAKER_TRAINING",
		"capacityLimits": []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "maxCapacity": 2}},
	})
	call("createjobqueue", map[string]any{
		"jobQueueName": "q", "priority": 1, "jobQueueType": "SAGEMAKER_TRAINING",
		"serviceEnvironmentOrder": []any{map[string]any{"order": 1, "serviceEnvironment": "env"}},
	})
	call("submitservicejob", map[string]any{
		"jobName": "j", "jobQueue": "q", "serviceJobType": "SAGEMAKER_TRAINING",
		// Complete, so that the SDK sends it (and finds nobody there).
		"serviceRequestPayload": `{"RoleArn":"arn:aws:iam::123456789012:role/r","AlgorithmSpecification":{"TrainingImage":"img","TrainingInputMode":"File"},` +
			`"OutputDataConfig":{"S3OutputPath":"s3://b/o"},"StoppingCondition":{"MaxRuntimeInSeconds":60},` +
			`"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":1,"VolumeSizeInGB":1}}`,
	})
	docs := emfDocs(t, &submitOut, "submit")
	for _, c := range []struct {
		metric string
		dims   []string
	}{
		{"JobsSubmitted", []string{"Queue=q"}},
		{"APIRequests", []string{"Operation=submitservicejob", "ErrorCode=200"}},
		{"APIRequests", []string{"Operation=createjobqueue", "ErrorCode=200"}},
	} {
		if v, ok := metricValue(docs, c.metric, c.dims...); !ok || v != 1.0 {
			t.Errorf("submit: %s %v = %v (%v)", c.metric, c.dims, v, ok)
		}
	}

	// The schedule function's tick: a pass places the job, SageMaker cannot
	// be reached, and the state gauges are read after the pass.
	u.deps.Config.Function = cloud.FunctionSchedule
	u.deps.SageMaker = sagemaker.New(sagemaker.Options{BaseEndpoint: aws.String("http://127.0.0.1:9"), Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), RetryMaxAttempts: 1})
	var schedOut bytes.Buffer
	u.deps.Metrics = &schedOut
	sched, err := cloud.NewSchedule(u.deps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lambda.NewHandler(sched.Handle).Invoke(ctx, tickEvent(time.Now())); err != nil {
		t.Fatal(err)
	}
	docs = emfDocs(t, &schedOut, "schedule")
	for _, c := range []struct {
		metric string
		dims   []string
		want   any
	}{
		{"SchedulingPasses", []string{"Result=ok"}, 1.0},
		{"SageMakerRequests", []string{"Operation=CreateTrainingJob"}, 1.0},
		{"SageMakerErrors", []string{"Operation=CreateTrainingJob", "ErrorCode=RequestError"}, 1.0},
		{"JobTransitions", []string{"Queue=q", "From=RUNNABLE", "To=SCHEDULED"}, 1.0},
		{"JobWaitTime", []string{"Queue=q"}, nil}, // a value; its size depends on the clock
		{"Jobs", []string{"Queue=q", "Status=SCHEDULED"}, 1.0},
		{"Jobs", []string{"Queue=q", "Status=RUNNABLE"}, 0.0},
		{"InstancesInUse", []string{"Environment=env"}, 1.0},
		{"InstanceCapacity", []string{"Environment=env"}, 2.0},
		{"SchedulingPassDuration", nil, nil},
	} {
		v, ok := metricValue(docs, c.metric, c.dims...)
		if !ok || c.want != nil && v != c.want {
			t.Errorf("schedule: %s %v = %v (%v), want %v", c.metric, c.dims, v, ok, c.want)
		}
	}

	// A schedule request (not the tick) does not read the state.
	schedOut.Reset()
	req, _ := json.Marshal(map[string]any{"source": "sagequeue", "detail-type": "Schedule Requested", "id": "e1", "detail": map[string]any{}})
	if _, err := lambda.NewHandler(sched.Handle).Invoke(ctx, req); err != nil {
		t.Fatal(err)
	}
	docs = emfDocs(t, &schedOut, "schedule")
	if _, ok := metricValue(docs, "Jobs", "Queue=q", "Status=SCHEDULED"); ok {
		t.Error("the state was read outside the tick")
	}
	if _, ok := metricValue(docs, "SchedulingPasses", "Result=ok"); !ok {
		t.Error("no pass metric")
	}
}
