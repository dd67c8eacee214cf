package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// oneShotHTTP is the Batch client's HTTP client for a plain-HTTP endpoint:
// each request on a connection of its own, written and read by the calling
// goroutine, closed with its response.
//
// A command makes one request or a few, in one process that then exits, so
// it gains nothing from net/http's Transport: its connection pool, and the
// three goroutines it runs per connection (dial, read loop, write loop),
// which wake the runtime's other threads; a twelfth of a `sagequeue submit`'s
// CPU. Commands that make many requests (a bulk submission, watch) pay one
// connection each, which a server on this machine or a LAN accepts in
// microseconds. HTTPS endpoints, and requests a proxy variable sends through
// a proxy, use the SDK's own client.
type oneShotHTTP struct {
	dialer net.Dialer
	// proxy says whether a request goes through a proxy
	// (http.ProxyFromEnvironment).
	proxy    func(*http.Request) (*url.URL, error)
	fallback func() *awshttp.BuildableClient
}

func newOneShotHTTP() *oneShotHTTP {
	return &oneShotHTTP{
		proxy:    http.ProxyFromEnvironment,
		fallback: sync.OnceValue(awshttp.NewBuildableClient),
	}
}

// A time in the past, to end a connection's reads and writes at once.
var longAgo = time.Unix(1, 0)

func (c *oneShotHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return c.fallback().Do(req)
	}
	if p, err := c.proxy(req); err != nil || p != nil {
		return c.fallback().Do(req)
	}
	ctx := req.Context()
	conn, err := c.dialer.DialContext(ctx, "tcp", hostPort(req.URL))
	if err != nil {
		return nil, err
	}
	// A request whose context ends (canceled, past its deadline) ends its
	// connection's reads and writes.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	// The request says the connection ends with it, as it does.
	out := *req
	out.Close = true
	bw := bufio.NewWriter(conn)
	if err := out.Write(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail(err)
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop, ctx: ctx}
	return resp, nil
}

// hostPort is the address to dial for u.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// connBody is a response's body, which owns the connection.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
	ctx  context.Context
	once sync.Once
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *connBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.stop()
		b.conn.Close()
	})
	return err
}
