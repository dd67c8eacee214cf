package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// PutJob stores a new job with Version 1 (see store.JobStore).
func (s *Store) PutJob(ctx context.Context, job *model.ServiceJob) (*model.ServiceJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if job == nil {
		return nil, fmt.Errorf("bolt: PutJob of a nil job")
	}
	if err := checkJob(job); err != nil {
		return nil, err
	}
	next := *job
	next.Version = 1
	data, err := json.Marshal(&next)
	if err != nil {
		return nil, fmt.Errorf("bolt: encode job %s: %w", next.JobID, err)
	}
	// Outcome of the last run of the grouped function.
	var existing []byte
	var refused error
	err = s.writes.do(func(tx *bolt.Tx) error {
		existing, refused = checkPut(tx, &next)
		if refused != nil {
			return nil // nothing written
		}
		return writeJob(tx, nil, &next, data)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: put job %s: %w", next.JobID, err)
	}
	if refused != nil {
		if existing == nil {
			return nil, refused
		}
		holder, err := decodeJob(existing)
		if err != nil {
			return nil, err
		}
		return holder, refused
	}
	return decodeJob(data)
}

// checkPut reads, without writing, whether j may be put: a known client token
// returns the job holding it; a known job ID is refused without a job.
func checkPut(tx *bolt.Tx, j *model.ServiceJob) (existing []byte, refused error) {
	jobs := tx.Bucket(bucketJobs)
	if j.ClientToken != "" {
		if id := tx.Bucket(bucketTokens).Get([]byte(j.ClientToken)); id != nil {
			v := jobs.Get(id)
			if v == nil {
				return nil, fmt.Errorf("bolt: client token %q names missing job %s", j.ClientToken, id)
			}
			return bytes.Clone(v), fmt.Errorf("client token %q already used by job %s: %w", j.ClientToken, id, store.ErrAlreadyExists)
		}
	}
	if jobs.Get([]byte(j.JobID)) != nil {
		return nil, fmt.Errorf("job %s: %w", j.JobID, store.ErrAlreadyExists)
	}
	return nil, nil
}

// GetJob returns a job or ErrNotFound.
func (s *Store) GetJob(ctx context.Context, jobID string) (*model.ServiceJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var job *model.ServiceJob
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		job, err = loadJob(tx, []byte(jobID))
		return err
	})
	return job, err
}

// UpdateJob writes job if the stored Version still equals job.Version and,
// with a fence, the lease still has fence.Token (see store.JobStore). The
// fields that never change (JobID, JobQueue, ShareIdentifier, CreatedAt,
// ClientToken, ServiceRequestPayload, RequestDigest) keep their stored values
// whatever job says, so the indexes always agree with the record.
func (s *Store) UpdateJob(ctx context.Context, job *model.ServiceJob, fence *store.Lease) (*model.ServiceJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if job == nil {
		return nil, fmt.Errorf("bolt: UpdateJob of a nil job")
	}
	if err := checkJob(job); err != nil {
		return nil, err
	}
	var data []byte
	var refused error
	err := s.writes.do(func(tx *bolt.Tx) error {
		var old, next *model.ServiceJob
		old, next, data, refused = checkUpdate(tx, job, fence)
		if refused != nil {
			return nil // nothing written
		}
		return writeJob(tx, old, next, data)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: update job %s: %w", job.JobID, err)
	}
	if refused != nil {
		return nil, refused
	}
	return decodeJob(data)
}

// checkUpdate reads, without writing, whether in may replace the stored job,
// and returns the stored job and the record to write (a copy of in with the
// stored identity and Version+1). It never changes in.
func checkUpdate(tx *bolt.Tx, in *model.ServiceJob, fence *store.Lease) (old, next *model.ServiceJob, data []byte, err error) {
	old, err = loadJob(tx, []byte(in.JobID))
	if err != nil {
		return nil, nil, nil, err
	}
	if fence != nil {
		if err := checkFence(tx, *fence); err != nil {
			return nil, nil, nil, fmt.Errorf("job %s: %w", in.JobID, err)
		}
	}
	if old.Version != in.Version {
		return nil, nil, nil, fmt.Errorf("job %s: stored version %d, update of version %d: %w", in.JobID, old.Version, in.Version, store.ErrConflict)
	}
	n := *in
	n.JobQueue, n.ShareIdentifier, n.CreatedAt, n.ClientToken = old.JobQueue, old.ShareIdentifier, old.CreatedAt, old.ClientToken
	n.ServiceRequestPayload, n.RequestDigest = old.ServiceRequestPayload, old.RequestDigest
	n.Version = old.Version + 1
	data, err = json.Marshal(&n)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("bolt: encode job %s: %w", n.JobID, err)
	}
	return old, &n, data, nil
}

// writeJob stores next (whose encoding is data) in place of old (nil for a
// new job) and moves every index entry that changed.
func writeJob(tx *bolt.Tx, old, next *model.ServiceJob, data []byte) error {
	id := []byte(next.JobID)
	if err := writable(tx, bucketJobs).Put(id, data); err != nil {
		return err
	}
	if old == nil && next.ClientToken != "" {
		if err := tx.Bucket(bucketTokens).Put([]byte(next.ClientToken), id); err != nil {
			return err
		}
	}
	if err := moveEntries(tx, old, next); err != nil {
		return err
	}
	return countLine(tx, old, next)
}

// moveEntries deletes the index entries old has and next lacks, and puts
// those next has and old lacks.
func moveEntries(tx *bolt.Tx, old, next *model.ServiceJob) error {
	var before []entry
	if old != nil {
		before = indexEntries(old)
	}
	after := indexEntries(next)
	for _, e := range before {
		if !hasEntry(after, e) {
			if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
				return err
			}
		}
	}
	for _, e := range after {
		if !hasEntry(before, e) {
			if err := writable(tx, e.bucket).Put(e.key, e.value); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasEntry(list []entry, e entry) bool {
	for _, x := range list {
		if bytes.Equal(x.bucket, e.bucket) && bytes.Equal(x.key, e.key) {
			return true
		}
	}
	return false
}

// countLine keeps the RUNNABLE counter of the job's line in step when the
// job enters or leaves RUNNABLE.
func countLine(tx *bolt.Tx, old, next *model.ServiceJob) error {
	was := old != nil && old.Status == model.StatusRunnable
	is := next.Status == model.StatusRunnable
	switch {
	case is && !was:
		return addToLine(tx, lineKey(next.JobQueue, next.ShareIdentifier), 1)
	case was && !is:
		return addToLine(tx, lineKey(next.JobQueue, next.ShareIdentifier), -1)
	}
	return nil
}

// addToLine adds delta to a line's counter, deleting the counter at 0.
func addToLine(tx *bolt.Tx, key []byte, delta int64) error {
	b := tx.Bucket(bucketLines)
	n := delta
	if v := b.Get(key); len(v) == 8 {
		n += int64(binary.BigEndian.Uint64(v))
	}
	if n <= 0 {
		return b.Delete(key)
	}
	return b.Put(key, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// loadJob reads and decodes a job, or returns ErrNotFound.
func loadJob(tx *bolt.Tx, id []byte) (*model.ServiceJob, error) {
	v := tx.Bucket(bucketJobs).Get(id)
	if v == nil {
		return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	return decodeJob(v)
}

// loadListed reads a job for a list or the heads of a line: without its
// payload, which store.JobStore lets those lack. The payload is the bulk of
// a job, and a page of a hundred jobs need not unescape and copy a hundred.
func loadListed(tx *bolt.Tx, id []byte) (*model.ServiceJob, error) {
	v := tx.Bucket(bucketJobs).Get(id)
	if v == nil {
		return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	var j struct {
		model.ServiceJob
		ServiceRequestPayload skipJSON `json:"serviceRequestPayload"`
	}
	if err := json.Unmarshal(v, &j); err != nil {
		return nil, fmt.Errorf("bolt: decode job: %w", err)
	}
	return &j.ServiceJob, nil
}

// skipJSON decodes any JSON value into nothing.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// decodeJob decodes a stored job into fresh memory: the result shares
// nothing with the store or with other callers.
func decodeJob(data []byte) (*model.ServiceJob, error) {
	var j model.ServiceJob
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("bolt: decode job: %w", err)
	}
	return &j, nil
}
