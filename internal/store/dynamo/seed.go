package dynamo

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/model"
)

// SeedJobs writes jobs in their final form (every item PutJob and UpdateJob
// would have left, with the jobs' own Version) with BatchWriteItem, many at
// a time, then adds the jobs to their lines' and queues' counters: a
// backlog of thousands in seconds, for tests and benchmarks whose subject
// is what comes after. It checks nothing (client tokens, versions): it is
// not for a table in use.
func (s *Store) SeedJobs(ctx context.Context, jobs []*model.ServiceJob) error {
	var reqs []types.WriteRequest
	counters := map[[2]string]int64{}
	for _, j := range jobs {
		if err := checkJob(j); err != nil {
			return err
		}
		var exp int64
		if j.Status.Terminal() {
			exp = s.expiry(time.Now())
		}
		st, err := newJobState(j, exp)
		if err != nil {
			return err
		}
		for _, it := range []item{st.meta(), st.payload(), st.token(), st.copyItem()} {
			if it != nil {
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
			}
		}
		switch j.Status {
		case model.StatusRunnable:
			k := lineKey(j.JobQueue, j.ShareIdentifier)
			counters[[2]string{getS(k, AttrPK), getS(k, AttrSK)}]++
		case model.StatusSubmitted:
			k := countKey(j.JobQueue, shardOf(j.JobID))
			counters[[2]string{getS(k, AttrPK), getS(k, AttrSK)}]++
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	chunks := make(chan []types.WriteRequest)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range chunks {
				if err := s.batchWriteAll(ctx, chunk); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		}()
	}
	for len(reqs) > 0 {
		n := min(len(reqs), 25)
		chunks <- reqs[:n]
		reqs = reqs[n:]
	}
	close(chunks)
	wg.Wait()
	if first != nil {
		return first
	}
	for k, n := range counters {
		if err := s.addCounter(ctx, key(k[0], k[1]), n); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) batchWriteAll(ctx context.Context, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{*s.table: reqs}
	for len(pending) > 0 {
		out, err := s.batchWrite(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return err
		}
		pending = out.UnprocessedItems
	}
	return nil
}

// addCounter adds d to a counter item.
func (s *Store) addCounter(ctx context.Context, k item, d int64) error {
	_, err := s.updateItem(ctx, &dynamodb.UpdateItemInput{
		Key: k, UpdateExpression: aws.String("ADD #n :d"),
		ExpressionAttributeNames: map[string]string{"#n": attrCount}, ExpressionAttributeValues: item{":d": num(d)},
	})
	return err
}
