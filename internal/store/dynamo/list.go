package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Page sizes of ListJobs.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// defaultScanBudget bounds the items one ListJobs page evaluates. A selective
// filter (a rare name in a long queue) could otherwise read the whole queue
// in one call; a page that runs out of budget ends early, possibly short or
// empty, with a Next cursor after the last item evaluated.
const defaultScanBudget = 10_000

// ListJobs returns jobs matching q, newest first, a page at a time (see
// store.JobStore). It merges, newest first by order key, one stream per
// partition it must read:
//
//   - the wanted statuses that a collection keeps (SCHEDULED, STARTING and
//     RUNNING in ACTIVE; SUBMITTED in SUBMITTED): the collection's
//     partition, with ConsistentRead, so that the jobs holding capacity and
//     the jobs waiting to be promoted read their own writes;
//   - each other wanted status: its partition of byQueueStatus (with a
//     queue) or byStatus (without);
//   - a queue and no status: byQueue alone, which holds every job.
//
// CreatedAfter, CreatedBefore and the cursor bound the sort key; name and
// share are a FilterExpression on the attributes every source carries. The
// index entries are keys only: a page's jobs are then read from their META
// items with BatchGetItem, and an entry whose job has since changed status
// (the indexes lag writes) is left out.
func (s *Store) ListJobs(ctx context.Context, q store.JobQuery) (store.JobPage, error) {
	p := planQuery(q)
	hi := ""
	if q.CreatedBefore != 0 {
		hi = fmt.Sprintf("%013d", max(q.CreatedBefore, 0))
	}
	if q.Cursor != "" {
		pos, err := p.decodeCursor(q.Cursor)
		if err != nil {
			return store.JobPage{}, err
		}
		if hi == "" || pos < hi {
			hi = pos
		}
	}
	lo := ""
	if q.CreatedAfter != 0 {
		lo = fmt.Sprintf("%013d", min(max(q.CreatedAfter+1, 0), maxMillis+1))
	}
	page := store.JobPage{Jobs: []*model.ServiceJob{}}
	if len(p.sources) == 0 || (hi != "" && lo != "" && lo >= hi) {
		return page, nil
	}
	limit := clampLimit(q.Limit)
	m := newMerge(s, p.sources, false)
	m.lo, m.hi, m.budget = lo, hi, s.scanBudget
	entries, stop, err := m.run(ctx, limit+1)
	if err != nil {
		return store.JobPage{}, err
	}
	switch {
	case len(entries) > limit:
		entries = entries[:limit]
		page.Next = p.encodeCursor(entries[limit-1].ck)
	case stop != "":
		page.Next = p.encodeCursor(stop)
	}
	page.Jobs, err = s.resolve(ctx, entries)
	if err != nil {
		return store.JobPage{}, err
	}
	return page, nil
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

// listPlan is how ListJobs answers one query: the partitions to read.
type listPlan struct {
	sources []source
	shape   uint64 // hash of the query, tagging its cursors
}

// source is one partition ListJobs reads, and how.
type source struct {
	index      string // "" for the table (a collection: ACTIVE, SUBMITTED)
	pkAttr     string
	skAttr     string
	value      string          // the partition key
	status     model.JobStatus // of a status partition: an entry counts only while its job has it
	consistent bool
	direct     bool // the entries are the jobs (collections); else read from META
	filter     string
	names      map[string]string
	values     item
}

func planQuery(q store.JobQuery) listPlan {
	statuses := store.WantedStatuses(q.Statuses)
	p := listPlan{shape: store.QueryShape(q, statuses)}
	// The filters every source can apply.
	var conds []string
	names, values := map[string]string{}, item{}
	if q.Share != "" {
		names["#sh"], values[":sh"] = AttrShare, str(q.Share)
		conds = append(conds, "#sh = :sh")
	}
	if q.Name != "" {
		names["#nm"], values[":nm"] = AttrName, str(strings.ToLower(q.Name))
		if q.NamePrefix {
			conds = append(conds, "begins_with(#nm, :nm)")
		} else {
			conds = append(conds, "#nm = :nm")
		}
	}
	// An index partition is read as its Shards shards.
	index := func(name, pkAttr string, value func(k int) string, st model.JobStatus) []source {
		var out []source
		for k := range Shards {
			out = append(out, source{index: name, pkAttr: pkAttr, skAttr: AttrCK, value: value(k), status: st,
				filter: strings.Join(conds, " AND "), names: names, values: values})
		}
		return out
	}
	if q.Queue != "" && len(q.Statuses) == 0 {
		p.sources = index(IndexByQueue, AttrQueue, func(k int) string { return queueKey(q.Queue, k) }, "")
		return p
	}
	var groups []string // collections, in the order first wanted
	wanted := map[string][]model.JobStatus{}
	for _, st := range statuses {
		c := collection(st)
		switch {
		case c != "":
			if wanted[c] == nil {
				groups = append(groups, c)
			}
			wanted[c] = append(wanted[c], st)
		case q.Queue != "":
			p.sources = append(p.sources, index(IndexByQueueStatus, AttrQS, func(k int) string { return queueStatus(q.Queue, st, k) }, st)...)
		default:
			p.sources = append(p.sources, index(IndexByStatus, AttrStatus, func(k int) string { return statusKey(st, k) }, st)...)
		}
	}
	for _, c := range groups {
		src := source{pkAttr: AttrPK, skAttr: AttrSK, consistent: true, direct: true,
			names: maps.Clone(names), values: maps.Clone(values)}
		cconds := slices.Clone(conds)
		if sts := wanted[c]; len(sts) < len(collectionStatuses[c]) {
			var in []string
			for i, st := range sts {
				v := fmt.Sprintf(":s%d", i)
				src.values[v] = str(string(st))
				in = append(in, v)
			}
			src.names["#js"] = attrJS
			cconds = append(cconds, "#js IN ("+strings.Join(in, ", ")+")")
		}
		if q.Queue != "" {
			src.names["#jq"], src.values[":q"] = attrJQ, str(q.Queue)
			cconds = append(cconds, "#jq = :q")
		}
		src.filter = strings.Join(cconds, " AND ")
		for _, pk := range collectionPartitions(c) {
			src.value = pk
			p.sources = append(p.sources, src)
		}
	}
	return p
}

// collectionPartitions are the partitions of a collection: one for ACTIVE,
// Shards for SUBMITTED.
func collectionPartitions(c string) []string {
	if c != pkWaiting {
		return []string{c}
	}
	out := make([]string, Shards)
	for k := range Shards {
		out[k] = sharded(pkWaiting, k)
	}
	return out
}

// A cursor is base64url of: cursorTag, the query's shape (8 bytes), and the
// order key of the last job returned (or evaluated): the next page starts
// below it.
const cursorTag = "D1"

func (p listPlan) encodeCursor(ck string) string {
	b := append([]byte(cursorTag), binary.BigEndian.AppendUint64(nil, p.shape)...)
	return base64.RawURLEncoding.EncodeToString(append(b, ck...))
}

func (p listPlan) decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("cursor %q: %w", c, store.ErrBadCursor)
	}
	head := len(cursorTag) + 8
	if len(b) <= head || string(b[:len(cursorTag)]) != cursorTag || !validOrderKey(string(b[head:])) {
		return "", fmt.Errorf("cursor %q: %w", c, store.ErrBadCursor)
	}
	if binary.BigEndian.Uint64(b[len(cursorTag):head]) != p.shape {
		return "", fmt.Errorf("cursor %q is for another query: %w", c, store.ErrBadCursor)
	}
	return string(b[head:]), nil
}

func validOrderKey(ck string) bool {
	if len(ck) < 15 || ck[13] != '#' {
		return false
	}
	for _, c := range ck[:13] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// entry is one entry a stream read: its sort key (the order key of a
// list, the dispatch key of heads), the item (the job itself from a
// collection or the heads index, its index attributes from a list index)
// and its source.
type entry struct {
	ck  string
	it  item
	src *source
}

// stream reads one partition in the merge's order, a Query page at a time.
type stream struct {
	src      *source
	buf      []entry
	next     item   // ExclusiveStartKey of the next page
	frontier string // every key up to it (in the merge's order) has been evaluated; "" before the first page
	done     bool
}

// merge is the k-way merge of the streams of one read: the partitions of
// a list (newest first), or the shards of a line's heads or of the
// SUBMITTED collection (in ascending key order).
type merge struct {
	s       *Store
	asc     bool   // ascending sort key order; descending otherwise
	lo, hi  string // bounds of a list's order keys ("" for none)
	streams []*stream
	budget  int // items the remaining Query pages may evaluate
}

func newMerge(s *Store, sources []source, asc bool) *merge {
	m := &merge{s: s, asc: asc, budget: math.MaxInt}
	for i := range sources {
		m.streams = append(m.streams, &stream{src: &sources[i]})
	}
	return m
}

// before reports whether key a comes before key b in the merge's order.
func (m *merge) before(a, b string) bool {
	if m.asc {
		return a < b
	}
	return a > b
}

// earlier reports whether a stream with frontier a may hold entries that
// come before those of one with frontier b; "" (nothing read yet) comes
// before everything.
func (m *merge) earlier(a, b string) bool {
	return b != "" && (a == "" || m.before(a, b))
}

// run returns up to n entries in the merge's order. When it stops early
// for lack of budget it returns stop: the key after which the next page
// starts (every key up to it has been evaluated in every stream).
func (m *merge) run(ctx context.Context, n int) (out []entry, stop string, err error) {
	if err := m.prefetch(ctx, n); err != nil {
		return nil, "", err
	}
	for len(out) < n {
		// The first buffered entry, and the stream (not done, nothing
		// buffered) whose unread entries could come before it.
		var best, blocked *stream
		for _, st := range m.streams {
			switch {
			case len(st.buf) > 0:
				if best == nil || m.before(st.buf[0].ck, best.buf[0].ck) {
					best = st
				}
			case !st.done:
				if blocked == nil || m.earlier(st.frontier, blocked.frontier) {
					blocked = st
				}
			}
		}
		if blocked != nil && (best == nil || blocked.frontier == "" || m.before(blocked.frontier, best.buf[0].ck)) {
			if m.budget <= 0 && blocked.frontier != "" {
				return out, blocked.frontier, nil
			}
			scanned, err := m.fetch(ctx, blocked, n-len(out), m.budget)
			if err != nil {
				return nil, "", err
			}
			m.budget -= scanned
			continue
		}
		if best == nil {
			return out, "", nil
		}
		out = append(out, best.buf[0])
		best.buf = best.buf[1:]
	}
	return out, "", nil
}

// prefetch reads the first page of every stream at once, each asking for
// its share of the n entries wanted (and one more) and of the budget: a
// read of Shards partitions then costs the latency of one request, not of
// Shards.
func (m *merge) prefetch(ctx context.Context, n int) error {
	if len(m.streams) < 2 {
		return nil
	}
	want := (n+len(m.streams)-1)/len(m.streams) + 1
	budget := m.budget / len(m.streams)
	var wg sync.WaitGroup
	scanned := make([]int, len(m.streams))
	errs := make([]error, len(m.streams))
	for i, st := range m.streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scanned[i], errs[i] = m.fetch(ctx, st, want, budget)
		}()
	}
	wg.Wait()
	for i := range m.streams {
		m.budget -= scanned[i]
	}
	return errors.Join(errs...)
}

// fetch reads the next Query page of a stream, asking for about want
// entries (more when a filter may drop some) and evaluating at most budget
// items (at least one), and returns how many items DynamoDB evaluated.
func (m *merge) fetch(ctx context.Context, st *stream, want, budget int) (int, error) {
	p := st.src
	limit := want
	if p.filter != "" {
		limit = maxLimit
	}
	limit = min(max(limit, 1), maxLimit, max(budget, 1))
	names := map[string]string{"#pk": p.pkAttr}
	values := item{":pk": str(p.value)}
	maps.Copy(names, p.names)
	maps.Copy(values, p.values)
	cond := "#pk = :pk"
	switch {
	case m.lo != "" && m.hi != "":
		// BETWEEN is inclusive: an entry at hi itself is dropped below.
		names["#sk"], values[":lo"], values[":hi"] = p.skAttr, str(m.lo), str(m.hi)
		cond += " AND #sk BETWEEN :lo AND :hi"
	case m.hi != "":
		names["#sk"], values[":hi"] = p.skAttr, str(m.hi)
		cond += " AND #sk < :hi"
	case m.lo != "":
		names["#sk"], values[":lo"] = p.skAttr, str(m.lo)
		cond += " AND #sk >= :lo"
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ScanIndexForward: aws.Bool(m.asc), Limit: aws.Int32(int32(limit)), ExclusiveStartKey: st.next,
	}
	if p.index != "" {
		in.IndexName = aws.String(p.index)
	}
	if p.consistent {
		in.ConsistentRead = aws.Bool(true)
	}
	if p.filter != "" {
		in.FilterExpression = aws.String(p.filter)
	}
	out, err := m.s.query(ctx, in)
	if err != nil {
		return 0, wrap("read "+p.value, err)
	}
	for _, it := range out.Items {
		ck := getS(it, p.skAttr)
		if m.hi != "" && ck == m.hi {
			continue
		}
		st.buf = append(st.buf, entry{ck: ck, it: it, src: p})
	}
	st.next = out.LastEvaluatedKey
	if len(st.next) == 0 {
		st.done = true
	} else {
		st.frontier = getS(st.next, p.skAttr)
	}
	return int(out.ScannedCount), nil
}

// resolve turns entries into jobs: collection copies directly; index entries
// through their META items, leaving out a job whose status is no longer the
// one its entry was found under (and so the second of two entries of one
// job that a lagging index may hold).
func (s *Store) resolve(ctx context.Context, entries []entry) ([]*model.ServiceJob, error) {
	var ids []string
	for _, e := range entries {
		if !e.src.direct {
			ids = append(ids, jobIDOf(e.ck))
		}
	}
	metas, err := s.readMetas(ctx, ids, false)
	if err != nil {
		return nil, err
	}
	jobs := make([]*model.ServiceJob, 0, len(entries))
	for _, e := range entries {
		it := e.it
		if !e.src.direct {
			if it = metas[jobIDOf(e.ck)]; it == nil {
				continue // gone (expired) since the index was read
			}
		}
		j, err := decodeJob(it)
		if err != nil {
			return nil, err
		}
		if e.src.status != "" && j.Status != e.src.status {
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// readMetas reads the META items of jobs with BatchGetItem, 100 keys a
// request: eventually consistent for lists (as the index that named them),
// consistent for updates.
func (s *Store) readMetas(ctx context.Context, ids []string, consistent bool) (map[string]item, error) {
	seen := map[string]bool{}
	var keys []item
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, jobKey(id))
		}
	}
	items, err := s.batchGetAll(ctx, keys, "#pk, #doc, #v, #exp",
		map[string]string{"#pk": AttrPK, "#doc": attrDoc, "#v": attrVersion, "#exp": AttrExpiresAt}, consistent)
	if err != nil {
		return nil, wrap("read listed jobs", err)
	}
	out := make(map[string]item, len(items))
	for _, it := range items {
		out[strings.TrimPrefix(getS(it, AttrPK), pkJob)] = it
	}
	return out, nil
}

// batchGetAll reads items with BatchGetItem, 100 keys a request, until
// DynamoDB has answered for every key (UnprocessedKeys are asked again,
// with backoff).
func (s *Store) batchGetAll(ctx context.Context, keys []item, projection string, names map[string]string, consistent bool) ([]item, error) {
	var out []item
	for len(keys) > 0 {
		n := min(len(keys), 100)
		pending := map[string][]item{*s.table: keys[:n]}
		keys = keys[n:]
		for delay := 20 * time.Millisecond; len(pending) > 0; delay = min(delay*2, time.Second) {
			req := map[string]types.KeysAndAttributes{}
			for t, ks := range pending {
				req[t] = types.KeysAndAttributes{Keys: ks, ProjectionExpression: aws.String(projection), ExpressionAttributeNames: names, ConsistentRead: aws.Bool(consistent)}
			}
			res, err := s.batchGet(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, err
			}
			out = append(out, res.Responses[*s.table]...)
			pending = map[string][]item{}
			for t, ka := range res.UnprocessedKeys {
				pending[t] = ka.Keys
			}
			if len(pending) > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(delay):
				}
			}
		}
	}
	return out, nil
}
