package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	for _, c := range []struct {
		method, path string
		code         int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html", `<script src="app.js" defer></script>`},
		{"GET", "/index.html", 200, "text/html", "<title>sagequeue</title>"},
		{"GET", "/app.js", 200, "text/javascript", "getdashboard"},
		{"GET", "/app.css", 200, "text/css", ":root"},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/app.js", 200, "text/javascript", ""},
		{"GET", "/static/app.js", 404, "text/plain", "the sagequeue dashboard is at /"},
		{"GET", "/../app.js", 404, "text/plain", ""},
		{"POST", "/", 405, "text/plain", "read with GET"},
	} {
		rec := httptest.NewRecorder()
		ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code || !strings.HasPrefix(rec.Header().Get("Content-Type"), c.ctype) || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s %s: %d %s %.80q", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
		if c.method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("HEAD %s has a body", c.path)
		}
	}
	rec := httptest.NewRecorder()
	ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestCrossSite(t *testing.T) {
	for _, c := range []struct {
		host    string
		headers map[string]string
		want    bool
	}{
		{"127.0.0.1:8642", nil, false},
		{"127.0.0.1:8642", map[string]string{"Origin": "http://127.0.0.1:8642", "Sec-Fetch-Site": "same-origin"}, false},
		{"API.example.com", map[string]string{"Origin": "https://api.example.com"}, false},
		{"127.0.0.1:8642", map[string]string{"Origin": "http://localhost:8642"}, true},
		{"127.0.0.1:8642", map[string]string{"Origin": "http://127.0.0.1:9999"}, true},
		{"127.0.0.1:8642", map[string]string{"Origin": "null"}, true},
		{"127.0.0.1:8642", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/x", nil)
		r.Host = c.host
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		if got := CrossSite(r); got != c.want {
			t.Errorf("Host %s, %v: CrossSite %v, want %v", c.host, c.headers, got, c.want)
		}
	}
}
