package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/model"
)

var emfNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// documents decodes the JSON lines written to b.
func documents(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var docs []map[string]any
	sc := bufio.NewScanner(b)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d map[string]any
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		docs = append(docs, d)
	}
	return docs
}

// checkEMF checks the rules of the Embedded Metric Format that CloudWatch
// enforces: an _aws member with a millisecond Timestamp and one directive
// whose dimensions and metrics are root members, within the limits.
func checkEMF(t *testing.T, doc map[string]any) {
	t.Helper()
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws member: %v", doc)
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || int64(ts) != emfNow.UnixMilli() {
		t.Fatalf("Timestamp %v", aws["Timestamp"])
	}
	directives, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(directives) != 1 {
		t.Fatalf("CloudWatchMetrics %v", aws["CloudWatchMetrics"])
	}
	d := directives[0].(map[string]any)
	if d["Namespace"] != "sagequeue" {
		t.Fatalf("Namespace %v", d["Namespace"])
	}
	for _, set := range d["Dimensions"].([]any) {
		names := set.([]any)
		if len(names) > 30 {
			t.Fatalf("dimension set %v", names)
		}
		for _, n := range names {
			if v, ok := doc[n.(string)].(string); !ok || v == "" {
				t.Fatalf("dimension %v has no string value in %v", n, doc)
			}
		}
	}
	metrics := d["Metrics"].([]any)
	if len(metrics) == 0 || len(metrics) > 100 {
		t.Fatalf("%d metrics in one document", len(metrics))
	}
	for _, m := range metrics {
		name := m.(map[string]any)["Name"].(string)
		switch v := doc[name].(type) {
		case float64:
		case []any:
			if len(v) == 0 || len(v) > 100 {
				t.Fatalf("%s has %d values", name, len(v))
			}
		default:
			t.Fatalf("metric %s has no numeric value: %v", name, doc[name])
		}
	}
}

func TestEMFDocuments(t *testing.T) {
	var b bytes.Buffer
	e := &EMF{Namespace: "sagequeue", Dimensions: []Dim{{"Function", "schedule"}}, W: &b, Now: func() time.Time { return emfNow }}
	e.Add("JobsFinished", "Count", 1, Dim{"Queue", "q"}, Dim{"Status", "FAILED"})
	e.Add("JobsFinished", "Count", 2, Dim{"Queue", "q"}, Dim{"Status", "FAILED"})
	e.Set("Jobs", "Count", 4, Dim{"Queue", "q"}, Dim{"Status", "FAILED"})
	e.Set("Jobs", "Count", 5, Dim{"Queue", "q"}, Dim{"Status", "FAILED"})
	e.Observe("SchedulingPassDuration", "Seconds", 0.5)
	e.Observe("SchedulingPassDuration", "Seconds", 0.25)
	e.Add("ShareUsage", "None", 1, Dim{"Share", ""})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := documents(t, &b)
	if len(docs) != 3 {
		t.Fatalf("%d documents: %v", len(docs), docs)
	}
	for _, d := range docs {
		checkEMF(t, d)
	}
	want := map[string]any{
		"Function": "schedule", "Queue": "q", "Status": "FAILED", "JobsFinished": 3.0, "Jobs": 5.0,
		"_aws": map[string]any{"Timestamp": float64(emfNow.UnixMilli()), "CloudWatchMetrics": []any{map[string]any{
			"Namespace": "sagequeue", "Dimensions": []any{[]any{"Function", "Queue", "Status"}},
			"Metrics": []any{map[string]any{"Name": "Jobs", "Unit": "Count"}, map[string]any{"Name": "JobsFinished", "Unit": "Count"}},
		}}},
	}
	if !reflect.DeepEqual(docs[0], want) {
		t.Fatalf("document\n%v\nwant\n%v", docs[0], want)
	}
	if v := docs[1]["SchedulingPassDuration"]; !reflect.DeepEqual(v, []any{0.5, 0.25}) {
		t.Fatalf("distribution %v", v)
	}
	if docs[2]["Share"] != "-" {
		t.Fatalf("empty dimension value: %v", docs[2])
	}
	// A flush forgets what it wrote.
	if err := e.Flush(); err != nil || b.Len() != 0 {
		t.Fatalf("second flush wrote %q (%v)", b.String(), err)
	}
}

func TestEMFLimits(t *testing.T) {
	var b bytes.Buffer
	e := &EMF{Namespace: "sagequeue", W: &b, Now: func() time.Time { return emfNow }}
	for i := range 250 {
		e.Observe("JobWaitTime", "Seconds", float64(i))
	}
	for i := range 150 {
		e.Add(fmt.Sprintf("M%03d", i), "Count", 1)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := documents(t, &b)
	values, metrics := 0, 0
	for _, d := range docs {
		checkEMF(t, d)
		if v, ok := d["JobWaitTime"].([]any); ok {
			values += len(v)
		}
		metrics += len(d["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any))
	}
	if values != 250 || metrics != 150+3 {
		t.Fatalf("%d documents carry %d values and %d metric declarations", len(docs), values, metrics)
	}
}

// TestRecorderToCloudWatch: the same Recorder that feeds Prometheus writes
// EMF, with the labels as dimensions beside Function.
func TestRecorderToCloudWatch(t *testing.T) {
	var b bytes.Buffer
	e := &EMF{Namespace: "sagequeue", Dimensions: []Dim{{"Function", "statechange"}}, W: &b, Now: func() time.Time { return emfNow }}
	rec := NewCloudWatch(e)
	job := runJob("research", model.StatusSucceeded)
	rec.JobTransition(model.StatusRunning, job)
	rec.SageMakerCall("CreateTrainingJob", 30*time.Millisecond, &smithy.GenericAPIError{Code: "ResourceLimitExceeded"})
	rec.SageMakerCall("DescribeTrainingJob", 30*time.Millisecond, errors.New("connection reset"))
	rec.PassFinished(engine.PassResult{Launched: 2, Duration: 40 * time.Millisecond}, nil)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	byDims := map[string]map[string]any{}
	for _, d := range documents(t, &b) {
		checkEMF(t, d)
		dims := d["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)[0].([]any)
		key := ""
		for _, n := range dims {
			key += n.(string) + "=" + d[n.(string)].(string) + " "
		}
		byDims[key] = d
	}
	check := func(key, metric string, want any) {
		t.Helper()
		d, ok := byDims[key]
		if !ok {
			t.Fatalf("no document with dimensions %q; have %v", key, byDims)
		}
		if !reflect.DeepEqual(d[metric], want) {
			t.Fatalf("%s %s = %v, want %v", key, metric, d[metric], want)
		}
	}
	check("Function=statechange Queue=research Status=SUCCEEDED ", "JobsFinished", 1.0)
	check("Function=statechange Queue=research From=RUNNING To=SUCCEEDED ", "JobTransitions", 1.0)
	check("Function=statechange Queue=research ", "JobRunTime", 90.0)
	check("Function=statechange Operation=CreateTrainingJob ErrorCode=ResourceLimitExceeded ", "SageMakerErrors", 1.0)
	check("Function=statechange Operation=DescribeTrainingJob ErrorCode=RequestError ", "SageMakerErrors", 1.0)
	check("Function=statechange Result=ok ", "SchedulingPasses", 1.0)
	check("Function=statechange ", "Launches", 2.0)
	check("Function=statechange ", "SchedulingPassDuration", 0.04)
}
