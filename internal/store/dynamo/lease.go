package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/store"
)

func leaseKey(name string) item { return key(pkLease+name, skLease) }

// leaseNames are the expression names of the lease's attributes.
var leaseNames = map[string]string{"#h": attrHolder, "#tok": attrToken, "#exp": attrExpires}

// AcquireLease takes the named lease for holder until now+ttl (see
// store.LeaseStore) with conditional UpdateItems on the lease item and no
// read: first a renewal (the condition: holder is the caller), which keeps
// the token; if that is refused, a takeover (the condition: no holder, or
// expired), which adds one to the token. A lease is expired from its expiry
// on; expiries are kept in milliseconds, rounded up.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	if name == "" || holder == "" {
		return store.Lease{}, errors.New("dynamo: a lease needs a name and a holder")
	}
	expires := now.Add(ttl)
	expMs := expires.Add(time.Millisecond - 1).UnixMilli()
	values := item{":h": str(holder), ":exp": num(expMs)}
	for range 3 {
		// Renewal.
		var out *dynamodb.UpdateItemOutput
		err := retryContention(ctx, func() (err error) {
			out, err = s.updateItem(ctx, &dynamodb.UpdateItemInput{
				Key: leaseKey(name), UpdateExpression: aws.String("SET #exp = :exp"),
				ConditionExpression:      aws.String("#h = :h"),
				ExpressionAttributeNames: map[string]string{"#h": attrHolder, "#exp": attrExpires}, ExpressionAttributeValues: values,
				ReturnValues: types.ReturnValueAllNew,
			})
			return err
		})
		if err == nil {
			return store.Lease{Name: name, Holder: holder, Token: getN(out.Attributes, attrToken), Expires: expires}, nil
		}
		if _, ok := conditionFailed(err); !ok {
			return store.Lease{}, wrap("renew lease "+name, err)
		}
		// Takeover of a free or expired lease.
		takeover := item{":h": str(holder), ":exp": num(expMs), ":now": num(now.UnixMilli()), ":one": num(1)}
		err = retryContention(ctx, func() (err error) {
			out, err = s.updateItem(ctx, &dynamodb.UpdateItemInput{
				Key: leaseKey(name), UpdateExpression: aws.String("SET #h = :h, #exp = :exp ADD #tok :one"),
				ConditionExpression:      aws.String("attribute_not_exists(#h) OR #exp <= :now"),
				ExpressionAttributeNames: leaseNames, ExpressionAttributeValues: takeover,
				ReturnValues:                        types.ReturnValueAllNew,
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			})
			return err
		})
		if err == nil {
			return store.Lease{Name: name, Holder: holder, Token: getN(out.Attributes, attrToken), Expires: expires}, nil
		}
		cur, ok := conditionFailed(err)
		if !ok {
			return store.Lease{}, wrap("take lease "+name, err)
		}
		if getS(cur, attrHolder) != holder {
			until := time.UnixMilli(getN(cur, attrExpires)).UTC().Format(time.RFC3339Nano)
			return store.Lease{}, fmt.Errorf("lease %s: held by %s until %s: %w", name, getS(cur, attrHolder), until, store.ErrLeaseHeld)
		}
		// The holder took it meanwhile (a concurrent call of its own): renew.
	}
	return store.Lease{}, fmt.Errorf("lease %s: changing too fast to acquire: %w", name, store.ErrLeaseHeld)
}

// ReleaseLease frees a lease that still has l.Token, keeping the token so
// that the next holder's is larger; otherwise it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	err := retryContention(ctx, func() error {
		_, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
			Key: leaseKey(l.Name), UpdateExpression: aws.String("REMOVE #h SET #exp = :zero"),
			ConditionExpression:       aws.String("#tok = :tok AND attribute_exists(#h)"),
			ExpressionAttributeNames:  leaseNames,
			ExpressionAttributeValues: item{":tok": num(l.Token), ":zero": num(0)},
		})
		return err
	})
	if _, refused := conditionFailed(err); refused {
		return nil
	}
	if err != nil {
		return wrap("release lease "+l.Name, err)
	}
	return nil
}

// checkFence reads the lease consistently and fails with ErrLeaseLost
// unless it is held with f.Token.
func (s *Store) checkFence(ctx context.Context, f store.Lease) error {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: leaseKey(f.Name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return wrap("read lease "+f.Name, err)
	}
	if getS(out.Item, attrHolder) == "" || getN(out.Item, attrToken) != f.Token {
		return fmt.Errorf("lease %s token %d (now %d, held by %q): %w", f.Name, f.Token, getN(out.Item, attrToken), getS(out.Item, attrHolder), store.ErrLeaseLost)
	}
	return nil
}
