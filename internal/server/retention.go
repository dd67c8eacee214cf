package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

// sweepEvery is how often finished jobs past the retention are looked for.
const sweepEvery = time.Minute

// openStore opens the store of a data directory, first giving the file's
// free space back to the file system when most of it is free (after
// retention deleted a large backlog; see bolt.CompactFile).
func openStore(dataDir string, log *slog.Logger) (*bolt.Store, error) {
	path := filepath.Join(dataDir, "sagequeue.db")
	start := time.Now()
	before, after, err := bolt.CompactFile(path)
	if err != nil {
		return nil, err
	}
	if after != before {
		log.Info("compacted the store", "file", path, "before", before, "after", after, "took", time.Since(start).Round(time.Millisecond))
	}
	return bolt.Open(path)
}

// retain deletes the finished jobs whose last change is older than
// retention, at start and every sweepEvery, until ctx ends: the local
// counterpart of the DynamoDB TTL of the cloud. Each step is a short write
// (bolt.DeleteFinished), so submissions get in between.
func retain(ctx context.Context, st *bolt.Store, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		before := time.Now().Add(-retention).UnixMilli()
		total := 0
		var from []byte
		for ctx.Err() == nil {
			n, next, err := st.DeleteFinished(ctx, before, from)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("deleting finished jobs past the retention", "err", err)
				}
				break
			}
			total += n
			if next == nil {
				break
			}
			from = next
		}
		if total > 0 {
			log.Info("deleted finished jobs past the retention", "jobs", total, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
