package dynamo

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// Lines returns the lines of a queue that hold RUNNABLE jobs, sorted by
// share: one consistent Query of the queue's line counters, which the job
// transactions keep exact. A counter at zero is a line without jobs.
func (s *Store) Lines(ctx context.Context, queue string) ([]store.Line, error) {
	lines := []store.Line{}
	var start item
	for {
		out, err := s.query(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
			ExpressionAttributeValues: item{":pk": str(pkLines + queue)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, wrap("lines of "+queue, err)
		}
		for _, it := range out.Items {
			if n := getN(it, attrCount); n > 0 {
				lines = append(lines, store.Line{Queue: queue, Share: strings.TrimPrefix(getS(it, AttrSK), skShare), Runnable: n})
			}
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			return lines, nil
		}
	}
}

// Heads returns up to limit RUNNABLE jobs of one line in dispatch order, and
// whether the line holds more: a merge of the line's Shards partitions of
// the heads index, in dispatch key order, reading about limit+1 entries in
// all (the first pages of the shards at once). The index entries carry the
// jobs.
//
// The index is eventually consistent, and Heads returns what it shows: a
// head that has just left or changed is harmless (the scheduler's writes
// are conditional on each job's version, so it costs a refused write,
// never a wrong one), and a head that has just arrived shows up a moment
// later. The engine does not wait for it: the jobs a pass promotes itself
// it merges into the heads it reads (engine.promote).
func (s *Store) Heads(ctx context.Context, queue, share string, limit int) ([]*model.ServiceJob, bool, error) {
	limit = max(limit, 0)
	sources := make([]source, Shards)
	for k := range sources {
		sources[k] = source{index: IndexHeads, pkAttr: AttrHeadsPK, skAttr: AttrHeadsSK, value: headsPartition(queue, share, k), direct: true}
	}
	jobs, more, err := s.firstJobs(ctx, sources, limit)
	if err != nil {
		return nil, false, wrap("heads of "+queue+" share "+share, err)
	}
	return jobs, more, nil
}
