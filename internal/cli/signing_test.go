package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/batch"
)

func TestSigningNameAndRegion(t *testing.T) {
	for _, tc := range []struct {
		endpoint, flag, env string
		name, region        string
	}{
		{"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", "", "", "execute-api", "eu-west-1"},
		{"https://a1b2c3d4e5.execute-api.us-gov-west-1.amazonaws.com/", "", "", "execute-api", "us-gov-west-1"},
		{"https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn", "", "", "execute-api", "cn-north-1"},
		{"https://sagequeue.example.com", "execute-api", "", "execute-api", ""},
		{"https://sagequeue.example.com", "", "execute-api", "execute-api", ""},
		{"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", "batch", "", "batch", "eu-west-1"},
		{"http://127.0.0.1:8642", "", "", "", ""},
		{"https://execute-api.eu-west-1.amazonaws.com.evil.example", "", "", "", ""},
		{EndpointAWS, "", "", "", ""},
	} {
		a := &App{Endpoint: tc.endpoint, SigningName: tc.flag, Getenv: func(k string) string {
			if k == "SAGEQUEUE_SIGNING_NAME" {
				return tc.env
			}
			return ""
		}}
		if name, region := a.signing(); name != tc.name || region != tc.region {
			t.Errorf("%s (flag %q, env %q): %q %q, want %q %q", tc.endpoint, tc.flag, tc.env, name, region, tc.name, tc.region)
		}
	}
}

// authServer answers every request with {} and keeps the Authorization
// headers.
type authServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
}

func newAuthServer(t *testing.T) *authServer {
	s := &authServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) last(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.auths) == 0 {
		t.Fatal("no request")
	}
	return s.auths[len(s.auths)-1]
}

func TestSignsForExecuteAPI(t *testing.T) {
	srv := newAuthServer(t)
	// Without credentials a signed endpoint is refused before any request.
	r := runCLI(t, srv.URL, "", "--signing-name", "execute-api", "--region", "eu-west-1", "env", "describe")
	wantCode(t, r, ExitUsage)
	if !strings.Contains(r.stderr, "checks SigV4 signatures (execute-api) and no AWS credentials were found") {
		t.Errorf("stderr %q", r.stderr)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIASIGNINGTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	// A custom domain names no region.
	r = runCLI(t, srv.URL, "", "--signing-name", "execute-api", "env", "describe")
	wantCode(t, r, ExitUsage)
	if !strings.Contains(r.stderr, "--region is required") {
		t.Errorf("stderr %q", r.stderr)
	}
	wantCode(t, runCLI(t, srv.URL, "", "--signing-name", "execute-api", "--region", "eu-west-1", "env", "describe"), ExitOK)
	if auth := srv.last(t); !strings.Contains(auth, "Credential=AKIASIGNINGTEST/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
		t.Errorf("Authorization %q: want a signature for execute-api in eu-west-1", auth)
	}
	// A sagequeue server is signed for as the Batch client does.
	wantCode(t, runCLI(t, srv.URL, "", "--region", "eu-west-1", "env", "describe"), ExitOK)
	if auth := srv.last(t); !strings.Contains(auth, "/eu-west-1/batch/aws4_request") {
		t.Errorf("Authorization %q: want the Batch client's signature", auth)
	}
}

// doer serves the Batch client's requests itself, keeping them.
type doer struct{ reqs []*http.Request }

func (d *doer) Do(r *http.Request) (*http.Response, error) {
	d.reqs = append(d.reqs, r)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte("{}"))), Request: r}, nil
}

// TestSigningFromHost checks the client built for an API Gateway endpoint:
// it signs for execute-api in the host's region, whatever region the AWS
// configuration names.
func TestSigningFromHost(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIASIGNINGTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	a := &App{Endpoint: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com", Getenv: func(string) string { return "" }}
	client, err := a.Batch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &doer{}
	if _, err := client.DescribeServiceEnvironments(context.Background(), &batch.DescribeServiceEnvironmentsInput{},
		func(o *batch.Options) { o.HTTPClient = d }); err != nil {
		t.Fatal(err)
	}
	req := d.reqs[0]
	if req.URL.Host != "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com" || req.URL.Path != "/v1/describeserviceenvironments" {
		t.Errorf("request to %s", req.URL)
	}
	if auth := req.Header.Get("Authorization"); !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
		t.Errorf("Authorization %q", auth)
	}
}
