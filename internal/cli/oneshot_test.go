package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

func TestOneShotHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Connection")+" "+r.Header.Get("X-Amz-Target")+" "+string(body))
		mu.Unlock()
		switch r.URL.Path {
		case "/chunked":
			w.(http.Flusher).Flush() // no Content-Length: chunked
			io.WriteString(w, `{"a":`)
			w.(http.Flusher).Flush()
			io.WriteString(w, `1}`)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newOneShotHTTP()
	do := func(ctx context.Context, path, body string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "op")
		return c.Do(req)
	}
	read := func(resp *http.Response) string {
		t.Helper()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// A request and its response, the connection closed with them.
	resp, err := do(t.Context(), "/v1/op", `{"x":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if b := read(resp); resp.StatusCode != 200 || b != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("response %d %q", resp.StatusCode, b)
	}
	resp, err = do(t.Context(), "/chunked", "")
	if err != nil {
		t.Fatal(err)
	}
	if b := read(resp); b != `{"a":1}` {
		t.Errorf("chunked response %q", b)
	}
	mu.Lock()
	if len(got) != 2 || got[0] != `POST /v1/op close op {"x":1}` {
		t.Errorf("the server got %q", got)
	}
	mu.Unlock()

	// Cancellation and deadlines end a request that waits.
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := do(ctx, "/slow", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := do(ctx, "/slow", ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}

	// Nothing listening: the dial's error, as net/http gives it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", nil)
	var opErr *net.OpError
	if _, err := c.Do(req); !errors.As(err, &opErr) {
		t.Errorf("refused: %v (%T), want a *net.OpError", err, err)
	}
}

// TestOneShotHTTPProxy: a request that a proxy variable sends through a
// proxy goes through the SDK's own client, which knows proxies.
func TestOneShotHTTPProxy(t *testing.T) {
	var proxied string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied = r.URL.String() // a proxy gets the absolute URL
		io.WriteString(w, "{}")
	}))
	defer proxy.Close()
	u, _ := url.Parse(proxy.URL)
	c := newOneShotHTTP()
	c.proxy = func(*http.Request) (*url.URL, error) { return u, nil }
	c.fallback = func() *awshttp.BuildableClient {
		return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.Proxy = http.ProxyURL(u) })
	}
	req, _ := http.NewRequest(http.MethodPost, "http://sagequeue.internal.example:8642/v1/describejobqueues", strings.NewReader("{}"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if proxied != "http://sagequeue.internal.example:8642/v1/describejobqueues" {
		t.Errorf("the proxy got %q", proxied)
	}
}
