package cloud

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Adapter serves API Gateway HTTP API events (payload format 2.0) with an
// http.Handler: it turns the event into an *http.Request, runs the handler,
// and turns what the handler wrote into the response event. It is ours, not
// a proxy library, because it is small and the details matter to the Batch
// protocol: the request id, the stage prefix, the caller's identity.
type Adapter struct {
	Handler http.Handler
}

type requestContextKey struct{}

// RequestContext returns the API Gateway request context of a request the
// Adapter made.
func RequestContext(ctx context.Context) (*events.APIGatewayV2HTTPRequestContext, bool) {
	rc, ok := ctx.Value(requestContextKey{}).(*events.APIGatewayV2HTTPRequestContext)
	return rc, ok
}

// CallerIdentity is the api.Config.Identity of the cloud: the IAM principal
// API Gateway authenticated (IAM authorization), as its ARN; without one,
// "<account id>:<caller id>" or whichever of the two is known; "" for an
// unauthenticated request.
func CallerIdentity(r *http.Request) string {
	rc, ok := RequestContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.IAM == nil {
		return ""
	}
	iam := rc.Authorizer.IAM
	if iam.UserARN != "" {
		return iam.UserARN
	}
	var parts []string
	for _, p := range []string{iam.AccountID, iam.CallerID} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ":")
}

// RequestID is the api.Config.RequestID of the cloud: API Gateway's id of
// the request, so the caller, API Gateway's access logs and ours agree.
func RequestID(r *http.Request) string {
	if rc, ok := RequestContext(r.Context()); ok {
		return rc.RequestID
	}
	return ""
}

// Handle serves one event.
func (a Adapter) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := NewRequest(ctx, ev)
	if err != nil {
		// A request API Gateway should never send: answer it, do not fail
		// the invocation (which API Gateway would turn into a bare 500).
		return errorResponse(ev, http.StatusBadRequest, "ClientException", err.Error()), nil
	}
	w := newResponseWriter()
	a.Handler.ServeHTTP(w, req)
	return w.response(ev), nil
}

// NewRequest is the *http.Request an event stands for, with the event's
// request context in its context.
func NewRequest(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("request body: isBase64Encoded is set but the body is not base64: %v", err)
		}
		body = b
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	path = stripStage(path, ev.RequestContext.Stage)
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, fmt.Errorf("request path %q: %v", path, err)
	}
	u.RawQuery = ev.RawQueryString
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	rc := ev.RequestContext
	req, err := http.NewRequestWithContext(context.WithValue(ctx, requestContextKey{}, &rc), method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.RequestURI = u.RequestURI()
	for k, v := range ev.Headers {
		// Payload 2.0 joins repeated headers with commas, as HTTP allows.
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if len(ev.Cookies) > 0 {
		// ... and moves cookies out of the headers.
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = rc.DomainName
	}
	req.URL.Host = req.Host
	if p := rc.HTTP.Protocol; p != "" {
		if major, minor, ok := http.ParseHTTPVersion(p); ok {
			req.Proto, req.ProtoMajor, req.ProtoMinor = p, major, minor
		}
	}
	req.RemoteAddr = rc.HTTP.SourceIP
	req.ContentLength = int64(len(body))
	return req, nil
}

// stripStage removes a custom stage's name from the front of a path: API
// Gateway keeps it in rawPath, the routes below it do not have it. The
// $default stage is served at the root.
func stripStage(path, stage string) string {
	if stage == "" || stage == "$default" {
		return path
	}
	prefix := "/" + stage
	if path == prefix {
		return "/"
	}
	if rest, ok := strings.CutPrefix(path, prefix+"/"); ok {
		return "/" + rest
	}
	return path
}

// responseWriter collects what the handler writes.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseWriter() *responseWriter { return &responseWriter{header: http.Header{}} }

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *responseWriter) response(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	w.WriteHeader(http.StatusOK)
	out := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, vs := range w.header {
		if k == "Set-Cookie" {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		out.Headers[k] = strings.Join(vs, ",")
	}
	if id := ev.RequestContext.RequestID; id != "" {
		out.Headers["X-Amzn-Requestid"] = id
	}
	body := w.body.Bytes()
	if isText(w.header.Get("Content-Type"), body) {
		out.Body = string(body)
	} else {
		// API Gateway decodes it back to the bytes written.
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return out
}

// isText reports whether a body can travel as a JSON string unchanged.
func isText(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "json") || strings.HasSuffix(mt, "xml") ||
		strings.Contains(mt, "json-") || mt == "application/javascript"
}

func errorResponse(ev events.APIGatewayV2HTTPRequest, status int, kind, msg string) events.APIGatewayV2HTTPResponse {
	w := newResponseWriter()
	w.header.Set("X-Amzn-ErrorType", kind)
	w.header.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(&w.body).Encode(map[string]string{"__type": kind, "message": msg})
	return w.response(ev)
}
