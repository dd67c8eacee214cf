package bolt

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// maxGroup bounds the writes one commit takes, so that a burst (a pass
// promoting thousands of jobs) holds the single writer for one bounded
// transaction at a time and submissions queued behind it get in between.
const maxGroup = 256

// committer is group commit for the store's job, usage and lease writes: one
// goroutine runs every write that is waiting in one read-write transaction
// and one commit (two fdatasyncs), and replies to each caller after the
// commit, so a returned write is durable.
//
// bbolt's own db.Batch waits a fixed delay for company before it commits,
// which a lone writer pays in full, and its batches are cut by that timer
// rather than by the disk: under load the batches that queue for the writer
// stay small. Here there is no delay: a write that finds the writer idle
// commits at once, and the writes that arrive while a commit is syncing
// share the next one, however many there are (up to maxGroup). The groups
// grow exactly as fast as the disk falls behind.
type committer struct {
	db *bolt.DB

	mu      sync.Mutex
	queue   []*groupCall
	closed  bool
	wake    chan struct{}
	stopped chan struct{}

	writes, commits atomic.Int64 // writes committed, and the commits that did it
}

type groupCall struct {
	fn   func(*bolt.Tx) error
	done chan error
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go c.run()
	return c
}

// do runs fn in a shared read-write transaction and returns once that
// transaction is committed. Like db.Batch, fn may run more than once (when
// another function of its group fails, the group is rolled back and run
// again without it), so it must not change anything outside tx; and an
// error it returns rolls back only its own group's try.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	call := &groupCall{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return bolterrors.ErrDatabaseNotOpen
	}
	c.queue = append(c.queue, call)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return <-call.done
}

// close lets the writes already queued commit, then stops the goroutine.
func (c *committer) close() {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if !already {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	for range c.wake {
		for {
			c.mu.Lock()
			n := min(len(c.queue), maxGroup)
			calls := c.queue[:n:n]
			c.queue = c.queue[n:]
			closed := c.closed
			c.mu.Unlock()
			if n == 0 {
				if closed {
					return
				}
				break
			}
			c.commit(calls)
		}
	}
}

// commit runs calls in one transaction. When one fails, its caller gets its
// error and the others run again in a new transaction without it.
func (c *committer) commit(calls []*groupCall) {
	for len(calls) > 0 {
		failed := -1
		var failure error
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, call := range calls {
				if err := safely(call.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if err == nil {
				c.writes.Add(int64(len(calls)))
				c.commits.Add(1)
			}
			for _, call := range calls {
				call.done <- err
			}
			return
		}
		calls[failed].done <- failure
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// errPanic wraps the panic of a write.
var errPanic = errors.New("bolt: panic in a write")

// safely runs fn, turning a panic into an error so that one bad write
// cannot take the committer, and every caller waiting on it, down.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return fn(tx)
}

// GroupStats returns how many job and usage writes the store has committed
// and in how many commits: their ratio is the size of the average group.
func (s *Store) GroupStats() (writes, commits int64) {
	return s.writes.writes.Load(), s.writes.commits.Load()
}
