package inproc_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/inproc"
)

func TestClientServesWithTheHandler(t *testing.T) {
	var seen *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", r.Header.Get("X-In"))
		w.WriteHeader(http.StatusTeapot)
		w.Write(append([]byte("got "), body...))
	})
	req, err := http.NewRequest(http.MethodPost, "http://sagequeue.in-process/v1/x?a=b", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-In", "42")
	resp, err := (&http.Client{Transport: inproc.Client{Handler: h}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || string(body) != "got hello" || resp.Header.Get("X-Echo") != "42" {
		t.Fatalf("response %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if seen.RequestURI != "/v1/x?a=b" || seen.Host != "sagequeue.in-process" || seen.RemoteAddr == "" {
		t.Fatalf("the handler saw RequestURI %q Host %q RemoteAddr %q", seen.RequestURI, seen.Host, seen.RemoteAddr)
	}
	if req.RequestURI != "" || req.RemoteAddr != "" {
		t.Fatalf("the caller's request was modified: %q %q", req.RequestURI, req.RemoteAddr)
	}
}

func TestClientHonoursACancelledContext(t *testing.T) {
	called := false
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/", nil)
	if _, err := (inproc.Client{Handler: h}).Do(req); err == nil || called {
		t.Fatalf("err %v, handler called %v", err, called)
	}
}
