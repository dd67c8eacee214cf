// Package bolt is sagequeue's embedded store: the store.Store contract kept in
// one bbolt file under the data directory. It is the default of `sagequeue
// serve`, where a single process owns the queue and should need no database
// server. bbolt gives that process everything the contract needs: serializable
// read-write transactions (so a version check and the write it guards are
// atomic), fsync'd commits (so a returned call is durable), and keys kept in
// byte order (so every query of the contract is a range scan of an index).
//
// # Key layout
//
// Records are JSON, encoded with the model types' own tags, in one bucket per
// kind. Indexes are further buckets whose keys alone carry what a query
// needs; "0" below is a NUL byte, which no queue ARN, share identifier or job
// status contains, and T is createdAt as 8 bytes big-endian with the sign bit
// flipped, so that byte order is time order.
//
//	jobs     jobId                              -> job JSON
//	tokens   clientToken                        -> jobId
//	byqs     queue 0 status 0 T jobId           -> ""     ListJobs with a queue
//	bys      status 0 T jobId                   -> ""     ListJobs across queues
//	byqss    queue 0 share 0 status 0 T jobId   -> ""     ListJobs with a queue and a share (jobs with a share only)
//	heads    queue 0 share 0 DispatchKey        -> jobId  RUNNABLE jobs in dispatch order
//	lines    queue 0 share                      -> count of RUNNABLE jobs, 8 bytes big-endian; gone at 0
//	usage    queue 0 share                      -> model.ShareUsage JSON
//	leases   name                               -> lease JSON (holder, token, expiry)
//	environments, policies, queues   name       -> record JSON
//	meta     "schema"                           -> layout version
//
// The list indexes end in "T jobId", so the keys under one prefix sort oldest
// first; ListJobs walks them backwards, which yields exactly the contract's
// order (createdAt, then jobId, descending) whatever the length of the job
// IDs, and merges the prefixes of several statuses by that suffix. Heads
// walks the heads bucket forwards: store.DispatchKey is fixed-width text
// whose byte order is dispatch order, so a pass reads the heads of a line and
// nothing behind them, and Lines reads one small counter per line.
//
// # Writes
//
// PutJob, UpdateJob and AddUsage are group-committed (group.go): concurrent
// writers share one transaction and one fsync, with no delay for a lone
// writer. A grouped function may run more than once; ours read their inputs
// without changing them and recompute their result on every run. Each checks
// its preconditions (token, version, fence) before it writes anything, and
// reports a failed one through its result rather than as the function's
// error: it has written nothing, so the group can commit the other callers'
// work instead of rolling back and re-running it.
package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sagequeue/sagequeue/internal/store"
)

// openTimeout bounds how long Open waits for the file lock that another
// process may hold.
const openTimeout = time.Second

// initialMmapSize is how much address space the file is mapped with at
// first. bbolt maps the file once more whenever it outgrows the mapping, and
// must wait for every read transaction to end to do it, while new ones wait
// for it: lists and passes then stall behind a growing file. Address space
// costs nothing until it is touched (resident memory counts only the pages
// read), so a 64-bit process maps generously; a 32-bit one cannot.
const initialMmapSize = 16 << 30 * (strconv.IntSize / 64)

// schemaVersion is the key layout this package reads and writes.
const schemaVersion = 1

// Bucket names.
var (
	bucketJobs         = []byte("jobs")
	bucketTokens       = []byte("tokens")
	bucketByQueue      = []byte("byqs")
	bucketByStatus     = []byte("bys")
	bucketByShare      = []byte("byqss")
	bucketHeads        = []byte("heads")
	bucketLines        = []byte("lines")
	bucketUsage        = []byte("usage")
	bucketLeases       = []byte("leases")
	bucketEnvironments = []byte("environments")
	bucketPolicies     = []byte("policies")
	bucketQueues       = []byte("queues")
	bucketQuotaShares  = []byte("quotashares")
	bucketMeta         = []byte("meta")
	keySchema          = []byte("schema")
)

func allBuckets() [][]byte {
	return [][]byte{
		bucketJobs, bucketTokens, bucketByQueue, bucketByStatus, bucketByShare,
		bucketHeads, bucketLines, bucketUsage, bucketLeases,
		bucketEnvironments, bucketPolicies, bucketQueues, bucketQuotaShares, bucketMeta,
	}
}

// Store is a store.Store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db         *bolt.DB
	writes     *committer // group commit of job and usage writes
	scanBudget int        // see defaultScanBudget
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its directory when missing) the store file at
// path, e.g. <data-dir>/sagequeue.db. A file is used by one process at a
// time: when another holds it, Open fails after a second instead of waiting.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create data directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, InitialMmapSize: initialMmapSize})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: the file is locked by another process (is another sagequeue running on this data directory?): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return &Store{db: db, writes: newCommitter(db), scanBudget: defaultScanBudget}, nil
}

// initBuckets creates the buckets of a new file and refuses a file written
// with a layout this package does not know.
func initBuckets(tx *bolt.Tx) error {
	for _, name := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keySchema); v != nil {
		if len(v) != 8 || binary.BigEndian.Uint64(v) != schemaVersion {
			return fmt.Errorf("unsupported store layout %x (this build reads version %d)", v, schemaVersion)
		}
		return nil
	}
	return meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
}

// Close closes the file. Calls in flight finish first.
func (s *Store) Close() error {
	s.writes.close()
	return s.db.Close()
}
