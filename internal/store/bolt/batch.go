package bolt

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// UpdateJobs writes several jobs in one transaction, each as UpdateJob would
// (see store.JobStore): one fsync for the lot, and a refused job leaves the
// others written.
func (s *Store) UpdateJobs(ctx context.Context, jobs []*model.ServiceJob, fence *store.Lease) ([]*model.ServiceJob, []error) {
	stored, errs := make([]*model.ServiceJob, len(jobs)), make([]error, len(jobs))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return stored, errs
	}
	// Outcome of the last run of the batched function.
	var datas [][]byte
	err := s.writes.do(func(tx *bolt.Tx) error {
		datas = make([][]byte, len(jobs))
		seen := map[string]bool{}
		for i, j := range jobs {
			errs[i] = nil
			switch {
			case j == nil:
				errs[i] = fmt.Errorf("bolt: UpdateJobs of a nil job")
				continue
			case seen[j.JobID]:
				errs[i] = fmt.Errorf("job %s: named twice in one batch: %w", j.JobID, store.ErrConflict)
				continue
			}
			seen[j.JobID] = true
			if err := checkJob(j); err != nil {
				errs[i] = err
				continue
			}
			old, next, data, refused := checkUpdate(tx, j, fence)
			if refused != nil {
				errs[i] = refused
				continue
			}
			if err := writeJob(tx, old, next, data); err != nil {
				return err
			}
			datas[i] = data
		}
		return nil
	})
	for i := range jobs {
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("bolt: update jobs: %w", err)
		case errs[i] == nil:
			stored[i], errs[i] = decodeJob(datas[i])
		}
	}
	return stored, errs
}

// Submitted returns up to limit SUBMITTED jobs, oldest first: a forward walk
// of the status index's SUBMITTED prefix, whose keys end in createdAt and
// jobId.
func (s *Store) Submitted(ctx context.Context, limit int) ([]*model.ServiceJob, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	pre := statusPrefix(model.StatusSubmitted)
	return s.firstJobs(bucketByStatus, pre, limit, func(k, _ []byte) []byte { return k[len(pre)+8:] })
}

// CountSubmitted counts the SUBMITTED entries of the status index by queue.
// It reads every SUBMITTED job's record: cheap in a memory-mapped file, and
// jobs stay SUBMITTED only until the next pass.
func (s *Store) CountSubmitted(ctx context.Context) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pre := statusPrefix(model.StatusSubmitted)
	counts := map[string]int64{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketByStatus).Cursor()
		for k, _ := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
			j, err := loadListed(tx, k[len(pre)+8:])
			if err != nil {
				return err
			}
			counts[j.JobQueue]++
		}
		return nil
	})
	return counts, err
}
