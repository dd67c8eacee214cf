package dynamo

import (
	"context"
	"strings"
	"time"

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

// headsLagWaits bounds how often Heads waits for the heads index to catch
// up with the line's counter: 20ms, doubling, about 0.6s in all.
const headsLagWaits = 5

// Heads returns up to limit RUNNABLE jobs of one line in dispatch order, and
// whether the line holds more: a Query of the line's partition of the heads
// index for limit+1 entries, which carry the jobs.
//
// The index is eventually consistent. A head that has just left or changed
// is harmless: the scheduler's writes are conditional on each job's version,
// so it costs a refused write, never a wrong one. A head that has just
// arrived (promoted by the same pass a moment ago) would be missed until the
// next pass, which may be a minute away; so when the page is short, Heads
// reads the line's counter (consistent, kept by the job transactions) and,
// while the index shows fewer jobs than the counter, waits a little and
// reads again. If the index is still behind after that, Heads returns what
// it shows, as all there is: saying "more" would only make the scheduler
// ask again at once for jobs the index cannot show yet.
func (s *Store) Heads(ctx context.Context, queue, share string, limit int) ([]*model.ServiceJob, bool, error) {
	limit = max(limit, 0)
	delay := 20 * time.Millisecond
	for wait := 0; ; wait++ {
		jobs, more, err := s.readHeads(ctx, queue, share, limit)
		if err != nil || more || len(jobs) == limit {
			return jobs, more, err
		}
		n, err := s.lineCount(ctx, queue, share)
		if err != nil {
			return nil, false, err
		}
		if int64(len(jobs)) >= n || wait == headsLagWaits {
			return jobs, false, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// readHeads is one read of the heads index.
func (s *Store) readHeads(ctx context.Context, queue, share string, limit int) ([]*model.ServiceJob, bool, error) {
	jobs := []*model.ServiceJob{}
	var start item
	for {
		out, err := s.query(ctx, &dynamodb.QueryInput{
			IndexName:                 aws.String(IndexHeads),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrHeadsPK},
			ExpressionAttributeValues: item{":pk": str(headsPartition(queue, share))},
			Limit:                     aws.Int32(int32(min(limit+1-len(jobs), maxLimit))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, false, wrap("heads of "+queue+" share "+share, err)
		}
		for _, it := range out.Items {
			if len(jobs) == limit {
				return jobs, true, nil
			}
			j, err := decodeJob(it)
			if err != nil {
				return nil, false, err
			}
			jobs = append(jobs, j)
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			return jobs, false, nil
		}
	}
}

// lineCount reads a line's counter consistently.
func (s *Store) lineCount(ctx context.Context, queue, share string) (int64, error) {
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: lineKey(queue, share), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, wrap("line of "+queue+" share "+share, err)
	}
	return getN(out.Item, attrCount), nil
}
