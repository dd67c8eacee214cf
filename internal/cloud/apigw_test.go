package cloud_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

// An HTTP API event as API Gateway delivers it to Lambda (payload format
// 2.0, IAM authorization, a custom stage "prod").
const sampleEvent = `{
  "version": "2.0",
  "routeKey": "$default",
  "rawPath": "/prod/v1/echo/a%2Fb",
  "rawQueryString": "x=1&x=2&y=%20z",
  "cookies": ["c1=v1", "c2=v2"],
  "headers": {
    "accept": "application/json",
    "content-type": "application/octet-stream",
    "host": "abc123.execute-api.eu-west-1.amazonaws.com",
    "x-amz-date": "20240101T000000Z",
    "x-multi": "one,two",
    "user-agent": "aws-sdk-go-v2/1.0"
  },
  "queryStringParameters": {"x": "1,2", "y": " z"},
  "requestContext": {
    "accountId": "123456789012",
    "apiId": "abc123",
    "authorizer": {
      "iam": {
        "accessKey": "AKIAEXAMPLE",
        "accountId": "123456789012",
        "callerId": "AIDAEXAMPLE",
        "principalOrgId": null,
        "userArn": "arn:aws:iam::123456789012:user/alice",
        "userId": "AIDAEXAMPLE"
      }
    },
    "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
    "domainPrefix": "abc123",
    "http": {
      "method": "POST",
      "path": "/prod/v1/echo/a%2Fb",
      "protocol": "HTTP/1.1",
      "sourceIp": "192.0.2.1",
      "userAgent": "aws-sdk-go-v2/1.0"
    },
    "requestId": "Ab1CdEfGhIjKlMn=",
    "routeKey": "$default",
    "stage": "prod",
    "time": "01/Jan/2024:00:00:00 +0000",
    "timeEpoch": 1704067200000
  },
  "body": "AAEC/wBoaQ==",
  "isBase64Encoded": true
}`

// seen is what the echo handler saw of a request.
type seen struct {
	Method, Path, RawQuery, Host, RemoteAddr, Proto, Identity, RequestID string
	Header                                                               http.Header
	Query                                                                map[string][]string
	Body                                                                 []byte
}

// echo answers with what it saw, as JSON, or with the request body as bytes
// when asked for binary.
func echo(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		if r.URL.Query().Get("binary") != "" {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Add("Set-Cookie", "s=1")
			w.Header().Add("X-Several", "a")
			w.Header().Add("X-Several", "b")
			w.WriteHeader(http.StatusAccepted)
			w.Write(b)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(seen{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, RemoteAddr: r.RemoteAddr,
			Proto: r.Proto, Identity: cloud.CallerIdentity(r), RequestID: cloud.RequestID(r),
			Header: r.Header, Query: r.URL.Query(), Body: b,
		})
	})
}

// invoke runs an adapter on an event's JSON as Lambda does, and returns the
// response event.
func invoke(t *testing.T, h any, event string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	out, err := lambda.NewHandler(h).Invoke(context.Background(), []byte(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func edit(t *testing.T, event string, change func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(event), &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	b, _ := json.Marshal(m)
	return string(b)
}

func TestAdapterRequest(t *testing.T) {
	resp := invoke(t, cloud.Adapter{Handler: echo(t)}.Handle, sampleEvent)
	if resp.StatusCode != 200 || resp.IsBase64Encoded || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("response %+v", resp)
	}
	var s seen
	if err := json.Unmarshal([]byte(resp.Body), &s); err != nil {
		t.Fatal(err)
	}
	if s.Method != "POST" || s.Path != "/v1/echo/a/b" || s.RawQuery != "x=1&x=2&y=%20z" {
		t.Errorf("method %s path %q query %q: want POST, the path without the stage, the query as sent", s.Method, s.Path, s.RawQuery)
	}
	if got := s.Query["x"]; len(got) != 2 || s.Query["y"][0] != " z" {
		t.Errorf("query values %v", s.Query)
	}
	if string(s.Body) != "\x00\x01\x02\xff\x00hi" {
		t.Errorf("body %q: want the base64 body decoded", s.Body)
	}
	if s.Header.Get("Content-Type") != "application/octet-stream" || s.Header.Get("X-Amz-Date") != "20240101T000000Z" ||
		s.Header.Get("X-Multi") != "one,two" || s.Header.Get("Cookie") != "c1=v1; c2=v2" {
		t.Errorf("headers %v", s.Header)
	}
	if s.Host != "abc123.execute-api.eu-west-1.amazonaws.com" || s.RemoteAddr != "192.0.2.1" || s.Proto != "HTTP/1.1" {
		t.Errorf("host %q remote %q proto %q", s.Host, s.RemoteAddr, s.Proto)
	}
	if s.Identity != "arn:aws:iam::123456789012:user/alice" {
		t.Errorf("identity %q, want the IAM user ARN", s.Identity)
	}
	if s.RequestID != "Ab1CdEfGhIjKlMn=" || resp.Headers["X-Amzn-Requestid"] != "Ab1CdEfGhIjKlMn=" {
		t.Errorf("request id seen %q, answered %q", s.RequestID, resp.Headers["X-Amzn-Requestid"])
	}
}

func TestAdapterStages(t *testing.T) {
	for _, c := range []struct{ stage, rawPath, want string }{
		{"$default", "/v1/echo", "/v1/echo"},
		{"$default", "/prod/v1/echo", "/prod/v1/echo"}, // no stage in the path of $default
		{"prod", "/prod/v1/echo", "/v1/echo"},
		{"prod", "/prod", "/"},
		{"prod", "/production/v1/echo", "/production/v1/echo"}, // a prefix of a segment is not the stage
		{"prod", "/v1/echo", "/v1/echo"},                       // a custom domain mapping drops the stage
	} {
		ev := edit(t, sampleEvent, func(m map[string]any) {
			m["rawPath"] = c.rawPath
			m["requestContext"].(map[string]any)["stage"] = c.stage
		})
		var s seen
		json.Unmarshal([]byte(invoke(t, cloud.Adapter{Handler: echo(t)}.Handle, ev).Body), &s)
		if s.Path != c.want {
			t.Errorf("stage %q, rawPath %q: path %q, want %q", c.stage, c.rawPath, s.Path, c.want)
		}
	}
}

func TestAdapterIdentity(t *testing.T) {
	for _, c := range []struct {
		name string
		iam  any
		want string
	}{
		{"user ARN", map[string]any{"userArn": "arn:aws:sts::123456789012:assumed-role/r/s", "accountId": "123456789012", "callerId": "AROA:s"}, "arn:aws:sts::123456789012:assumed-role/r/s"},
		{"caller and account", map[string]any{"accountId": "123456789012", "callerId": "AROAEXAMPLE:session"}, "123456789012:AROAEXAMPLE:session"},
		{"caller only", map[string]any{"callerId": "AIDAEXAMPLE"}, "AIDAEXAMPLE"},
		{"no authorizer", nil, ""},
	} {
		ev := edit(t, sampleEvent, func(m map[string]any) {
			rc := m["requestContext"].(map[string]any)
			if c.iam == nil {
				delete(rc, "authorizer")
			} else {
				rc["authorizer"] = map[string]any{"iam": c.iam}
			}
		})
		var s seen
		json.Unmarshal([]byte(invoke(t, cloud.Adapter{Handler: echo(t)}.Handle, ev).Body), &s)
		if s.Identity != c.want {
			t.Errorf("%s: identity %q, want %q", c.name, s.Identity, c.want)
		}
	}
}

func TestAdapterBinaryResponse(t *testing.T) {
	ev := edit(t, sampleEvent, func(m map[string]any) { m["rawQueryString"] = "binary=1" })
	resp := invoke(t, cloud.Adapter{Handler: echo(t)}.Handle, ev)
	if resp.StatusCode != http.StatusAccepted || !resp.IsBase64Encoded {
		t.Fatalf("status %d, base64 %v: want 202, base64", resp.StatusCode, resp.IsBase64Encoded)
	}
	b, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil || string(b) != "\x00\x01\x02\xff\x00hi" {
		t.Errorf("body %q (%v): want the bytes written", b, err)
	}
	if resp.Headers["X-Several"] != "a,b" || len(resp.Cookies) != 1 || resp.Cookies[0] != "s=1" || resp.Headers["Set-Cookie"] != "" {
		t.Errorf("headers %v, cookies %v", resp.Headers, resp.Cookies)
	}
	// A plain body that is sent as text.
	ev = edit(t, sampleEvent, func(m map[string]any) { m["isBase64Encoded"] = false; m["body"] = `{"a":"é"}` })
	var s seen
	json.Unmarshal([]byte(invoke(t, cloud.Adapter{Handler: echo(t)}.Handle, ev).Body), &s)
	if string(s.Body) != `{"a":"é"}` {
		t.Errorf("text body %q", s.Body)
	}
	// A body that claims base64 but is not: a 400, not a failed invocation.
	ev = edit(t, sampleEvent, func(m map[string]any) { m["body"] = "not base64!" })
	resp = invoke(t, cloud.Adapter{Handler: echo(t)}.Handle, ev)
	if resp.StatusCode != 400 || resp.Headers["X-Amzn-Errortype"] != "ClientException" || !strings.Contains(resp.Body, "not base64") {
		t.Errorf("bad base64: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}

// TestAdapterWithAPI runs the adapter over the real API handler: an unknown
// operation is a 404 with the Batch error shape, and the identity and the
// request id reach the job and the response.
func TestAdapterWithAPI(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := api.New(api.Config{Store: st, Account: model.Account{Region: "eu-west-1", ID: "123456789012"}, Identity: cloud.CallerIdentity, RequestID: cloud.RequestID})
	ad := cloud.Adapter{Handler: h}

	ev := edit(t, sampleEvent, func(m map[string]any) {
		m["rawPath"] = "/prod/v1/nosuchoperation"
		m["body"], m["isBase64Encoded"] = "{}", false
	})
	resp := invoke(t, ad.Handle, ev)
	if resp.StatusCode != http.StatusNotFound || resp.Headers["X-Amzn-Errortype"] != "UnknownOperationException" || resp.Headers["X-Amzn-Requestid"] != "Ab1CdEfGhIjKlMn=" {
		t.Errorf("unknown operation: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}

	call := func(op string, body any) events.APIGatewayV2HTTPResponse {
		b, _ := json.Marshal(body)
		return invoke(t, ad.Handle, edit(t, sampleEvent, func(m map[string]any) {
			m["rawPath"] = "/prod/v1/" + op
			m["body"] = base64.StdEncoding.EncodeToString(b)
			m["headers"].(map[string]any)["content-type"] = "application/json"
		}))
	}
	if r := call("createserviceenvironment", map[string]any{
		"serviceEnvironmentName": "env", "serviceEnvironmentType": "SAGEMAKER_TRAINING",
		"capacityLimits": []any{map[string]any{"capacityUnit": "NUM_INSTANCES", "maxCapacity": 2}},
	}); r.StatusCode != 200 {
		t.Fatalf("create environment: %d %s", r.StatusCode, r.Body)
	}
	if r := call("createjobqueue", map[string]any{
		"jobQueueName": "q", "priority": 1, "jobQueueType": "SAGEMAKER_TRAINING",
		"serviceEnvironmentOrder": []any{map[string]any{"order": 1, "serviceEnvironment": "env"}},
	}); r.StatusCode != 200 || !strings.Contains(r.Body, "arn:aws:batch:eu-west-1:123456789012:job-queue/q") {
		t.Fatalf("create queue: %d %s", r.StatusCode, r.Body)
	}
	r := call("submitservicejob", map[string]any{
		"jobName": "j", "jobQueue": "q", "serviceJobType": "SAGEMAKER_TRAINING",
		"serviceRequestPayload": `{"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":1,"VolumeSizeInGB":1}}`,
	})
	var ref struct{ JobID string }
	if err := json.Unmarshal([]byte(r.Body), &ref); r.StatusCode != 200 || err != nil {
		t.Fatalf("submit: %d %s", r.StatusCode, r.Body)
	}
	r = call("describeservicejob", map[string]any{"jobId": ref.JobID})
	var d struct{ SubmittedBy string }
	json.Unmarshal([]byte(r.Body), &d)
	if d.SubmittedBy != "arn:aws:iam::123456789012:user/alice" {
		t.Errorf("submittedBy %q: %s", d.SubmittedBy, r.Body)
	}
}
