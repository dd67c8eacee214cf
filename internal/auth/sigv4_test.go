package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const testFile = `
regions: [local, eu-west-1]
users:
  - {name: alice, accessKeyId: AKIAALICE0000000001, secret: alice-secret-0123456789, role: admin}
  - {name: bob, accessKeyId: AKIABOB00000000000001, secret: bob-secret-0123456789xy, role: user, queues: [research, team-*]}
`

func testKeys(t *testing.T) keyring {
	t.Helper()
	f, err := ParseFile([]byte(testFile))
	if err != nil {
		t.Fatal(err)
	}
	return keyring{File: f, internal: &User{Name: ServerUser, AccessKeyID: "SQSERVEINTERNAL00000", Secret: "internal-secret-0123456789", Role: RoleAdmin}}
}

// verifier is a real HTTP server that verifies what it receives, so that
// the requests are seen as Go's server presents them (Host and
// Content-Length outside the header map, a raw path).
type verifier struct {
	srv  *httptest.Server
	mu   sync.Mutex
	user *User
	err  *awsError
}

func newVerifier(t *testing.T, keys keyring, service string, now time.Time) *verifier {
	v := &verifier{}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u, e := verify(keys, r, body, service, now)
		v.mu.Lock()
		v.user, v.err = u, e
		v.mu.Unlock()
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *verifier) result() (*User, *awsError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.user, v.err
}

// signed is one request and how it is signed.
type signed struct {
	method, path, body string
	header             map[string]string
	key, secret        string
	service, region    string
	at                 time.Time
	// after changes the request once it is signed.
	after func(r *http.Request)
}

func (s signed) send(t *testing.T, v *verifier) (*User, *awsError) {
	t.Helper()
	if s.method == "" {
		s.method = http.MethodPost
	}
	req, err := http.NewRequest(s.method, v.srv.URL+s.path, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, val := range s.header {
		req.Header.Set(k, val)
	}
	if s.key != "" {
		sum := sha256.Sum256([]byte(s.body))
		err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret},
			req, hex.EncodeToString(sum[:]), s.service, s.region, s.at)
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.after != nil {
		s.after(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return v.result()
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	keys := testKeys(t)
	v := newVerifier(t, keys, "batch", now)
	alice := signed{path: "/v1/submitservicejob", body: `{"jobName":"a"}`, key: "AKIAALICE0000000001", secret: "alice-secret-0123456789", service: "batch", region: "local", at: now}
	with := func(change func(*signed)) signed {
		s := alice
		change(&s)
		return s
	}
	for name, tc := range map[string]struct {
		req      signed
		user     string // the verified user, "" when refused
		code     string
		status   int
		contains string
	}{
		"signed by alice":             {req: alice, user: "alice"},
		"another allowed region":      {req: with(func(s *signed) { s.region = "eu-west-1" }), user: "alice"},
		"14 minutes slow":             {req: with(func(s *signed) { s.at = now.Add(-14 * time.Minute) }), user: "alice"},
		"14 minutes fast":             {req: with(func(s *signed) { s.at = now.Add(14 * time.Minute) }), user: "alice"},
		"an empty body":               {req: with(func(s *signed) { s.body = "" }), user: "alice"},
		"serve's own key":             {req: with(func(s *signed) { s.key, s.secret = "SQSERVEINTERNAL00000", "internal-secret-0123456789" }), user: ServerUser},
		"a query and an escaped path": {req: with(func(s *signed) { s.path = "/v1/a%20b/c%2Fd?z=1&a=x%20y&a=b&a-b=c&e=" }), user: "alice"},
		"headers with runs of spaces": {req: with(func(s *signed) { s.header = map[string]string{"X-Amz-Meta-Note": "  two   spaces  here "} }), user: "alice"},
		"a matching content hash": {req: with(func(s *signed) {
			sum := sha256.Sum256([]byte(s.body))
			s.header = map[string]string{"X-Amz-Content-Sha256": hex.EncodeToString(sum[:])}
		}), user: "alice"},

		"unsigned": {req: with(func(s *signed) { s.key = "" }), code: "IncompleteSignatureException", status: 400},
		"unknown key": {req: with(func(s *signed) { s.key = "AKIANOBODY000000000" }),
			code: "UnrecognizedClientException", status: 403, contains: "security token included in the request is invalid"},
		"wrong secret": {req: with(func(s *signed) { s.secret = "bob-secret-0123456789xy" }),
			code: "InvalidSignatureException", status: 403, contains: "does not match the signature you provided"},
		"body changed after signing": {req: with(func(s *signed) {
			s.after = func(r *http.Request) {
				b := []byte(`{"jobName":"b"}`)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			}
		}), code: "InvalidSignatureException", status: 403, contains: "does not match the signature you provided"},
		"a header changed after signing": {req: with(func(s *signed) {
			s.after = func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }
		}), code: "InvalidSignatureException", status: 403, contains: "does not match"},
		"16 minutes slow": {req: with(func(s *signed) { s.at = now.Add(-16 * time.Minute) }),
			code: "InvalidSignatureException", status: 403, contains: "Signature expired: 20260314T145326Z is now earlier than 20260314T145426Z (20260314T150926Z - 15 min.)"},
		"16 minutes fast": {req: with(func(s *signed) { s.at = now.Add(16 * time.Minute) }),
			code: "InvalidSignatureException", status: 403, contains: "Signature not yet current"},
		"another service": {req: with(func(s *signed) { s.service = "sagemaker" }),
			code: "InvalidSignatureException", status: 403, contains: "Credential should be scoped to correct service: 'batch'."},
		"a region not allowed": {req: with(func(s *signed) { s.region = "us-east-1" }),
			code: "InvalidSignatureException", status: 403, contains: "Credential should be scoped to a valid region, not 'us-east-1'. This server takes requests signed for: local, eu-west-1."},
		"a session token": {req: with(func(s *signed) { s.header = map[string]string{"X-Amz-Security-Token": "FwoGZXIvYXdzE"} }),
			code: "UnrecognizedClientException", status: 403},
		"another algorithm": {req: with(func(s *signed) {
			s.after = func(r *http.Request) { r.Header.Set("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=x") }
		}), code: "IncompleteSignatureException", status: 400, contains: "Signature Version 4"},
		"no signature part": {req: with(func(s *signed) {
			s.after = func(r *http.Request) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			}
		}), code: "IncompleteSignatureException", status: 400, contains: "requires 'Signature' parameter"},
		"a date that is not signed": {req: with(func(s *signed) {
			s.after = func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-date", "", 1))
			}
		}), code: "InvalidSignatureException", status: 403, contains: "'x-amz-date' must be a signed header"},
		"a date changed after signing": {req: with(func(s *signed) {
			s.after = func(r *http.Request) { r.Header.Set("X-Amz-Date", now.Add(time.Minute).Format(amzDateFmt)) }
		}), code: "InvalidSignatureException", status: 403, contains: "does not match"},
		"a scope date of another day": {req: with(func(s *signed) {
			s.after = func(r *http.Request) { r.Header.Set("X-Amz-Date", now.Add(-24*time.Hour).Format(amzDateFmt)) }
		}), code: "InvalidSignatureException", status: 403, contains: "Date in Credential scope does not match"},
		"no date": {req: with(func(s *signed) {
			s.after = func(r *http.Request) { r.Header.Del("X-Amz-Date") }
		}), code: "IncompleteSignatureException", status: 400, contains: "'X-Amz-Date' or a 'Date' header"},
		"a content hash that does not match": {req: with(func(s *signed) {
			s.header = map[string]string{"X-Amz-Content-Sha256": strings.Repeat("0", 64)}
		}), code: "InvalidSignatureException", status: 403, contains: "'x-amz-content-sha256' header does not match"},
		"an unsigned payload": {req: with(func(s *signed) {
			s.header = map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}
		}), code: "InvalidSignatureException", status: 403, contains: "the payload must be signed"},
	} {
		t.Run(name, func(t *testing.T) {
			u, e := tc.req.send(t, v)
			if tc.user != "" {
				if e != nil || u == nil || u.Name != tc.user {
					t.Fatalf("got user %v, error %v; want %s", u, e, tc.user)
				}
				return
			}
			if e == nil {
				t.Fatalf("accepted (user %v); want %s", u, tc.code)
			}
			if e.code != tc.code || e.status != tc.status || !strings.Contains(e.msg, tc.contains) {
				t.Fatalf("got %d %s %q; want %d %s containing %q", e.status, e.code, e.msg, tc.status, tc.code, tc.contains)
			}
		})
	}
}

func TestAnyRegion(t *testing.T) {
	f, err := ParseFile([]byte(`{regions: ["*"], users: [{name: a, accessKeyId: AKIAAAAAAAAAAAAAAAAA, secret: aaaaaaaaaaaaaaaaaaaa, role: admin}]}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	v := newVerifier(t, keyring{File: f, internal: &User{AccessKeyID: "x"}}, "batch", now)
	u, e := signed{path: "/v1/x", key: "AKIAAAAAAAAAAAAAAAAA", secret: "aaaaaaaaaaaaaaaaaaaa", service: "batch", region: "ap-south-2", at: now}.send(t, v)
	if e != nil || u.Name != "a" {
		t.Fatalf("regions [*]: %v %v", u, e)
	}
}
