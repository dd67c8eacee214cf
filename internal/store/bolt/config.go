package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// configKind describes one kind of configuration record, kept by name in
// its own bucket, so that one set of functions serves all three kinds.
type configKind[T any] struct {
	bucket  []byte
	noun    string
	name    func(*T) string
	version func(*T) *int64
}

func environments() configKind[model.ServiceEnvironment] {
	return configKind[model.ServiceEnvironment]{
		bucket:  bucketEnvironments,
		noun:    "service environment",
		name:    func(e *model.ServiceEnvironment) string { return e.Name },
		version: func(e *model.ServiceEnvironment) *int64 { return &e.Version },
	}
}

func policies() configKind[model.SchedulingPolicy] {
	return configKind[model.SchedulingPolicy]{
		bucket:  bucketPolicies,
		noun:    "scheduling policy",
		name:    func(p *model.SchedulingPolicy) string { return p.Name },
		version: func(p *model.SchedulingPolicy) *int64 { return &p.Version },
	}
}

func queues() configKind[model.JobQueue] {
	return configKind[model.JobQueue]{
		bucket:  bucketQueues,
		noun:    "job queue",
		name:    func(q *model.JobQueue) string { return q.Name },
		version: func(q *model.JobQueue) *int64 { return &q.Version },
	}
}

func quotaShares() configKind[model.QuotaShare] {
	return configKind[model.QuotaShare]{
		bucket:  bucketQuotaShares,
		noun:    "quota share",
		name:    store.QuotaShareKeyOf,
		version: func(q *model.QuotaShare) *int64 { return &q.Version },
	}
}

// create stores v with Version 1 unless its name is taken.
func (k configKind[T]) create(ctx context.Context, db *bolt.DB, v *T) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("bolt: create of a nil %s", k.noun)
	}
	rec := *v
	*k.version(&rec) = 1
	name := k.name(&rec)
	if name == "" {
		return nil, fmt.Errorf("bolt: %s has no name", k.noun)
	}
	data, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("bolt: encode %s %s: %w", k.noun, name, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(k.bucket)
		if b.Get([]byte(name)) != nil {
			return fmt.Errorf("%s %s: %w", k.noun, name, store.ErrAlreadyExists)
		}
		return b.Put([]byte(name), data)
	})
	if err != nil {
		return nil, err
	}
	return k.decode(data)
}

// get returns the named record or ErrNotFound.
func (k configKind[T]) get(ctx context.Context, db *bolt.DB, name string) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *T
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = k.load(tx, name)
		return err
	})
	return out, err
}

// list returns every record, sorted by name (the bucket's key order).
func (k configKind[T]) list(ctx context.Context, db *bolt.DB) ([]*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []*T{}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(k.bucket).ForEach(func(_, v []byte) error {
			r, err := k.decode(v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// update replaces the record named by v if its stored Version equals v's;
// the stored record gets Version+1.
func (k configKind[T]) update(ctx context.Context, db *bolt.DB, v *T) (*T, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("bolt: update of a nil %s", k.noun)
	}
	rec := *v
	name := k.name(&rec)
	var data []byte
	err := db.Update(func(tx *bolt.Tx) error {
		old, err := k.load(tx, name)
		if err != nil {
			return err
		}
		if have, want := *k.version(old), *k.version(&rec); have != want {
			return fmt.Errorf("%s %s: stored version %d, update of version %d: %w", k.noun, name, have, want, store.ErrConflict)
		}
		*k.version(&rec) = *k.version(old) + 1
		if data, err = json.Marshal(&rec); err != nil {
			return fmt.Errorf("bolt: encode %s %s: %w", k.noun, name, err)
		}
		return tx.Bucket(k.bucket).Put([]byte(name), data)
	})
	if err != nil {
		return nil, err
	}
	return k.decode(data)
}

// del removes the named record or returns ErrNotFound.
func (k configKind[T]) del(ctx context.Context, db *bolt.DB, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(k.bucket)
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("%s %s: %w", k.noun, name, store.ErrNotFound)
		}
		return b.Delete([]byte(name))
	})
}

func (k configKind[T]) load(tx *bolt.Tx, name string) (*T, error) {
	v := tx.Bucket(k.bucket).Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("%s %s: %w", k.noun, name, store.ErrNotFound)
	}
	return k.decode(v)
}

// decode returns a fresh record that shares no memory with the store.
func (k configKind[T]) decode(data []byte) (*T, error) {
	r := new(T)
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("bolt: decode %s: %w", k.noun, err)
	}
	return r, nil
}

// CreateEnvironment stores a new service environment with Version 1.
func (s *Store) CreateEnvironment(ctx context.Context, e *model.ServiceEnvironment) (*model.ServiceEnvironment, error) {
	return environments().create(ctx, s.db, e)
}

// GetEnvironment returns a service environment by name.
func (s *Store) GetEnvironment(ctx context.Context, name string) (*model.ServiceEnvironment, error) {
	return environments().get(ctx, s.db, name)
}

// ListEnvironments returns every service environment, sorted by name.
func (s *Store) ListEnvironments(ctx context.Context) ([]*model.ServiceEnvironment, error) {
	return environments().list(ctx, s.db)
}

// UpdateEnvironment replaces a service environment of an unchanged Version.
func (s *Store) UpdateEnvironment(ctx context.Context, e *model.ServiceEnvironment) (*model.ServiceEnvironment, error) {
	return environments().update(ctx, s.db, e)
}

// DeleteEnvironment removes a service environment.
func (s *Store) DeleteEnvironment(ctx context.Context, name string) error {
	return environments().del(ctx, s.db, name)
}

// CreatePolicy stores a new scheduling policy with Version 1.
func (s *Store) CreatePolicy(ctx context.Context, p *model.SchedulingPolicy) (*model.SchedulingPolicy, error) {
	return policies().create(ctx, s.db, p)
}

// GetPolicy returns a scheduling policy by name.
func (s *Store) GetPolicy(ctx context.Context, name string) (*model.SchedulingPolicy, error) {
	return policies().get(ctx, s.db, name)
}

// ListPolicies returns every scheduling policy, sorted by name.
func (s *Store) ListPolicies(ctx context.Context) ([]*model.SchedulingPolicy, error) {
	return policies().list(ctx, s.db)
}

// UpdatePolicy replaces a scheduling policy of an unchanged Version.
func (s *Store) UpdatePolicy(ctx context.Context, p *model.SchedulingPolicy) (*model.SchedulingPolicy, error) {
	return policies().update(ctx, s.db, p)
}

// DeletePolicy removes a scheduling policy.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	return policies().del(ctx, s.db, name)
}

// CreateQueue stores a new job queue with Version 1.
func (s *Store) CreateQueue(ctx context.Context, q *model.JobQueue) (*model.JobQueue, error) {
	return queues().create(ctx, s.db, q)
}

// GetQueue returns a job queue by name.
func (s *Store) GetQueue(ctx context.Context, name string) (*model.JobQueue, error) {
	return queues().get(ctx, s.db, name)
}

// ListQueues returns every job queue, sorted by name.
func (s *Store) ListQueues(ctx context.Context) ([]*model.JobQueue, error) {
	return queues().list(ctx, s.db)
}

// UpdateQueue replaces a job queue of an unchanged Version.
func (s *Store) UpdateQueue(ctx context.Context, q *model.JobQueue) (*model.JobQueue, error) {
	return queues().update(ctx, s.db, q)
}

// DeleteQueue removes a job queue.
func (s *Store) DeleteQueue(ctx context.Context, name string) error {
	return queues().del(ctx, s.db, name)
}

// CreateQuotaShare stores a new quota share with Version 1.
func (s *Store) CreateQuotaShare(ctx context.Context, q *model.QuotaShare) (*model.QuotaShare, error) {
	return quotaShares().create(ctx, s.db, q)
}

// GetQuotaShare returns a quota share of a queue by name.
func (s *Store) GetQuotaShare(ctx context.Context, queue, name string) (*model.QuotaShare, error) {
	return quotaShares().get(ctx, s.db, store.QuotaShareKey(queue, name))
}

// ListQuotaShares returns the quota shares of a queue, sorted by name: the
// keys that start with the queue's.
func (s *Store) ListQuotaShares(ctx context.Context, queue string) ([]*model.QuotaShare, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := quotaShares()
	prefix := []byte(store.QuotaShareKey(queue, ""))
	out := []*model.QuotaShare{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(k.bucket).Cursor()
		for key, v := c.Seek(prefix); key != nil && bytes.HasPrefix(key, prefix); key, v = c.Next() {
			r, err := k.decode(v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateQuotaShare replaces a quota share of an unchanged Version.
func (s *Store) UpdateQuotaShare(ctx context.Context, q *model.QuotaShare) (*model.QuotaShare, error) {
	return quotaShares().update(ctx, s.db, q)
}

// DeleteQuotaShare removes a quota share.
func (s *Store) DeleteQuotaShare(ctx context.Context, queue, name string) error {
	return quotaShares().del(ctx, s.db, store.QuotaShareKey(queue, name))
}
