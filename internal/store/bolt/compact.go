package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Compaction thresholds: a file is rewritten when at least half of it is
// free pages and it is at least minCompactSize. Below that the free pages
// are cheaper to keep (bbolt reuses them) than the rewrite.
var minCompactSize int64 = 64 << 20 // a variable for tests

const compactTxSize = 64 << 20 // bytes copied per transaction of the rewrite

// CompactFile gives the free space of the store file at path back to the
// file system when it makes up at least half of it: bbolt reuses the pages
// of deleted jobs but never shrinks its file, so after a large deletion
// (retention catching up with a backlog of finished jobs) only a rewrite
// does. It returns the file's size before and after, the same when it left
// the file alone. The file must not be open; it is rewritten beside itself
// and renamed over, so a crash leaves either the old file or the new one.
func CompactFile(path string) (before, after int64, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	before = st.Size()
	if before < minCompactSize {
		return before, before, nil
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		return before, before, fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	defer src.Close()
	if inUse, err := inUse(src); err != nil || inUse*2 > before {
		return before, before, err
	}
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return before, before, fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		dst.Close()
		os.Remove(tmp)
		return before, before, fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return before, before, fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	src.Close()
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return before, before, fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return before, before, fmt.Errorf("bolt: compact %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil {
		after = st.Size()
	}
	return before, after, nil
}

// inUse is the bytes of the file that hold data: below the high-water mark
// of its pages, and not free. bbolt grows its file ahead of its data, so
// what lies beyond the mark is free too.
func inUse(db *bolt.DB) (int64, error) {
	var size int64
	err := db.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	ds := db.Stats()
	return size - int64(ds.FreePageN+ds.PendingPageN)*int64(db.Info().PageSize), err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
