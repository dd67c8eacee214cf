package bolt

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Retention: finished jobs (SUCCEEDED, FAILED) are deleted once their last
// change is older than the retention, as DynamoDB's TTL deletes them in the
// cloud (docs/dynamodb.md), so that a long-running server's file stops
// growing: bbolt reuses the pages of deleted records. CompactFile gives the
// space back to the file system after a large deletion.

// Per call of DeleteFinished: jobs deleted (one transaction, shared with the
// writes grouped with it) and index entries looked at.
const (
	deleteBatch = 500
	expireScan  = 5_000
)

// finishedStatuses in the byte order of their index prefixes, the order
// DeleteFinished walks them in.
var finishedStatuses = []model.JobStatus{model.StatusFailed, model.StatusSucceeded}

// DeleteFinished deletes up to 500 finished jobs whose last change
// (updatedAt) is before the epoch millisecond before: the record, its client
// token and its index entries. It walks the finished jobs oldest created
// first, from the position from (nil: the start), and returns how many it
// deleted and where to go on from; next is nil when no finished job created
// before `before` is left to look at. The retention loop calls it
// until next is nil, so that each call holds the writer briefly.
func (s *Store) DeleteFinished(ctx context.Context, before int64, from []byte) (deleted int, next []byte, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	err = s.writes.do(func(tx *bolt.Tx) error {
		deleted, next = 0, nil
		c := tx.Bucket(bucketByStatus).Cursor()
		scanned := 0
		var victims []*model.ServiceJob
		for _, st := range finishedStatuses {
			pre := statusPrefix(st)
			seek := pre
			if from != nil && bytes.Compare(from, pre) > 0 {
				if !bytes.HasPrefix(from, pre) {
					continue // from is past this status
				}
				seek = from
			}
			k, _ := c.Seek(seek)
			for ; k != nil && bytes.HasPrefix(k, pre); k, _ = c.Next() {
				pos := k[len(pre):]
				if len(pos) < 8 || decTime(pos) >= before {
					break // created after the cutoff: so is the rest of the prefix
				}
				if scanned == expireScan || len(victims) == deleteBatch {
					next = bytes.Clone(k)
					break
				}
				scanned++
				j, err := loadJob(tx, pos[8:])
				if err != nil {
					return fmt.Errorf("bolt: index entry without its job: %w", err)
				}
				if j.UpdatedAt < before && j.Status.Terminal() {
					victims = append(victims, j)
				}
			}
			if next != nil {
				break
			}
		}
		// Deleting while walking would move the cursor under us: delete after.
		for _, j := range victims {
			if err := deleteJob(tx, j); err != nil {
				return err
			}
		}
		deleted = len(victims)
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("bolt: delete finished jobs: %w", err)
	}
	return deleted, next, nil
}

// deleteJob removes a job, its index entries and its client token.
func deleteJob(tx *bolt.Tx, j *model.ServiceJob) error {
	for _, e := range indexEntries(j) {
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return err
		}
	}
	if j.ClientToken != "" {
		tokens := tx.Bucket(bucketTokens)
		if id := tokens.Get([]byte(j.ClientToken)); bytes.Equal(id, []byte(j.JobID)) {
			if err := tokens.Delete([]byte(j.ClientToken)); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketJobs).Delete([]byte(j.JobID))
}
