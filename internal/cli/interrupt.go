package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// InterruptDelay is how long a command runs before Ctrl-C (or SIGTERM)
// cancels it gracefully instead of ending the process.
const InterruptDelay = 50 * time.Millisecond

// InterruptContext returns a context that Ctrl-C (SIGINT) or SIGTERM
// cancels, so that a command that waits can say what it leaves behind
// ("stopped waiting ...; the job goes on", exit code 6). A second signal
// ends the process as if nothing caught it.
//
// The handlers are installed only once the command has run for delay.
// Catching signals starts a goroutine and a locked thread of Go's signal
// machinery, about a fifteenth of a `sagequeue submit`'s CPU; a command
// that is done sooner does not pay it, and a Ctrl-C that early ends the
// process at once, which is all it could have done anyway.
func InterruptContext(parent context.Context, delay time.Duration) (context.Context, func()) {
	ctx, stop, _ := interruptContext(parent, delay)
	return ctx, stop
}

// interruptContext is InterruptContext; installed is closed once the
// handlers are.
func interruptContext(parent context.Context, delay time.Duration) (ctx context.Context, stop func(), installed <-chan struct{}) {
	ctx, cancel := context.WithCancel(parent)
	sig := make(chan os.Signal, 1)
	in := make(chan struct{})
	var mu sync.Mutex
	stopped := false
	t := time.AfterFunc(delay, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		close(in)
		go func() {
			select {
			case <-sig:
				signal.Stop(sig)
				cancel()
			case <-ctx.Done():
			}
		}()
	})
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
		signal.Stop(sig)
		cancel()
	}
	return ctx, stop, in
}
