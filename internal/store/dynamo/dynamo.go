// Package dynamo is sagequeue's cloud store: the store.Store contract kept in
// one DynamoDB table (single-table design, PAY_PER_REQUEST), used by the
// Lambda functions. docs/dynamodb.md describes every item, index, access
// pattern, condition and cost; this comment is the short version.
//
// # Items (PK / SK)
//
//	JOB#<jobId>       META         the job without its payload (doc, compressed JSON), version,
//	                               the index attributes below; expiresAt once it has finished
//	JOB#<jobId>       PAYLOAD      serviceRequestPayload (p, compressed), written once; expiresAt
//	TOKEN#<token>     TOKEN        jobId of the job holding a client token; expiresAt
//	ACTIVE            <ck>         a copy of doc while the job is SCHEDULED, STARTING or RUNNING
//	SUBMITTED#<k>     <ck>         a copy of doc while the job is SUBMITTED
//	COUNT#<k>         SUBMITTED#<queueArn>   n: how many of the queue's jobs are SUBMITTED
//	LINES#<queueArn>  S#<share>    n: how many RUNNABLE jobs the line holds
//	USAGE#<queueArn>  S#<share>    doc (model.ShareUsage JSON), version
//	CONF#ENV, CONF#POLICY, CONF#QUEUE / <name>    doc (JSON), version
//	LEASE#<name>      LEASE        holder (absent when free), token, expires (epoch ms)
//
// where ck is "<createdAt, 13 digits>#<jobId>", whose byte order is the
// contract's list order, and k is the job's shard (Shards): every key each
// job writes at submission and promotion is split by it, so that a burst
// spreads over Shards partitions of each.
//
// # Indexes
//
//	heads          hk = L#<queueArn>#<share>#<k>   hs = store.DispatchKey   RUNNABLE jobs; carries doc, version
//	byQueueStatus  qs = <queueArn>#<status>#<k>    ck                       jobs in no collection; carries nm, sh
//	byStatus       st = <status>#<k>               ck                       jobs in no collection; carries nm, sh
//	byQueue        q  = <queueArn>#<k>             ck                       every job; carries nm, sh
//
// The list indexes carry only attributes that never change after PutJob
// (nm, the lower-cased name, and sh, the share), so an update that keeps a
// job's status writes none of them; lists read keys there and the jobs from
// their META items.
//
// # Consistency
//
// The jobs holding capacity, and those waiting to be promoted, are listed
// from their collection (ACTIVE, SUBMITTED) with a consistent Query: the copy
// there is written in the same TransactWriteItems as the job, so the
// scheduler never counts capacity from a lagging index, and a pass triggered
// by a submission sees it. Lines and SUBMITTED counts are counters kept in
// the same transactions. Heads come from the heads index, eventually
// consistent: the scheduler's writes are conditional on each job's version,
// so a stale head costs a refused write, never a wrong one.
//
// # Contention
//
// Transactions cancelled for conflicts or throttling are retried here (the
// SDK's retryer cannot tell them apart); what stays throttled is
// store.ErrThrottled. RetryOptions sets a client's retryer for DynamoDB.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/store"
)

// DefaultRetention is how long a finished job's items live (their TTL).
const DefaultRetention = 90 * 24 * time.Hour

// Config is what New needs.
type Config struct {
	// Client is the DynamoDB client. Its retryer handles throttled requests
	// (give it RetryOptions); the store retries what the retryer cannot
	// see: transactions cancelled for conflicts or throttling.
	Client *dynamodb.Client
	// Table is the table's name; CreateTable (or the CDK stack) defines it.
	Table string
	// Retention is the time to live of a finished job (SUCCEEDED or FAILED):
	// its items get expiresAt = time of finishing + Retention. Default 90 days.
	Retention time.Duration
	// Meter, when not nil, adds up the capacity every request consumed:
	// the store then asks for it (ReturnConsumedCapacity INDEXES, the total
	// and each table and index) on every request, and not otherwise.
	Meter *Meter
}

// Store is a store.Store in one DynamoDB table. It is safe for concurrent use.
type Store struct {
	c         *dynamodb.Client
	table     *string
	retention time.Duration
	meter     *Meter
	rcc       types.ReturnConsumedCapacity
	// scanBudget bounds the items one ListJobs page evaluates (see
	// defaultScanBudget).
	scanBudget int
}

var _ store.Store = (*Store)(nil)

// New returns a store on an existing table, after checking that the table
// has the keys and indexes this package uses.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Client == nil || cfg.Table == "" {
		return nil, errors.New("dynamo: a client and a table name are required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	s := &Store{c: cfg.Client, table: aws.String(cfg.Table), retention: cfg.Retention, meter: cfg.Meter, rcc: types.ReturnConsumedCapacityNone, scanBudget: defaultScanBudget}
	if cfg.Meter != nil {
		s.rcc = types.ReturnConsumedCapacityIndexes
	}
	out, err := s.c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: s.table})
	if err != nil {
		return nil, fmt.Errorf("dynamo: table %s: %w", cfg.Table, err)
	}
	if err := checkTable(out.Table); err != nil {
		return nil, fmt.Errorf("dynamo: table %s: %w", cfg.Table, err)
	}
	return s, nil
}

// Close does nothing: the client holds no resources of the store's.
func (s *Store) Close() error { return nil }

// Attribute names. The table and index key attributes, and the TTL
// attribute, are part of the table definition (TableDefinition) that the
// CDK stack mirrors.
const (
	AttrPK        = "PK"
	AttrSK        = "SK"
	AttrExpiresAt = "expiresAt" // TTL, epoch seconds

	AttrHeadsPK = "hk" // heads: L#<queueArn>#<share>
	AttrHeadsSK = "hs" // heads: store.DispatchKey
	AttrQS      = "qs" // byQueueStatus: <queueArn>#<status>
	AttrStatus  = "st" // byStatus: <status>
	AttrQueue   = "q"  // byQueue: <queueArn>
	AttrCK      = "ck" // list order: <createdAt 13 digits>#<jobId>
	AttrName    = "nm" // lower-cased jobName, for the name filter
	AttrShare   = "sh" // shareIdentifier, for the share filter

	attrDoc     = "doc"
	attrVersion = "version"
	attrPayload = "p"
	attrJobID   = "jobId"
	attrCount   = "n"
	attrJQ      = "jq" // collection copies: queue (not AttrQueue, which would index them)
	attrJS      = "js" // collection copies: status
	attrHolder  = "holder"
	attrToken   = "token"
	attrExpires = "expires"
)

// Index names.
const (
	IndexHeads         = "heads"
	IndexByQueueStatus = "byQueueStatus"
	IndexByStatus      = "byStatus"
	IndexByQueue       = "byQueue"
)

// listProjection is what the list indexes carry besides their keys: the
// attributes the filters read, which never change after PutJob.
var listProjection = []string{AttrName, AttrShare}

// headsProjection is what the heads index carries: the job itself, so a
// scheduling pass reads its candidates in one Query.
var headsProjection = []string{attrDoc, attrVersion}

// TableDefinition is the table sagequeue's store needs, as a CreateTable
// request: the CDK stack declares the same keys, indexes and projections
// (and TimeToLiveAttribute AttrExpiresAt, which CreateTable cannot set).
func TableDefinition(name string) *dynamodb.CreateTableInput {
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	gsi := func(name, pk, sk string, include []string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: keys(pk, sk),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: include},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			str(AttrPK), str(AttrSK), str(AttrHeadsPK), str(AttrHeadsSK), str(AttrQS), str(AttrStatus), str(AttrQueue), str(AttrCK),
		},
		KeySchema: keys(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(IndexHeads, AttrHeadsPK, AttrHeadsSK, headsProjection),
			gsi(IndexByQueueStatus, AttrQS, AttrCK, listProjection),
			gsi(IndexByStatus, AttrStatus, AttrCK, listProjection),
			gsi(IndexByQueue, AttrQueue, AttrCK, listProjection),
		},
	}
}

// CreateTable creates the store's table (TableDefinition), waits until it is
// active and turns on its time to live. For tests and local use: in the
// cloud the CDK stack owns the table.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	if _, err := client.CreateTable(ctx, TableDefinition(name)); err != nil {
		return fmt.Errorf("dynamo: create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 5*time.Minute); err != nil {
		return fmt.Errorf("dynamo: waiting for table %s: %w", name, err)
	}
	_, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrExpiresAt), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("dynamo: time to live of table %s: %w", name, err)
	}
	return nil
}

// checkTable compares a described table with TableDefinition: the keys and
// every index this package queries.
func checkTable(t *types.TableDescription) error {
	if t == nil {
		return errors.New("no description")
	}
	want := TableDefinition("")
	if !sameKeys(t.KeySchema, want.KeySchema) {
		return fmt.Errorf("its key is not %s/%s", AttrPK, AttrSK)
	}
	have := map[string][]types.KeySchemaElement{}
	for _, g := range t.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = g.KeySchema
	}
	for _, g := range want.GlobalSecondaryIndexes {
		ks, ok := have[aws.ToString(g.IndexName)]
		if !ok || !sameKeys(ks, g.KeySchema) {
			return fmt.Errorf("it lacks the index %s (see dynamo.TableDefinition)", aws.ToString(g.IndexName))
		}
	}
	return nil
}

func sameKeys(a, b []types.KeySchemaElement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if aws.ToString(a[i].AttributeName) != aws.ToString(b[i].AttributeName) || a[i].KeyType != b[i].KeyType {
			return false
		}
	}
	return true
}

// conflictAttempts is how often a write that lost a race with a concurrent
// transaction (TransactionConflict) is tried before it reports ErrConflict.
const conflictAttempts = 6

// throttleAttempts is how often a write refused for throughput is tried
// before it reports ErrThrottled; throttleBackoff and maxThrottleBackoff
// space the tries (doubling, jittered): about 15 s in all, which spans the
// time DynamoDB takes to add capacity to a partition that has run hot.
const throttleAttempts = 10

var (
	throttleBackoff    = 50 * time.Millisecond
	maxThrottleBackoff = 3 * time.Second
)

// retryContention runs op until it succeeds, fails otherwise than with
// contention, or has tried too often, backing off with jitter in between.
// Contention is of two kinds:
//
//   - a transaction conflict: DynamoDB cancels a transaction that touches an
//     item another transaction is changing, and refuses a plain write to
//     such an item; both go through once the other has committed
//     (conflictAttempts, then ErrConflict).
//   - throttling: a transaction whose cancellation reasons say
//     ThrottlingError or ProvisionedThroughputExceeded, which the SDK's
//     retryer does not retry (it only knows the error codes of whole
//     requests), and a request the SDK gave up retrying for throttling
//     (throttleAttempts, then ErrThrottled).
//
// A transaction that one of its conditions refused is never retried: the
// refusal is the answer, whatever else the reasons say.
func retryContention(ctx context.Context, op func() error) error {
	conflicts, throttles := 0, 0
	delay := 10 * time.Millisecond
	for {
		err := op()
		var wait time.Duration
		switch contentionOf(err) {
		case contentionConflict:
			if conflicts++; conflicts == conflictAttempts {
				return fmt.Errorf("dynamo: %d attempts lost to concurrent transactions: %w: %w", conflicts, store.ErrConflict, err)
			}
			wait = delay
			delay *= 2
		case contentionThrottled:
			if throttles++; throttles == throttleAttempts {
				return fmt.Errorf("dynamo: refused for throughput %d times: %w: %w", throttles, store.ErrThrottled, err)
			}
			wait = min(throttleBackoff<<(throttles-1), maxThrottleBackoff)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after %v)", ctx.Err(), err)
		case <-time.After(wait/2 + rand.N(wait)):
		}
	}
}

type contention int

const (
	contentionNone contention = iota
	contentionConflict
	contentionThrottled
)

// contentionOf tells a write lost to contention apart from the rest.
func contentionOf(err error) contention {
	if err == nil {
		return contentionNone
	}
	var tce *types.TransactionConflictException
	if errors.As(err, &tce) {
		return contentionConflict
	}
	if isThrottle(err) {
		return contentionThrottled
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return contentionNone
	}
	out := contentionNone
	for _, r := range canceled.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "ConditionalCheckFailed":
			return contentionNone
		case "ThrottlingError", "ProvisionedThroughputExceeded":
			out = contentionThrottled
		case "TransactionConflict":
			if out == contentionNone {
				out = contentionConflict
			}
		}
	}
	return out
}

// isTransactionConflict reports whether err is a write lost to a concurrent
// transaction: a TransactionConflictException, or a cancelled transaction
// one of whose items conflicted while none failed its condition or was
// throttled.
func isTransactionConflict(err error) bool { return contentionOf(err) == contentionConflict }

// throttleCodes are the error codes of whole requests that DynamoDB refused
// for throughput: the table's or an index's partition (on-demand tables
// too), or the account's request rate.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
}

// isThrottle reports a request refused for throughput as a whole.
func isThrottle(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
}

// cancellation returns the reasons of a cancelled transaction, or nil when
// err is something else.
func cancellation(err error) []types.CancellationReason {
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		return canceled.CancellationReasons
	}
	return nil
}

func failedCondition(r types.CancellationReason) bool {
	return aws.ToString(r.Code) == "ConditionalCheckFailed"
}

// conditionFailed returns the old item of a write refused by its condition
// (nil when there was none) and whether err is such a refusal.
func conditionFailed(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

// wrap adds the store's prefix and what it was doing to an error, and
// ErrThrottled to a request the SDK gave up retrying for throttling.
func wrap(what string, err error) error {
	if isThrottle(err) && !errors.Is(err, store.ErrThrottled) {
		return fmt.Errorf("dynamo: %s: %w: %w", what, store.ErrThrottled, err)
	}
	return fmt.Errorf("dynamo: %s: %w", what, err)
}

// RetryOptions sets the retries of a DynamoDB client for the store: up to
// 10 attempts of a throttled or failed request, backing off from 25 ms
// (doubling, full jitter, at most 2 s), without the SDK's retry quota. The
// SDK's standard retryer backs off from up to 1 s at the first retry and
// gives up once its quota of retries is spent: made for services whose
// throttling means "slow down for a while", not for DynamoDB's, which
// means "this partition is busy this second". Use it on every client of
// the store:
//
//	dynamodb.NewFromConfig(cfg, dynamo.RetryOptions)
func RetryOptions(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 10
		so.MaxBackoff = 2 * time.Second
		so.Backoff = jitterBackoff{base: 25 * time.Millisecond, max: 2 * time.Second}
		so.RateLimiter = ratelimit.None
	})
}

// jitterBackoff is exponential backoff with full jitter.
type jitterBackoff struct{ base, max time.Duration }

func (b jitterBackoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	d := b.max
	if attempt < 20 {
		d = min(b.base<<attempt, b.max)
	}
	return rand.N(d + 1), nil
}
