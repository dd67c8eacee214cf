package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sagequeue/sagequeue/internal/store"
)

// leaseRecord is a stored lease. A released lease keeps its Token, with no
// Holder, so that the next holder's token is larger still.
type leaseRecord struct {
	Holder  string `json:"holder,omitempty"`
	Token   int64  `json:"token"`
	Expires int64  `json:"expires"` // Unix nanoseconds
}

// AcquireLease takes the named lease for holder until now+ttl (see
// store.LeaseStore). A lease is expired from its Expires on. A renewal by the
// holder keeps the Token, also when the lease expired meanwhile: nobody else
// held it in between.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if err := ctx.Err(); err != nil {
		return store.Lease{}, err
	}
	if name == "" || holder == "" {
		return store.Lease{}, fmt.Errorf("bolt: a lease needs a name and a holder")
	}
	expires := now.Add(ttl)
	var token int64
	// Through group commit: a pass takes and gives back the lease, and
	// neither needs a commit (two fdatasyncs) of its own while submissions
	// are committing anyway.
	err := s.writes.do(func(tx *bolt.Tx) error {
		rec, err := loadLease(tx, name)
		if err != nil {
			return err
		}
		switch {
		case rec.Holder == holder:
		case rec.Holder == "" || !now.Before(time.Unix(0, rec.Expires)):
			rec.Holder = holder
			rec.Token++
		default:
			return fmt.Errorf("lease %s: held by %s until %s: %w", name, rec.Holder, time.Unix(0, rec.Expires).UTC().Format(time.RFC3339Nano), store.ErrLeaseHeld)
		}
		rec.Expires = expires.UnixNano()
		token = rec.Token
		return putLease(tx, name, rec)
	})
	if err != nil {
		return store.Lease{}, err
	}
	return store.Lease{Name: name, Holder: holder, Token: token, Expires: expires}, nil
}

// ReleaseLease frees a lease that still has l.Token; otherwise it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.writes.do(func(tx *bolt.Tx) error {
		rec, err := loadLease(tx, l.Name)
		if err != nil {
			return err
		}
		if rec.Holder == "" || rec.Token != l.Token {
			return nil
		}
		rec.Holder, rec.Expires = "", 0
		return putLease(tx, l.Name, rec)
	})
}

// checkFence fails with ErrLeaseLost unless the lease is held with f.Token.
func checkFence(tx *bolt.Tx, f store.Lease) error {
	rec, err := loadLease(tx, f.Name)
	if err != nil {
		return err
	}
	if rec.Holder == "" || rec.Token != f.Token {
		return fmt.Errorf("lease %s token %d (now %d, held by %q): %w", f.Name, f.Token, rec.Token, rec.Holder, store.ErrLeaseLost)
	}
	return nil
}

// loadLease reads a lease; a lease never taken is the zero record.
func loadLease(tx *bolt.Tx, name string) (leaseRecord, error) {
	var rec leaseRecord
	v := tx.Bucket(bucketLeases).Get([]byte(name))
	if v == nil {
		return rec, nil
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("bolt: decode lease %s: %w", name, err)
	}
	return rec, nil
}

func putLease(tx *bolt.Tx, name string, rec leaseRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketLeases).Put([]byte(name), data)
}
