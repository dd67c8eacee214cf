package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sagequeue/sagequeue/internal/store"
)

// holdWriter makes the committer busy with a write that returns only once
// n more writes are queued behind it, so that what happens next does not
// depend on how fast goroutines are scheduled. It returns once that write
// runs.
func holdWriter(t *testing.T, s *Store, n int) (done chan error) {
	t.Helper()
	done = make(chan error, 1)
	running := make(chan struct{})
	var once sync.Once
	go func() {
		done <- s.writes.do(func(*bolt.Tx) error {
			once.Do(func() { close(running) })
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				s.writes.mu.Lock()
				queued := len(s.writes.queue)
				s.writes.mu.Unlock()
				if queued >= n {
					return nil
				}
			}
			return fmt.Errorf("only some of %d writes queued within 30s", n)
		})
	}()
	<-running
	return done
}

// putMany puts jobs j0000..j<n-1> from n goroutines; wait waits for them.
func putMany(t *testing.T, s *Store, n int) (wait func()) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.PutJob(context.Background(), newJob(fmt.Sprintf("j%04d", i), queueA, "", t0+int64(i))); err != nil {
				t.Error(err)
			}
		})
	}
	return wg.Wait
}

// TestGroupCommit: writes that queue while a commit is under way share the
// next commit, however many they are, and each caller returns after it.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	const n = 100
	held := holdWriter(t, s, n)
	putMany(t, s, n)()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	writes, commits := s.GroupStats()
	if writes != n+1 || commits != 2 {
		t.Errorf("%d writes in %d commits, want %d in 2: the held one, then all the others", writes, commits, n+1)
	}
	page, err := s.ListJobs(ctx, store.JobQuery{Queue: queueA, Limit: 1000})
	if err != nil || len(page.Jobs) != n {
		t.Fatalf("%d jobs stored (%v), want %d", len(page.Jobs), err, n)
	}
}

// TestGroupCommitBounded: a burst larger than maxGroup commits in groups of
// at most maxGroup, so that one burst cannot hold the writer for long.
func TestGroupCommitBounded(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	n := 2*maxGroup + 10
	held := holdWriter(t, s, n)
	putMany(t, s, n)()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if writes, commits := s.GroupStats(); writes != int64(n)+1 || commits != 4 {
		t.Errorf("%d writes in %d commits, want %d in 4 (the held one, then groups of at most %d)", writes, commits, n+1, maxGroup)
	}
}

// TestGroupCommitFailure: a write that fails, or panics, in a group gets its
// own error and leaves nothing behind; the others of its group commit.
func TestGroupCommitFailure(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sagequeue.db"))
	const n = 10
	held := holdWriter(t, s, n)
	errBad := errors.New("bad write")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.writes.do(func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucketMeta).Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
					return err
				}
				switch i {
				case 3:
					return errBad
				case 7:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		switch {
		case i == 3 && !errors.Is(err, errBad):
			t.Errorf("write 3: %v, want its own error", err)
		case i == 7 && (err == nil || !errors.Is(err, errPanic)):
			t.Errorf("write 7 panicked: got %v", err)
		case i != 3 && i != 7 && err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := tx.Bucket(bucketMeta).Get(fmt.Appendf(nil, "k%d", i))
			if want := i != 3 && i != 7; (got != nil) != want {
				t.Errorf("key k%d stored: %v, want %v", i, got != nil, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCloseCommitsQueuedWrites: Close lets queued writes commit, and later
// ones are refused.
func TestCloseCommitsQueuedWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sagequeue.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	held := holdWriter(t, s, n)
	wait := putMany(t, s, n)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wait()
	if _, err := s.PutJob(ctx, newJob("late", queueA, "", t0)); !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		t.Errorf("PutJob after Close: %v", err)
	}
	s = open(t, path)
	page, err := s.ListJobs(ctx, store.JobQuery{Queue: queueA, Limit: 1000})
	if err != nil || len(page.Jobs) != n {
		t.Fatalf("%d jobs after reopening (%v), want %d", len(page.Jobs), err, n)
	}
}
