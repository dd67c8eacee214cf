package server

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what the clients of `sagequeue serve` can hold. Every
// request of the API is short (a `logs -f` polls; nothing streams), so the
// read and write timeouts cut off only clients that stall, and idle
// keep-alive connections are closed before they can pile up: each holds a
// file descriptor, which the training processes need too.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers (10s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request (30s).
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its response (2m).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long (30s).
	IdleTimeout time.Duration
	// MaxConnections is the most connections served at once; more wait in
	// the listen queue until one closes. Default: a quarter of the open-file
	// limit, between 64 and 1024, so that the training processes and the
	// store keep descriptors however many clients connect.
	MaxConnections int
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, 30*time.Second)
	def(&l.WriteTimeout, 2*time.Minute)
	def(&l.IdleTimeout, 30*time.Second)
	if l.MaxConnections <= 0 {
		l.MaxConnections = min(max(openFileLimit()/4, 64), 1024)
	}
	return l
}

func newHTTPServer(l Limits, h http.Handler) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// listen opens the API's listener, which serves at most l.MaxConnections
// connections at once.
func listen(addr string, l Limits) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l = l.withDefaults()
	return &limitListener{Listener: ln, slots: make(chan struct{}, l.MaxConnections), done: make(chan struct{})}, nil
}

// limitListener accepts a connection only when one of its slots is free; a
// connection gives its slot back when it closes.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
