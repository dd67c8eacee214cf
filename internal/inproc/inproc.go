// Package inproc lets an AWS SDK client talk to an http.Handler in the same
// process, without a listener: Client is an HTTP client whose requests the
// handler serves directly. sagequeue uses it where one of its own parts is
// the other end of an AWS protocol — the engine and the local SageMaker
// endpoint in `sagequeue serve`, the configuration resource and the Batch
// API handler in the cloud — so that nothing has to listen on a port that
// others could reach.
package inproc

import (
	"net/http"
	"net/http/httptest"
)

// Client serves every request with Handler. It implements the HTTPClient
// interface of the AWS SDK for Go v2 (Do), and RoundTrip, so that it can
// be the Transport of a net/http Client too.
//
// The handler's response is buffered whole before Do returns: the protocols
// it carries (awsJson, REST-JSON) answer with one bounded document, never a
// stream.
type Client struct {
	Handler http.Handler
}

// Do serves req with the handler and returns its response. The handler
// sees a copy of req completed as a server would complete it.
func (c Client) Do(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.RequestURI == "" {
		in.RequestURI = in.URL.RequestURI()
	}
	if in.Host == "" {
		in.Host = in.URL.Host
	}
	if in.RemoteAddr == "" {
		// A server always sets it; handlers that log the peer, or split
		// it into host and port, see where the request came from.
		in.RemoteAddr = "in-process:0"
	}
	w := httptest.NewRecorder()
	c.Handler.ServeHTTP(w, in)
	resp := w.Result()
	resp.Request = req
	return resp, nil
}

// RoundTrip is Do, for use as an http.RoundTripper.
func (c Client) RoundTrip(req *http.Request) (*http.Response, error) { return c.Do(req) }
