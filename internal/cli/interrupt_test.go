package cli

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestInterruptContext: once the handlers are installed, SIGINT cancels
// the context instead of ending the process; stop before the delay
// installs nothing.
func TestInterruptContext(t *testing.T) {
	ctx, stop, installed := interruptContext(context.Background(), 5*time.Millisecond)
	defer stop()
	select {
	case <-installed:
	case <-time.After(10 * time.Second):
		t.Fatal("the handlers were not installed after the delay")
	}
	if ctx.Err() != nil {
		t.Fatal("canceled before any signal")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGINT did not cancel the context")
	}

	ctx, stop, installed = interruptContext(context.Background(), time.Hour)
	stop()
	select {
	case <-installed:
		t.Fatal("handlers installed after stop")
	default:
	}
	if ctx.Err() == nil {
		t.Error("stop left the context alive")
	}
}
