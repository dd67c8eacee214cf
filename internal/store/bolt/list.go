package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Page sizes of ListJobs.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// defaultScanBudget bounds the index entries one ListJobs page examines.
// A name filter is checked on each job read, so a rare name in a long queue
// could otherwise hold one read transaction (and, while the file must grow,
// every writer) for as long as reading the whole queue takes. A page that
// runs out of budget ends early, possibly short or empty, with a Next cursor
// after the last entry examined.
const defaultScanBudget = 10_000

// ListJobs returns jobs matching q, newest first, a page at a time (see
// store.JobStore). It reads one list index (see the package comment): byqss
// when q names a queue and a share, byqs when it names a queue, bys
// otherwise; one prefix per wanted status, merged newest first. CreatedAfter
// and CreatedBefore bound the scan; name, and share without a queue, are
// checked on each job read.
func (s *Store) ListJobs(ctx context.Context, q store.JobQuery) (store.JobPage, error) {
	if err := ctx.Err(); err != nil {
		return store.JobPage{}, err
	}
	p := planQuery(q)
	var bound []byte
	if q.Cursor != "" {
		pos, err := p.decodeCursor(q.Cursor)
		if err != nil {
			return store.JobPage{}, err
		}
		bound = pos
	}
	if q.CreatedBefore != 0 {
		if b := encTime(q.CreatedBefore); bound == nil || bytes.Compare(b, bound) < 0 {
			bound = b
		}
	}
	var page store.JobPage
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		page, err = p.run(tx, bound, clampLimit(q.Limit), s.scanBudget)
		return err
	})
	return page, err
}

func clampLimit(n int) int {
	switch {
	case n == 0:
		return defaultLimit
	case n < 1:
		return 1
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// plan is how ListJobs answers one query.
type plan struct {
	q        store.JobQuery
	bucket   []byte
	prefixes [][]byte
	share    string // checked on each job; "" when the index filters it
	shape    uint64 // hash of the query, tagging its cursors
}

func planQuery(q store.JobQuery) plan {
	statuses := store.WantedStatuses(q.Statuses)
	p := plan{q: q, shape: store.QueryShape(q, statuses)}
	var prefixOf func(model.JobStatus) []byte
	switch {
	case q.Queue != "" && q.Share != "":
		p.bucket = bucketByShare
		prefixOf = func(st model.JobStatus) []byte { return sharePrefix(q.Queue, q.Share, st) }
	case q.Queue != "":
		p.bucket = bucketByQueue
		prefixOf = func(st model.JobStatus) []byte { return queuePrefix(q.Queue, st) }
	default:
		p.bucket, p.share = bucketByStatus, q.Share
		prefixOf = statusPrefix
	}
	for _, st := range statuses {
		p.prefixes = append(p.prefixes, prefixOf(st))
	}
	return p
}

// A cursor is base64url of: cursorTag, the query's shape (8 bytes), and the
// order key (T jobId) of the last job returned.
const cursorTag = "J1"

func (p plan) encodeCursor(pos []byte) string {
	b := append([]byte(cursorTag), binary.BigEndian.AppendUint64(nil, p.shape)...)
	return base64.RawURLEncoding.EncodeToString(append(b, pos...))
}

func (p plan) decodeCursor(c string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, fmt.Errorf("cursor %q: %w", c, store.ErrBadCursor)
	}
	head := len(cursorTag) + 8
	if len(b) <= head+8 || string(b[:len(cursorTag)]) != cursorTag {
		return nil, fmt.Errorf("cursor %q: %w", c, store.ErrBadCursor)
	}
	if binary.BigEndian.Uint64(b[len(cursorTag):head]) != p.shape {
		return nil, fmt.Errorf("cursor %q is for another query: %w", c, store.ErrBadCursor)
	}
	return b[head:], nil
}

// run reads one page: the jobs whose order key is below bound (nil: no
// bound), newest first, that match the checks the index cannot make. It
// examines at most budget index entries.
func (p plan) run(tx *bolt.Tx, bound []byte, limit, budget int) (store.JobPage, error) {
	page := store.JobPage{Jobs: []*model.ServiceJob{}}
	if len(p.prefixes) == 0 {
		return page, nil
	}
	b := tx.Bucket(p.bucket)
	ss := make([]*stream, 0, len(p.prefixes))
	for _, pre := range p.prefixes {
		ss = append(ss, newStream(b, pre, bound, p.q.CreatedAfter))
	}
	var last []byte
	for scanned := 1; ; scanned++ {
		pos := nextNewest(ss)
		if pos == nil {
			return page, nil
		}
		job, err := loadListed(tx, pos[8:])
		if err != nil {
			return store.JobPage{}, fmt.Errorf("bolt: index entry without its job: %w", err)
		}
		if !p.matches(job) {
			if scanned >= budget {
				page.Next = p.encodeCursor(pos)
				return page, nil
			}
			continue
		}
		if len(page.Jobs) == limit {
			// A further match exists: the page has a next one.
			page.Next = p.encodeCursor(last)
			return page, nil
		}
		page.Jobs = append(page.Jobs, job)
		last = pos
	}
}

// matches checks what the index does not: the name and, across queues, the
// share.
func (p plan) matches(j *model.ServiceJob) bool {
	if p.share != "" && j.ShareIdentifier != p.share {
		return false
	}
	switch {
	case p.q.Name == "":
		return true
	case p.q.NamePrefix:
		return strings.HasPrefix(strings.ToLower(j.JobName), strings.ToLower(p.q.Name))
	default:
		return strings.EqualFold(j.JobName, p.q.Name)
	}
}

// nextNewest takes the largest order key among the streams, advances its
// stream and returns a copy of it; nil when all are done.
func nextNewest(ss []*stream) []byte {
	var top *stream
	for _, s := range ss {
		if s.pos != nil && (top == nil || bytes.Compare(s.pos, top.pos) > 0) {
			top = s
		}
	}
	if top == nil {
		return nil
	}
	pos := bytes.Clone(top.pos)
	top.prev()
	return pos
}

// stream walks the keys under one prefix backwards (newest first), exposing
// the order key (T jobId) of the current one in pos, nil when done.
type stream struct {
	c      *bolt.Cursor
	prefix []byte
	after  int64 // stop at createdAt <= after, when not 0
	pos    []byte
}

// newStream positions a stream on the newest key under prefix whose order
// key is below bound (nil: any).
func newStream(b *bolt.Bucket, pre, bound []byte, after int64) *stream {
	s := &stream{c: b.Cursor(), prefix: pre, after: after}
	var target []byte
	if bound != nil {
		target = concat(pre, bound)
	} else {
		target = prefixEnd(pre)
	}
	s.set(seekBefore(s.c, target))
	return s
}

func (s *stream) prev() {
	k, _ := s.c.Prev()
	s.set(k)
}

func (s *stream) set(k []byte) {
	s.pos = nil
	if k == nil || !bytes.HasPrefix(k, s.prefix) || len(k) < len(s.prefix)+8 {
		return
	}
	pos := k[len(s.prefix):]
	if s.after != 0 && decTime(pos) <= s.after {
		return
	}
	s.pos = pos
}

// seekBefore moves c to the largest key below target and returns it.
func seekBefore(c *bolt.Cursor, target []byte) []byte {
	k, _ := c.Seek(target)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	return k
}

// prefixEnd is the smallest key above every key starting with pre; pre ends
// with sep, so incrementing its last byte is enough.
func prefixEnd(pre []byte) []byte {
	end := bytes.Clone(pre)
	end[len(end)-1]++
	return end
}
