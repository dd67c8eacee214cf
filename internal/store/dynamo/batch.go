package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// change is one job of an UpdateJobs call, ready to write.
type change struct {
	i   int // index in the call
	old *model.ServiceJob
	st  *jobState
}

// UpdateJobs writes several jobs, each as UpdateJob would (see
// store.JobStore), in far fewer requests: one consistent BatchGetItem of
// every 100 jobs' META items, then transactions of as many jobs as fit in
// 100 actions (a promotion takes two: META and the SUBMITTED copy), which
// share one check of the lease and one update of each counter they
// change. A job whose version condition fails is left out and the rest of
// its transaction is tried again; a lost lease refuses every job not yet
// written.
//
// Jobs it moves to SCHEDULED come back with their payload (read with
// BatchGetItem too): the scheduler launches them next, and would
// otherwise read each job again for it.
func (s *Store) UpdateJobs(ctx context.Context, jobs []*model.ServiceJob, fence *store.Lease) ([]*model.ServiceJob, []error) {
	stored, errs := make([]*model.ServiceJob, len(jobs)), make([]error, len(jobs))
	seen := map[string]bool{}
	var ids []string
	for i, j := range jobs {
		switch {
		case j == nil:
			errs[i] = errors.New("dynamo: UpdateJobs of a nil job")
		case j.JobID == "" || !j.Status.Valid():
			errs[i] = fmt.Errorf("dynamo: update of job %q with status %q", j.JobID, j.Status)
		case seen[j.JobID]:
			errs[i] = fmt.Errorf("job %s: named twice in one batch: %w", j.JobID, store.ErrConflict)
		default:
			seen[j.JobID] = true
			ids = append(ids, j.JobID)
		}
	}
	metas, err := s.readMetas(ctx, ids, true)
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return stored, errs
	}
	var pending []change
	stale := false
	for i, j := range jobs {
		if errs[i] != nil {
			continue
		}
		it := metas[j.JobID]
		if it == nil {
			errs[i] = fmt.Errorf("job %s: %w", j.JobID, store.ErrNotFound)
			continue
		}
		old, err := decodeJob(it)
		if err != nil {
			errs[i] = err
			continue
		}
		if old.Version != j.Version {
			errs[i] = fmt.Errorf("job %s: stored version %d, update of version %d: %w", j.JobID, old.Version, j.Version, store.ErrConflict)
			stale = true
			continue
		}
		st, err := s.nextState(old, j, getN(it, AttrExpiresAt))
		if err != nil {
			errs[i] = err
			continue
		}
		pending = append(pending, change{i: i, old: old, st: st})
	}
	if stale && fence != nil {
		// As UpdateJob: a stale version under a lost lease is the lease's
		// fault.
		if err := s.checkFence(ctx, *fence); err != nil {
			for i := range errs {
				errs[i] = fmt.Errorf("job %s: %w", jobs[i].JobID, err)
			}
			return stored, errs
		}
	}
	s.attachPayloads(ctx, pending)
	for len(pending) > 0 {
		t, n := s.batchTxn(pending, fence)
		err := t.write(ctx, s)
		if err == nil {
			for k, c := range pending[:n] {
				payload := c.st.job.ServiceRequestPayload
				stored[c.i], errs[c.i] = decodeJob(t.items[t.metaOf[k]].Put.Item)
				if errs[c.i] == nil {
					stored[c.i].ServiceRequestPayload = payload
				}
			}
			pending = pending[n:]
			continue
		}
		if _, ok := t.refused(err, roleFence); ok {
			for _, c := range pending {
				errs[c.i] = fmt.Errorf("job %s: lease %s token %d: %w", c.st.job.JobID, fence.Name, fence.Token, store.ErrLeaseLost)
			}
			return stored, errs
		}
		// Leave out the jobs whose version condition failed; try the others
		// again.
		refused := map[int]bool{}
		reasons := cancellation(err)
		for x, r := range reasons {
			if x < len(t.roles) && t.roles[x] == roleMeta && failedCondition(r) {
				c := pending[t.owner[x]]
				errs[c.i] = refusedUpdate(c.st.job.JobID, r.Item, jobs[c.i].Version)
				refused[t.owner[x]] = true
			}
		}
		if len(refused) == 0 {
			for _, c := range pending[:n] {
				errs[c.i] = wrap("update job "+c.st.job.JobID, err)
			}
			pending = pending[n:]
			continue
		}
		var rest []change
		for k, c := range pending {
			if !refused[k] {
				rest = append(rest, c)
			}
		}
		pending = rest
	}
	return stored, errs
}

// attachPayloads reads the payloads of the jobs moving to SCHEDULED into
// their states (which the transactions do not write: a job's doc is stored
// without it). A failed read leaves them without: the caller reads them.
func (s *Store) attachPayloads(ctx context.Context, pending []change) {
	var keys []item
	byID := map[string]*model.ServiceJob{}
	for _, c := range pending {
		if c.st.job.Status == model.StatusScheduled {
			keys = append(keys, payloadKey(c.st.job.JobID))
			byID[c.st.job.JobID] = c.st.job
		}
	}
	items, err := s.batchGetAll(ctx, keys, "#pk, #p", map[string]string{"#pk": AttrPK, "#p": attrPayload}, false)
	if err != nil {
		return
	}
	for _, it := range items {
		if j := byID[strings.TrimPrefix(getS(it, AttrPK), pkJob)]; j != nil {
			if p, err := decodePayload(it); err == nil {
				j.ServiceRequestPayload = p
			}
		}
	}
}

// batchTxn builds the transaction of the first jobs of pending that fit in
// one (up to maxTxnItems actions with the lease check and the counters) and
// returns it with how many jobs it holds. Items are owned by the index of
// their job in pending.
func (s *Store) batchTxn(pending []change, fence *store.Lease) (*txn, int) {
	t := &txn{table: s.table, job: -1}
	if fence != nil {
		s.addFence(t, *fence)
	}
	n := 0
	for k, c := range pending {
		items, roles, owner := len(t.items), len(t.roles), len(t.owner)
		counters, order := maps.Clone(t.counters), append([][2]string(nil), t.order...)
		t.job = k
		t.metaOf = append(t.metaOf, len(t.items))
		s.addUpdate(t, c.old, c.st)
		if n > 0 && len(t.items)+t.counterItems() > maxTxnItems {
			t.items, t.roles, t.owner = t.items[:items], t.roles[:roles], t.owner[:owner]
			t.counters, t.order = counters, order
			t.metaOf = t.metaOf[:len(t.metaOf)-1]
			break
		}
		n++
	}
	t.job = -1
	t.finish()
	return t, n
}

// Submitted returns up to limit SUBMITTED jobs, oldest first (see
// store.JobStore): a merge of the Shards partitions of the SUBMITTED
// collection, read consistently in ascending key order, about limit+1
// items in all.
func (s *Store) Submitted(ctx context.Context, limit int) ([]*model.ServiceJob, bool, error) {
	limit = max(limit, 0)
	parts := collectionPartitions(pkWaiting)
	sources := make([]source, len(parts))
	for k, pk := range parts {
		sources[k] = source{pkAttr: AttrPK, skAttr: AttrSK, value: pk, consistent: true, direct: true}
	}
	jobs, more, err := s.firstJobs(ctx, sources, limit)
	if err != nil {
		return nil, false, wrap("submitted jobs", err)
	}
	return jobs, more, nil
}

// firstJobs merges sources whose items are jobs (a collection, the heads
// index) in ascending key order and returns the first limit, and whether
// there are more.
func (s *Store) firstJobs(ctx context.Context, sources []source, limit int) ([]*model.ServiceJob, bool, error) {
	entries, _, err := newMerge(s, sources, true).run(ctx, limit+1)
	if err != nil {
		return nil, false, err
	}
	more := len(entries) > limit
	if more {
		entries = entries[:limit]
	}
	jobs := make([]*model.ServiceJob, 0, len(entries))
	for _, e := range entries {
		j, err := decodeJob(e.it)
		if err != nil {
			return nil, false, err
		}
		jobs = append(jobs, j)
	}
	return jobs, more, nil
}

// CountSubmitted adds up the SUBMITTED counters of every queue: one
// consistent Query of each shard's counter partition (COUNT#<k>), at once.
// The counters are kept by the transactions that put and promote jobs.
func (s *Store) CountSubmitted(ctx context.Context) (map[string]int64, error) {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		counts = map[string]int64{}
		errs   = make([]error, Shards)
	)
	for k := range Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var start item
			for {
				out, err := s.query(ctx, &dynamodb.QueryInput{
					KeyConditionExpression:    aws.String("#pk = :pk"),
					ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
					ExpressionAttributeValues: item{":pk": str(sharded(pkCount, k))},
					ConsistentRead:            aws.Bool(true),
					ExclusiveStartKey:         start,
				})
				if err != nil {
					errs[k] = wrap("count submitted jobs", err)
					return
				}
				mu.Lock()
				for _, it := range out.Items {
					if n := getN(it, attrCount); n > 0 {
						counts[strings.TrimPrefix(getS(it, AttrSK), skWaiting)] += n
					}
				}
				mu.Unlock()
				if start = out.LastEvaluatedKey; len(start) == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return counts, nil
}
