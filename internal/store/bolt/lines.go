package bolt

import (
	"bytes"
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Lines returns the lines of a queue that hold RUNNABLE jobs, sorted by
// share. It reads the lines bucket only: one counter per line.
func (s *Store) Lines(ctx context.Context, queue string) ([]store.Line, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pre := prefix(queue)
	lines := []store.Line{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLines).Cursor()
		for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			if len(v) != 8 {
				continue
			}
			lines = append(lines, store.Line{
				Queue:    queue,
				Share:    string(k[len(pre):]),
				Runnable: int64(binary.BigEndian.Uint64(v)),
			})
		}
		return nil
	})
	return lines, err
}

// Heads returns up to limit RUNNABLE jobs of one line in dispatch order, and
// whether the line holds more. It reads limit+1 keys of the heads bucket and
// the limit jobs they name, never the rest of the line.
func (s *Store) Heads(ctx context.Context, queue, share string, limit int) ([]*model.ServiceJob, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	return s.firstJobs(bucketHeads, headsPrefix(queue, share), limit, func(_, v []byte) []byte { return v })
}

// firstJobs reads the first limit jobs of an index prefix, named by the
// entries' keys or values (id), and whether the prefix holds more.
func (s *Store) firstJobs(bucket, pre []byte, limit int, id func(k, v []byte) []byte) ([]*model.ServiceJob, bool, error) {
	jobs := []*model.ServiceJob{}
	more := false
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			if len(jobs) >= limit {
				more = true
				return nil
			}
			j, err := loadListed(tx, id(k, v))
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return jobs, more, nil
}
