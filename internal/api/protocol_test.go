package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestProtocol drives the handler with raw HTTP: what the SDK would never send
// must still get a 400 ClientException that names the field, and store nothing.
func TestProtocol(t *testing.T) {
	h := newHarness(t)
	h.setup(4)
	big := `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","tags":{"k":"` + strings.Repeat("v", 70*1024) + `"}}`
	tests := map[string]struct {
		op, body string
		status   int
		kind     string
		message  string
	}{
		"missing jobName":          {"submitservicejob", `{"jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}"}`, 400, "ClientException", "jobName: is required"},
		"missing payload":          {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING"}`, 400, "ClientException", "serviceRequestPayload: is required"},
		"attempts missing":         {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","retryStrategy":{}}`, 400, "ClientException", "retryStrategy.attempts: is required"},
		"rule without action":      {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","retryStrategy":{"attempts":2,"evaluateOnExit":[{"onStatusReason":"x"}]}}`, 400, "ClientException", "retryStrategy.evaluateOnExit[0].action: is required"},
		"priority as a string":     {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","schedulingPriority":"high"}`, 400, "ClientException", "schedulingPriority: must be an integer"},
		"priority out of int32":    {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","schedulingPriority":99999999999}`, 400, "ClientException", "schedulingPriority: must be an integer"},
		"payload as an object":     {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":{"a":1}}`, 400, "ClientException", "serviceRequestPayload: must be a string"},
		"tags as a list":           {"submitservicejob", `{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","tags":["a"]}`, 400, "ClientException", "tags: must be a JSON object"},
		"not JSON":                 {"submitservicejob", `{"jobName":`, 400, "ClientException", "request body: is not valid JSON"},
		"body over 64 KiB":         {"submitservicejob", big, 400, "ClientException", "request body: must be at most 65536 bytes"},
		"terminate without reason": {"terminateservicejob", `{"jobId":"x"}`, 400, "ClientException", "reason: is required"},
		"weight as NaN":            {"createschedulingpolicy", `{"name":"p","fairsharePolicy":{"shareDistribution":[{"shareIdentifier":"a","weightFactor":"NaN"}]}}`, 400, "ClientException", "fairsharePolicy.shareDistribution.weightFactor: must be a number"},
		"unknown operation":        {"launchrockets", `{}`, 404, "UnknownOperationException", "unknown operation"},
		"empty body":               {"describeservicejob", ``, 400, "ClientException", "jobId: is required"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, kind, body := h.raw(tc.op, []byte(tc.body))
			msg, _ := body["message"].(string)
			if status != tc.status || kind != tc.kind || !strings.Contains(msg, tc.message) {
				t.Fatalf("got %d %s %q, want %d %s containing %q", status, kind, msg, tc.status, tc.kind, tc.message)
			}
		})
	}
	if n := h.jobCount(); n != 0 {
		t.Fatalf("%d jobs stored by refused requests", n)
	}
	// Unknown members are ignored, as AWS does.
	status, _, body := h.raw("submitservicejob", []byte(`{"jobName":"j","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}","futureMember":{"x":[1]}}`))
	if status != 200 || body["jobId"] == "" {
		t.Fatalf("unknown member: %d %v", status, body)
	}
	resp, err := http.Get(h.srv.URL + "/v1/submitservicejob")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	resp, err = http.Post(h.srv.URL+"/v1/listservicejobs", "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Fatalf("list with an empty body: %d, request id %q", resp.StatusCode, resp.Header.Get("X-Amzn-Requestid"))
	}
}
