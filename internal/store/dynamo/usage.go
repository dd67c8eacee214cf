package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

func usageKey(queue, share string) item { return key(pkUsage+queue, skShare+share) }

// ListUsage returns the usage records of a queue, sorted by share: one
// consistent Query of the queue's usage partition.
func (s *Store) ListUsage(ctx context.Context, queue string) ([]model.ShareUsage, error) {
	out := []model.ShareUsage{}
	var start item
	for {
		res, err := s.query(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
			ExpressionAttributeValues: item{":pk": str(pkUsage + queue)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, wrap("usage of "+queue, err)
		}
		for _, it := range res.Items {
			var u model.ShareUsage
			if err := json.Unmarshal([]byte(getS(it, attrDoc)), &u); err != nil {
				return nil, fmt.Errorf("dynamo: decode usage %s: %w", getS(it, AttrSK), err)
			}
			out = append(out, u)
		}
		if start = res.LastEvaluatedKey; len(start) == 0 {
			return out, nil
		}
	}
}

// usageAttempts bounds the read-modify-write rounds of one AddUsage.
const usageAttempts = 50

// AddUsage adds to a share's usage record atomically (model.ShareUsage.Add)
// by optimistic concurrency: a consistent read, then a PutItem conditional
// on the version read, again from the read when another writer got there
// first. The record is JSON (not a number attribute): decayed usage can
// become smaller than DynamoDB numbers can be.
func (s *Store) AddUsage(ctx context.Context, queue, share string, instances, start, end int64, tau float64) (model.ShareUsage, error) {
	if !(tau > 0) || math.IsInf(tau, 1) {
		return model.ShareUsage{}, fmt.Errorf("dynamo: usage of %s/%s: decay time constant %v must be a positive number of seconds", queue, share, tau)
	}
	k := usageKey(queue, share)
	delay := 5 * time.Millisecond
	for range usageAttempts {
		got, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return model.ShareUsage{}, wrap("read usage", err)
		}
		var u model.ShareUsage
		version := int64(0)
		cond, names, values := "attribute_not_exists(#pk)", map[string]string{"#pk": AttrPK}, item(nil)
		if got.Item != nil {
			if err := json.Unmarshal([]byte(getS(got.Item, attrDoc)), &u); err != nil {
				return model.ShareUsage{}, fmt.Errorf("dynamo: decode usage of %s/%s: %w", queue, share, err)
			}
			version = getN(got.Item, attrVersion)
			cond, names, values = "#v = :v", map[string]string{"#v": attrVersion}, item{":v": num(version)}
		}
		u.Queue, u.Share = queue, share
		next := u.Add(instances, start, end, tau)
		data, err := json.Marshal(next)
		if err != nil {
			return model.ShareUsage{}, err
		}
		it := usageKey(queue, share)
		it[attrDoc], it[attrVersion] = str(string(data)), num(version+1)
		err = retryContention(ctx, func() error {
			_, err := s.putItem(ctx, &dynamodb.PutItemInput{
				Item: it, ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			})
			return err
		})
		if err == nil {
			return next, nil
		}
		if _, refused := conditionFailed(err); !refused {
			return model.ShareUsage{}, wrap("write usage", err)
		}
		select {
		case <-ctx.Done():
			return model.ShareUsage{}, ctx.Err()
		case <-time.After(delay/2 + rand.N(delay)):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
	return model.ShareUsage{}, fmt.Errorf("dynamo: usage of %s/%s: %d writers in a row got there first: %w", queue, share, usageAttempts, store.ErrConflict)
}
