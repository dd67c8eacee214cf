package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SetScanBudget changes how many items one ListJobs page may evaluate.
func (s *Store) SetScanBudget(n int) { s.scanBudget = n }

// RawItem returns the stored item of a key, as DynamoDB holds it.
func (s *Store) RawItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := s.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: s.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// ShardOf is the shard of a job.
func ShardOf(jobID string) int { return shardOf(jobID) }
