package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Roles of the items of a job's transaction, to read its cancellation
// reasons by.
const (
	roleMeta    = "meta"
	rolePayload = "payload"
	roleToken   = "token"
	roleFence   = "fence"
	roleCopy    = "copy"
	roleCounter = "counter"
)

// maxTxnItems is the most actions one TransactWriteItems takes.
const maxTxnItems = 100

// txn is a TransactWriteItems request being built, with the role of each
// item and, in a transaction that writes several jobs, the job (by index)
// each item belongs to. Counters (lines, SUBMITTED counts) are added up per
// item and written by finish, since a transaction may not name an item
// twice.
type txn struct {
	table *string
	items []types.TransactWriteItem
	roles []string
	owner []int // index of the job the item is written for; -1 when shared
	job   int   // the owner of the items added next
	// metaOf holds, for each job of a transaction that writes several,
	// the index of its META item.
	metaOf []int

	counters map[[2]string]int64
	order    [][2]string
}

func (t *txn) add(role string, w types.TransactWriteItem) {
	t.items = append(t.items, w)
	t.roles = append(t.roles, role)
	t.owner = append(t.owner, t.job)
}

// count adds d to the counter attribute of item k.
func (t *txn) count(k item, d int64) {
	id := [2]string{getS(k, AttrPK), getS(k, AttrSK)}
	if t.counters == nil {
		t.counters = map[[2]string]int64{}
	}
	if _, ok := t.counters[id]; !ok {
		t.order = append(t.order, id)
	}
	t.counters[id] += d
}

// counterItems is how many counter updates finish will add.
func (t *txn) counterItems() int {
	n := 0
	for _, d := range t.counters {
		if d != 0 {
			n++
		}
	}
	return n
}

// finish adds the counters' updates.
func (t *txn) finish() {
	job := t.job
	t.job = -1
	for _, id := range t.order {
		if d := t.counters[id]; d != 0 {
			t.update(roleCounter, key(id[0], id[1]), "ADD #n :d", map[string]string{"#n": attrCount}, item{":d": num(d)})
		}
	}
	t.counters, t.order = nil, nil
	t.job = job
}

// put adds a Put of it; cond (with its names and values) may be empty.
func (t *txn) put(role string, it item, cond string, names map[string]string, values item) {
	p := &types.Put{TableName: t.table, Item: it, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	if cond != "" {
		p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues = aws.String(cond), names, values
	}
	t.add(role, types.TransactWriteItem{Put: p})
}

func (t *txn) update(role string, k item, expr string, names map[string]string, values item) {
	u := &types.Update{TableName: t.table, Key: k, UpdateExpression: aws.String(expr), ExpressionAttributeNames: names}
	if len(values) > 0 {
		u.ExpressionAttributeValues = values
	}
	t.add(role, types.TransactWriteItem{Update: u})
}

// reason returns the cancellation reason of the item of role, if err is a
// cancelled transaction.
func (t *txn) reason(err error, role string) (types.CancellationReason, bool) {
	rs := cancellation(err)
	for i, r := range t.roles {
		if r == role && i < len(rs) {
			return rs[i], true
		}
	}
	return types.CancellationReason{}, false
}

// refused reports whether the item of role failed its condition, and the
// item as it was.
func (t *txn) refused(err error, role string) (item, bool) {
	r, ok := t.reason(err, role)
	if !ok || !failedCondition(r) {
		return nil, false
	}
	return r.Item, true
}

// write commits the transaction, retrying transaction conflicts and
// throttling.
func (t *txn) write(ctx context.Context, s *Store) error {
	return retryContention(ctx, func() error {
		_, err := s.transactWrite(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: t.items})
		return err
	})
}

// addCounts adds to t the change of the counters a job's move from old to
// next makes: its line's RUNNABLE count when it enters or leaves RUNNABLE,
// its queue's SUBMITTED count (in its shard) when it enters or leaves
// SUBMITTED.
func addCounts(t *txn, old, next *model.ServiceJob) {
	delta := func(st model.JobStatus) int64 {
		was := old != nil && old.Status == st
		is := next.Status == st
		switch {
		case is && !was:
			return 1
		case was && !is:
			return -1
		}
		return 0
	}
	if d := delta(model.StatusRunnable); d != 0 {
		t.count(lineKey(next.JobQueue, next.ShareIdentifier), d)
	}
	if d := delta(model.StatusSubmitted); d != 0 {
		t.count(countKey(next.JobQueue, shardOf(next.JobID)), d)
	}
}

// PutJob stores a new job with Version 1 (see store.JobStore) in one
// transaction: META (if the ID is new), PAYLOAD, the client token (if new or
// expired), and the collection copy or the line count its status calls for.
func (s *Store) PutJob(ctx context.Context, job *model.ServiceJob) (*model.ServiceJob, error) {
	if job == nil {
		return nil, errors.New("dynamo: PutJob of a nil job")
	}
	if err := checkJob(job); err != nil {
		return nil, err
	}
	next := *job
	next.Version = 1
	now := time.Now()
	var exp int64
	if next.Status.Terminal() {
		exp = s.expiry(now)
	}
	st, err := newJobState(&next, exp)
	if err != nil {
		return nil, err
	}
	t := &txn{table: s.table, job: -1}
	meta := st.meta()
	t.put(roleMeta, meta, "attribute_not_exists(#pk)", map[string]string{"#pk": AttrPK}, nil)
	t.put(rolePayload, st.payload(), "", nil, nil)
	if tok := st.token(); tok != nil {
		// A token whose job has expired is free again, even before TTL has
		// deleted it (that may take days).
		t.put(roleToken, tok, "attribute_not_exists(#pk) OR #exp < :now",
			map[string]string{"#pk": AttrPK, "#exp": AttrExpiresAt}, item{":now": num(now.Unix())})
	}
	if c := st.copyItem(); c != nil {
		t.put(roleCopy, c, "", nil, nil)
	}
	addCounts(t, nil, &next)
	t.finish()
	err = t.write(ctx, s)
	if err == nil {
		j, err := decodeJob(meta)
		if err != nil {
			return nil, err
		}
		j.ServiceRequestPayload = next.ServiceRequestPayload
		return j, nil
	}
	if old, ok := t.refused(err, roleToken); ok {
		holder := getS(old, attrJobID)
		j, gerr := s.GetJob(ctx, holder)
		if gerr != nil {
			return nil, fmt.Errorf("dynamo: client token %q names job %s: %w", next.ClientToken, holder, gerr)
		}
		return j, fmt.Errorf("client token %q already used by job %s: %w", next.ClientToken, holder, store.ErrAlreadyExists)
	}
	if _, ok := t.refused(err, roleMeta); ok {
		return nil, fmt.Errorf("job %s: %w", next.JobID, store.ErrAlreadyExists)
	}
	return nil, wrap("put job "+next.JobID, err)
}

// GetJob returns a job with its payload, or ErrNotFound: one consistent
// Query of the job's item collection (META and PAYLOAD).
func (s *Store) GetJob(ctx context.Context, jobID string) (*model.ServiceJob, error) {
	if jobID == "" {
		return nil, fmt.Errorf("job %q: %w", jobID, store.ErrNotFound)
	}
	out, err := s.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
		ExpressionAttributeValues: item{":pk": str(pkJob + jobID)},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return nil, wrap("get job "+jobID, err)
	}
	var meta, payload item
	for _, it := range out.Items {
		switch getS(it, AttrSK) {
		case skMeta:
			meta = it
		case skPayload:
			payload = it
		}
	}
	if meta != nil && payload == nil {
		// A Query may see part of a transaction that is committing: the
		// PutJob of this very job. TransactGetItems reads both as of one
		// moment.
		if meta, payload, err = s.getJobItems(ctx, jobID); err != nil {
			return nil, err
		}
	}
	if meta == nil {
		return nil, fmt.Errorf("job %s: %w", jobID, store.ErrNotFound)
	}
	j, err := decodeJob(meta)
	if err != nil {
		return nil, err
	}
	if j.ServiceRequestPayload, err = decodePayload(payload); err != nil {
		return nil, err
	}
	return j, nil
}

func (s *Store) getJobItems(ctx context.Context, jobID string) (meta, payload item, err error) {
	out, err := s.transactGet(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
		{Get: &types.Get{TableName: s.table, Key: jobKey(jobID)}},
		{Get: &types.Get{TableName: s.table, Key: payloadKey(jobID)}},
	}})
	if err != nil {
		return nil, nil, wrap("get job "+jobID, err)
	}
	return out.Responses[0].Item, out.Responses[1].Item, nil
}

// UpdateJob writes job if the stored Version equals job.Version and, with a
// fence, the lease still has fence.Token (see store.JobStore). It reads the
// stored META consistently (for the immutable fields and the old status),
// then writes META conditional on the version, in one transaction with
// whatever else the change of status moves: the lease check, the collection
// copy, the line count, the time to live of PAYLOAD and the token. A change
// that moves nothing else is a single conditional PutItem, at half the
// write units of a transaction. The returned job lacks its payload.
func (s *Store) UpdateJob(ctx context.Context, job *model.ServiceJob, fence *store.Lease) (*model.ServiceJob, error) {
	if job == nil {
		return nil, errors.New("dynamo: UpdateJob of a nil job")
	}
	if job.JobID == "" || !job.Status.Valid() {
		return nil, fmt.Errorf("dynamo: update of job %q with status %q", job.JobID, job.Status)
	}
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: jobKey(job.JobID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, wrap("read job "+job.JobID, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("job %s: %w", job.JobID, store.ErrNotFound)
	}
	old, err := decodeJob(out.Item)
	if err != nil {
		return nil, err
	}
	if old.Version != job.Version {
		if fence != nil {
			if err := s.checkFence(ctx, *fence); err != nil {
				return nil, fmt.Errorf("job %s: %w", job.JobID, err)
			}
		}
		return nil, fmt.Errorf("job %s: stored version %d, update of version %d: %w", job.JobID, old.Version, job.Version, store.ErrConflict)
	}
	st, err := s.nextState(old, job, getN(out.Item, AttrExpiresAt))
	if err != nil {
		return nil, err
	}
	n := st.job
	t := &txn{table: s.table, job: -1}
	s.addUpdate(t, old, st)
	if fence != nil {
		s.addFence(t, *fence)
	}
	t.finish()
	if err := s.commitUpdate(ctx, t, fence, n.JobID, job.Version); err != nil {
		return nil, err
	}
	return decodeJob(t.items[0].Put.Item)
}

// nextState is the job that an update of old by in stores: in with old's
// immutable fields and version+1, without its payload, and with the time
// to live of old's items (exp, from old's META) kept, set or removed as
// the job finishes or not.
func (s *Store) nextState(old, in *model.ServiceJob, exp int64) (*jobState, error) {
	n := *in
	n.JobQueue, n.ShareIdentifier, n.CreatedAt, n.ClientToken = old.JobQueue, old.ShareIdentifier, old.CreatedAt, old.ClientToken
	n.ServiceRequestPayload, n.RequestDigest = "", old.RequestDigest
	n.Version = old.Version + 1
	switch {
	case !n.Status.Terminal():
		exp = 0
	case exp == 0:
		exp = s.expiry(time.Now())
	}
	return newJobState(&n, exp)
}

// addFence adds the check that the lease still has f's token.
func (s *Store) addFence(t *txn, f store.Lease) {
	job := t.job
	t.job = -1
	t.add(roleFence, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: s.table, Key: leaseKey(f.Name),
		ConditionExpression:                 aws.String("#tok = :tok AND attribute_exists(#h)"),
		ExpressionAttributeNames:            map[string]string{"#tok": attrToken, "#h": attrHolder},
		ExpressionAttributeValues:           item{":tok": num(f.Token)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}})
	t.job = job
}

// addUpdate adds to t the items that move a job from old to st: first the
// Put of META, conditional on old's version, then whatever else the change
// of status moves, and its counters (written by t.finish).
func (s *Store) addUpdate(t *txn, old *model.ServiceJob, st *jobState) {
	n := st.job
	t.put(roleMeta, st.meta(), "#v = :v", map[string]string{"#v": attrVersion}, item{":v": num(old.Version)})
	if c := st.copyItem(); c != nil {
		t.put(roleCopy, c, "", nil, nil)
	}
	if was := collection(old.Status); was != "" && was != collection(n.Status) {
		t.add(roleCopy, types.TransactWriteItem{Delete: &types.Delete{TableName: s.table, Key: key(collectionPK(was, n.JobID), st.ck)}})
	}
	addCounts(t, old, n)
	if n.Status.Terminal() != old.Status.Terminal() {
		expr, values := "REMOVE #exp", item(nil)
		if st.expiresAt != 0 {
			expr, values = "SET #exp = :exp", item{":exp": num(st.expiresAt)}
		}
		names := map[string]string{"#exp": AttrExpiresAt}
		t.update(rolePayload, payloadKey(n.JobID), expr, names, values)
		if n.ClientToken != "" {
			t.update(roleToken, tokenKey(n.ClientToken), expr, names, values)
		}
	}
}

// commitUpdate writes an update's transaction, or, when it holds META
// alone, the conditional PutItem of META; and tells apart why it was
// refused.
func (s *Store) commitUpdate(ctx context.Context, t *txn, fence *store.Lease, id string, version int64) error {
	if len(t.items) == 1 {
		p := t.items[0].Put
		err := retryContention(ctx, func() error {
			_, err := s.putItem(ctx, &dynamodb.PutItemInput{
				Item: p.Item, ConditionExpression: p.ConditionExpression,
				ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			})
			return err
		})
		if stored, ok := conditionFailed(err); ok {
			return refusedUpdate(id, stored, version)
		}
		if err != nil {
			return wrap("update job "+id, err)
		}
		return nil
	}
	err := t.write(ctx, s)
	if stored, ok := t.refused(err, roleMeta); ok && stored == nil {
		return refusedUpdate(id, nil, version)
	}
	if _, ok := t.refused(err, roleFence); ok {
		return fmt.Errorf("job %s: lease %s token %d: %w", id, fence.Name, fence.Token, store.ErrLeaseLost)
	}
	if stored, ok := t.refused(err, roleMeta); ok {
		return refusedUpdate(id, stored, version)
	}
	if err != nil {
		return wrap("update job "+id, err)
	}
	return nil
}

// refusedUpdate is the error of an update whose version condition failed:
// ErrNotFound if the job is gone, else ErrConflict.
func refusedUpdate(id string, stored item, version int64) error {
	if stored == nil {
		return fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	return fmt.Errorf("job %s: stored version %d, update of version %d: %w", id, getN(stored, attrVersion), version, store.ErrConflict)
}
