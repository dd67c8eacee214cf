// Package servertest runs `sagequeue serve` in-process for the tests of
// other packages: on a free loopback port with fast ticks, stopped (with
// every training job it started) when the test ends.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/server"
)

// Run starts server.Run with o and returns the address it serves on once
// it serves and its configuration is applied. Unset, o.Listen is a free
// loopback port, o.Tick 50ms, o.StopGrace 1s and o.Logger discards; jobs
// never outlive the test (o.StopJobsOnExit), so none writes into a test
// directory as it is removed.
func Run(t testing.TB, o server.Options) string {
	t.Helper()
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Tick == 0 {
		o.Tick = 50 * time.Millisecond
	}
	if o.StopGrace == 0 {
		o.StopGrace = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.StopJobsOnExit = true
	ready := make(chan string, 1)
	o.Ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start in 30s")
	}
	return ""
}
