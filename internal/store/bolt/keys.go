package bolt

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// sep ends each text part of an index key (see the package comment).
const sep = 0

// signBit flips the sign of createdAt so that negative times sort first.
const signBit = 1 << 63

// prefix joins text parts, each followed by sep.
func prefix(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	k := make([]byte, 0, n)
	for _, p := range parts {
		k = append(k, p...)
		k = append(k, sep)
	}
	return k
}

// concat returns a new slice holding a then b.
func concat(a, b []byte) []byte {
	k := make([]byte, 0, len(a)+len(b))
	return append(append(k, a...), b...)
}

// encTime is createdAt as 8 bytes whose byte order is numeric order.
func encTime(ms int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(ms)^signBit)
}

// decTime reverses encTime on the first 8 bytes of b.
func decTime(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ signBit)
}

// orderKey is the suffix shared by every list index key: T jobId.
func orderKey(createdAt int64, jobID string) []byte {
	return append(encTime(createdAt), jobID...)
}

// queuePrefix, sharePrefix and statusPrefix are the prefixes of the three
// list indexes (byqs, byqss, bys).
func queuePrefix(queue string, st model.JobStatus) []byte { return prefix(queue, string(st)) }

func sharePrefix(queue, share string, st model.JobStatus) []byte {
	return prefix(queue, share, string(st))
}

func statusPrefix(st model.JobStatus) []byte { return prefix(string(st)) }

// lineKey keys a line's counter and a share's usage record: queue 0 share.
func lineKey(queue, share string) []byte {
	return append(prefix(queue), share...)
}

// headsPrefix is the prefix of one line in the heads bucket.
func headsPrefix(queue, share string) []byte { return prefix(queue, share) }

// appendFill is how full bbolt fills a page before it splits it, for the
// buckets whose keys mostly grow: the jobs (keyed by time-ordered UUIDv7)
// and the indexes (whose keys end in the creation time or dispatch order).
// bbolt's default of half suits random keys; on keys that grow it leaves
// every page half empty, and the file twice as large as its data.
const appendFill = 0.9

// writable returns a bucket of tx to write to, filled as its keys suit.
func writable(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	switch string(name) {
	case string(bucketJobs), string(bucketByQueue), string(bucketByStatus), string(bucketByShare), string(bucketHeads):
		b.FillPercent = appendFill
	}
	return b
}

// entry is one index key a job has, with its value.
type entry struct {
	bucket []byte
	key    []byte
	value  []byte
}

// indexEntries lists every index key of a job in its current state.
func indexEntries(j *model.ServiceJob) []entry {
	ok := orderKey(j.CreatedAt, j.JobID)
	out := []entry{
		{bucket: bucketByQueue, key: concat(queuePrefix(j.JobQueue, j.Status), ok)},
		{bucket: bucketByStatus, key: concat(statusPrefix(j.Status), ok)},
	}
	if j.ShareIdentifier != "" {
		out = append(out, entry{bucket: bucketByShare, key: concat(sharePrefix(j.JobQueue, j.ShareIdentifier, j.Status), ok)})
	}
	if j.Status == model.StatusRunnable {
		key := append(headsPrefix(j.JobQueue, j.ShareIdentifier), store.DispatchKey(j)...)
		out = append(out, entry{bucket: bucketHeads, key: key, value: []byte(j.JobID)})
	}
	return out
}

// checkJob refuses a job that the indexes could not hold: no ID, an unknown
// status, or a NUL in a key part.
func checkJob(j *model.ServiceJob) error {
	if j.JobID == "" {
		return fmt.Errorf("bolt: job has no jobId")
	}
	if !j.Status.Valid() {
		return fmt.Errorf("bolt: job %s: unknown status %q", j.JobID, j.Status)
	}
	for _, part := range []string{j.JobID, j.JobQueue, j.ShareIdentifier, string(j.Status)} {
		if strings.IndexByte(part, sep) >= 0 {
			return fmt.Errorf("bolt: job %q: jobId, jobQueue, shareIdentifier and status must not contain NUL", j.JobID)
		}
	}
	return nil
}
