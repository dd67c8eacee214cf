package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/model"
)

// ListUsage returns the usage records of a queue, sorted by share.
func (s *Store) ListUsage(ctx context.Context, queue string) ([]model.ShareUsage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pre := prefix(queue)
	out := []model.ShareUsage{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUsage).Cursor()
		for k, v := c.Seek(pre); k != nil && bytes.HasPrefix(k, pre); k, v = c.Next() {
			var u model.ShareUsage
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("bolt: decode usage %q: %w", k, err)
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddUsage adds to a share's usage record atomically (model.ShareUsage.Add),
// in a group-committed read-modify-write.
func (s *Store) AddUsage(ctx context.Context, queue, share string, instances, start, end int64, tau float64) (model.ShareUsage, error) {
	if err := ctx.Err(); err != nil {
		return model.ShareUsage{}, err
	}
	if !(tau > 0) || math.IsInf(tau, 1) {
		return model.ShareUsage{}, fmt.Errorf("bolt: usage of %s/%s: decay time constant %v must be a positive number of seconds", queue, share, tau)
	}
	if strings.IndexByte(queue, sep) >= 0 || strings.IndexByte(share, sep) >= 0 {
		return model.ShareUsage{}, fmt.Errorf("bolt: usage: queue and share must not contain NUL")
	}
	key := lineKey(queue, share)
	var out model.ShareUsage
	err := s.writes.do(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
		var u model.ShareUsage
		if v := b.Get(key); v != nil {
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("bolt: decode usage of %s/%s: %w", queue, share, err)
			}
		}
		u.Queue, u.Share = queue, share
		out = u.Add(instances, start, end, tau)
		data, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return b.Put(key, data)
	})
	if err != nil {
		return model.ShareUsage{}, err
	}
	return out, nil
}
