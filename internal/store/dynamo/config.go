package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// configKind describes one kind of configuration record, kept by name under
// its own partition (CONF#ENV, CONF#POLICY, CONF#QUEUE), so that one set of
// functions serves all three kinds. A record is its JSON (doc) and version.
type configKind[T any] struct {
	pk      string
	noun    string
	name    func(*T) string
	version func(*T) *int64
}

func environments() configKind[model.ServiceEnvironment] {
	return configKind[model.ServiceEnvironment]{
		pk: pkEnv, noun: "service environment",
		name:    func(e *model.ServiceEnvironment) string { return e.Name },
		version: func(e *model.ServiceEnvironment) *int64 { return &e.Version },
	}
}

func policies() configKind[model.SchedulingPolicy] {
	return configKind[model.SchedulingPolicy]{
		pk: pkPolicy, noun: "scheduling policy",
		name:    func(p *model.SchedulingPolicy) string { return p.Name },
		version: func(p *model.SchedulingPolicy) *int64 { return &p.Version },
	}
}

func queues() configKind[model.JobQueue] {
	return configKind[model.JobQueue]{
		pk: pkQueue, noun: "job queue",
		name:    func(q *model.JobQueue) string { return q.Name },
		version: func(q *model.JobQueue) *int64 { return &q.Version },
	}
}

// quotaShares are kept in one partition, under their queue's name and
// their own (store.QuotaShareKey), so a queue's shares are one Query.
func quotaShares() configKind[model.QuotaShare] {
	return configKind[model.QuotaShare]{
		pk: pkQuotaShare, noun: "quota share",
		name:    store.QuotaShareKeyOf,
		version: func(q *model.QuotaShare) *int64 { return &q.Version },
	}
}

func (k configKind[T]) item(rec *T) (item, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("dynamo: encode %s %s: %w", k.noun, k.name(rec), err)
	}
	it := key(k.pk, k.name(rec))
	it[attrDoc] = str(string(data))
	it[attrVersion] = num(*k.version(rec))
	return it, nil
}

func (k configKind[T]) decode(it item) (*T, error) {
	r := new(T)
	if err := json.Unmarshal([]byte(getS(it, attrDoc)), r); err != nil {
		return nil, fmt.Errorf("dynamo: decode %s %s: %w", k.noun, getS(it, AttrSK), err)
	}
	*k.version(r) = getN(it, attrVersion)
	return r, nil
}

// create stores v with Version 1 unless its name is taken: a PutItem
// conditional on attribute_not_exists.
func (k configKind[T]) create(ctx context.Context, s *Store, v *T) (*T, error) {
	if v == nil {
		return nil, fmt.Errorf("dynamo: create of a nil %s", k.noun)
	}
	rec := *v
	*k.version(&rec) = 1
	if k.name(&rec) == "" {
		return nil, fmt.Errorf("dynamo: %s has no name", k.noun)
	}
	it, err := k.item(&rec)
	if err != nil {
		return nil, err
	}
	_, err = s.putItem(ctx, &dynamodb.PutItemInput{
		Item: it, ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if _, refused := conditionFailed(err); refused {
		return nil, fmt.Errorf("%s %s: %w", k.noun, k.name(&rec), store.ErrAlreadyExists)
	}
	if err != nil {
		return nil, wrap("create "+k.noun+" "+k.name(&rec), err)
	}
	return k.decode(it)
}

// get reads the named record consistently or returns ErrNotFound.
func (k configKind[T]) get(ctx context.Context, s *Store, name string) (*T, error) {
	if name == "" {
		return nil, fmt.Errorf("%s %q: %w", k.noun, name, store.ErrNotFound)
	}
	out, err := s.getItem(ctx, &dynamodb.GetItemInput{Key: key(k.pk, name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, wrap("get "+k.noun+" "+name, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("%s %s: %w", k.noun, name, store.ErrNotFound)
	}
	return k.decode(out.Item)
}

// list returns every record, sorted by name: one consistent Query of the
// kind's partition (sort key order is name order).
func (k configKind[T]) list(ctx context.Context, s *Store) ([]*T, error) {
	return k.listPrefix(ctx, s, "")
}

// listPrefix returns the records whose name starts with prefix, sorted by
// name.
func (k configKind[T]) listPrefix(ctx context.Context, s *Store, prefix string) ([]*T, error) {
	out := []*T{}
	var start item
	cond, names, values := "#pk = :pk", map[string]string{"#pk": AttrPK}, item{":pk": str(k.pk)}
	if prefix != "" {
		cond += " AND begins_with(#sk, :prefix)"
		names["#sk"], values[":prefix"] = AttrSK, str(prefix)
	}
	for {
		res, err := s.query(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, wrap("list "+k.noun, err)
		}
		for _, it := range res.Items {
			r, err := k.decode(it)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if start = res.LastEvaluatedKey; len(start) == 0 {
			return out, nil
		}
	}
}

// update replaces the record named by v if its stored Version equals v's: a
// PutItem conditional on the version, whose refusal returns the stored item
// (none: ErrNotFound; another version: ErrConflict).
func (k configKind[T]) update(ctx context.Context, s *Store, v *T) (*T, error) {
	if v == nil {
		return nil, fmt.Errorf("dynamo: update of a nil %s", k.noun)
	}
	rec := *v
	name, was := k.name(&rec), *k.version(&rec)
	if name == "" {
		return nil, fmt.Errorf("%s %q: %w", k.noun, name, store.ErrNotFound)
	}
	*k.version(&rec) = was + 1
	it, err := k.item(&rec)
	if err != nil {
		return nil, err
	}
	_, err = s.putItem(ctx, &dynamodb.PutItemInput{
		Item: it, ConditionExpression: aws.String("#v = :v"),
		ExpressionAttributeNames: map[string]string{"#v": attrVersion}, ExpressionAttributeValues: item{":v": num(was)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if stored, refused := conditionFailed(err); refused {
		if stored == nil {
			return nil, fmt.Errorf("%s %s: %w", k.noun, name, store.ErrNotFound)
		}
		return nil, fmt.Errorf("%s %s: stored version %d, update of version %d: %w", k.noun, name, getN(stored, attrVersion), was, store.ErrConflict)
	}
	if err != nil {
		return nil, wrap("update "+k.noun+" "+name, err)
	}
	return k.decode(it)
}

// del removes the named record or returns ErrNotFound: a DeleteItem
// conditional on attribute_exists.
func (k configKind[T]) del(ctx context.Context, s *Store, name string) error {
	if name == "" {
		return fmt.Errorf("%s %q: %w", k.noun, name, store.ErrNotFound)
	}
	_, err := s.deleteItem(ctx, &dynamodb.DeleteItemInput{
		Key: key(k.pk, name), ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if _, refused := conditionFailed(err); refused {
		return fmt.Errorf("%s %s: %w", k.noun, name, store.ErrNotFound)
	}
	if err != nil {
		return wrap("delete "+k.noun+" "+name, err)
	}
	return nil
}

// CreateEnvironment stores a new service environment with Version 1.
func (s *Store) CreateEnvironment(ctx context.Context, e *model.ServiceEnvironment) (*model.ServiceEnvironment, error) {
	return environments().create(ctx, s, e)
}

// GetEnvironment returns a service environment by name.
func (s *Store) GetEnvironment(ctx context.Context, name string) (*model.ServiceEnvironment, error) {
	return environments().get(ctx, s, name)
}

// ListEnvironments returns every service environment, sorted by name.
func (s *Store) ListEnvironments(ctx context.Context) ([]*model.ServiceEnvironment, error) {
	return environments().list(ctx, s)
}

// UpdateEnvironment replaces a service environment of an unchanged Version.
func (s *Store) UpdateEnvironment(ctx context.Context, e *model.ServiceEnvironment) (*model.ServiceEnvironment, error) {
	return environments().update(ctx, s, e)
}

// DeleteEnvironment removes a service environment.
func (s *Store) DeleteEnvironment(ctx context.Context, name string) error {
	return environments().del(ctx, s, name)
}

// CreatePolicy stores a new scheduling policy with Version 1.
func (s *Store) CreatePolicy(ctx context.Context, p *model.SchedulingPolicy) (*model.SchedulingPolicy, error) {
	return policies().create(ctx, s, p)
}

// GetPolicy returns a scheduling policy by name.
func (s *Store) GetPolicy(ctx context.Context, name string) (*model.SchedulingPolicy, error) {
	return policies().get(ctx, s, name)
}

// ListPolicies returns every scheduling policy, sorted by name.
func (s *Store) ListPolicies(ctx context.Context) ([]*model.SchedulingPolicy, error) {
	return policies().list(ctx, s)
}

// UpdatePolicy replaces a scheduling policy of an unchanged Version.
func (s *Store) UpdatePolicy(ctx context.Context, p *model.SchedulingPolicy) (*model.SchedulingPolicy, error) {
	return policies().update(ctx, s, p)
}

// DeletePolicy removes a scheduling policy.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	return policies().del(ctx, s, name)
}

// CreateQueue stores a new job queue with Version 1.
func (s *Store) CreateQueue(ctx context.Context, q *model.JobQueue) (*model.JobQueue, error) {
	return queues().create(ctx, s, q)
}

// GetQueue returns a job queue by name.
func (s *Store) GetQueue(ctx context.Context, name string) (*model.JobQueue, error) {
	return queues().get(ctx, s, name)
}

// ListQueues returns every job queue, sorted by name.
func (s *Store) ListQueues(ctx context.Context) ([]*model.JobQueue, error) {
	return queues().list(ctx, s)
}

// UpdateQueue replaces a job queue of an unchanged Version.
func (s *Store) UpdateQueue(ctx context.Context, q *model.JobQueue) (*model.JobQueue, error) {
	return queues().update(ctx, s, q)
}

// DeleteQueue removes a job queue.
func (s *Store) DeleteQueue(ctx context.Context, name string) error {
	return queues().del(ctx, s, name)
}

// CreateQuotaShare stores a new quota share with Version 1.
func (s *Store) CreateQuotaShare(ctx context.Context, q *model.QuotaShare) (*model.QuotaShare, error) {
	return quotaShares().create(ctx, s, q)
}

// GetQuotaShare returns a quota share of a queue by name.
func (s *Store) GetQuotaShare(ctx context.Context, queue, name string) (*model.QuotaShare, error) {
	return quotaShares().get(ctx, s, store.QuotaShareKey(queue, name))
}

// ListQuotaShares returns the quota shares of a queue, sorted by name.
func (s *Store) ListQuotaShares(ctx context.Context, queue string) ([]*model.QuotaShare, error) {
	return quotaShares().listPrefix(ctx, s, store.QuotaShareKey(queue, ""))
}

// UpdateQuotaShare replaces a quota share of an unchanged Version.
func (s *Store) UpdateQuotaShare(ctx context.Context, q *model.QuotaShare) (*model.QuotaShare, error) {
	return quotaShares().update(ctx, s, q)
}

// DeleteQuotaShare removes a quota share.
func (s *Store) DeleteQuotaShare(ctx context.Context, queue, name string) error {
	return quotaShares().del(ctx, s, store.QuotaShareKey(queue, name))
}
