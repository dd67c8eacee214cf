package bolt

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/store"
)

// metaPrefix keeps the names callers give apart from the store's own keys
// in the meta bucket (the layout version).
const metaPrefix = "app:"

// GetMeta returns a value that PutMeta stored under name, or ErrNotFound.
// The meta bucket holds what the server keeps about itself beside the
// queue's records, such as the hash of the configuration it last applied,
// so that it lives and dies with the store file.
func (s *Store) GetMeta(_ context.Context, name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get([]byte(metaPrefix + name))
		if v == nil {
			return fmt.Errorf("meta %s: %w", name, store.ErrNotFound)
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// PutMeta stores value under name, replacing what was there.
func (s *Store) PutMeta(_ context.Context, name string, value []byte) error {
	if name == "" {
		return errors.New("bolt: meta name is empty")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(metaPrefix+name), value)
	})
}
