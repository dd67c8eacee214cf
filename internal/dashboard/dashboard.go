// Package dashboard is sagequeue's web dashboard: a small single-page app in
// plain HTML, CSS and JavaScript (no framework, nothing loaded from
// elsewhere, so it works offline), embedded in the binary. The API handler
// (internal/api) serves it for GET requests outside /v1/, in `sagequeue
// serve` and behind API Gateway alike; `sagequeue dashboard` serves it on a
// local port and forwards the app's API calls to a deployment, signed.
//
// The app reads everything through the API of the same origin: the Batch
// operations (DescribeServiceJob, GetJobQueueSnapshot, ...) and the
// extension operations getdashboard, getutilization, searchservicejobs,
// getservicejoblogs and describetrainingplans (docs/api.md). It only reads:
// it changes nothing.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
)

//go:embed static
var static embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets are read and hashed on first use, not at start: every program that
// links this package pays for its init, and most never serve a file.
var assets = sync.OnceValue(load)

func load() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		out[strings.TrimPrefix(p, "static")] = asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("dashboard: reading the embedded files: " + err.Error())
	}
	return out
}

// contentSecurityPolicy lets the page load only its own files and talk only
// to its own origin; job names, payloads and log lines are shown as text.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ServeHTTP serves the app: / (and /index.html) is the page, the other
// files by name; any other path is 404. Views are addressed in the URL's
// fragment (/#/jobs/<id>), so the server needs no routes of its own.
func ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the dashboard is read with GET", http.StatusMethodNotAllowed)
		return
	}
	name := r.URL.Path
	if name == "/" {
		name = "/index.html"
	}
	a, ok := assets()[name]
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 not found: the sagequeue dashboard is at / and its API under /v1/\n"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	// Small files: revalidate every time, so a new binary's app is used at once.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if name == "/index.html" {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}

// CrossSite reports whether a request comes from a web page of another
// origin than the one it is sent to. A browser lets any page POST to any
// address (a "simple" request needs no preflight), and a local sagequeue
// runs what it is sent; SDKs and the CLI send no Origin, so refusing these
// turns away only other sites' pages, never the dashboard's own calls.
func CrossSite(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}

// Files is the dashboard as `sagequeue dashboard` needs it: its files and
// the cross-site check of its proxy.
type Files struct{}

func (Files) ServeHTTP(w http.ResponseWriter, r *http.Request) { ServeHTTP(w, r) }

// CrossSite is the package's CrossSite.
func (Files) CrossSite(r *http.Request) bool { return CrossSite(r) }

// Handler is ServeHTTP as an http.Handler.
func Handler() http.Handler { return http.HandlerFunc(ServeHTTP) }
