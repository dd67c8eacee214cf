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
//	SUBMITTED         <ck>         a copy of doc while the job is SUBMITTED
//	LINES#<queueArn>  S#<share>    n: how many RUNNABLE jobs the line holds
//	USAGE#<queueArn>  S#<share>    doc (model.ShareUsage JSON), version
//	CONF#ENV, CONF#POLICY, CONF#QUEUE / <name>    doc (JSON), version
//	LEASE#<name>      LEASE        holder (absent when free), token, expires (epoch ms)
//
// where ck is "<createdAt, 13 digits>#<jobId>", whose byte order is the
// contract's list order.
//
// # Indexes
//
//	heads          hk = L#<queueArn>#<share>   hs = store.DispatchKey   RUNNABLE jobs; carries doc, version
//	byQueueStatus  qs = <queueArn>#<status>    ck                       jobs in no collection; carries nm, sh
//	byStatus       st = <status>               ck                       jobs in no collection; carries nm, sh
//	byQueue        q  = <queueArn>             ck                       every job; carries nm, sh
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
// by a submission sees it. Lines are counters kept in the same transactions.
// Heads come from the heads index, eventually consistent: the scheduler's
// writes are conditional on each job's version, so a stale head costs a
// refused write, never a wrong one.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/store"
)

// DefaultRetention is how long a finished job's items live (their TTL).
const DefaultRetention = 90 * 24 * time.Hour

// Config is what New needs.
type Config struct {
	// Client is the DynamoDB client. Its retryer handles throttling (the
	// SDK's standard retryer backs off and retries throttled requests).
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

// retryConflicts runs op until it succeeds, fails otherwise than with a
// transaction conflict, or has tried conflictAttempts times, backing off
// with jitter in between. DynamoDB cancels a transaction that touches an item
// another transaction is changing, and refuses a plain write to such an item;
// both go through on a retry once the other transaction has committed.
func retryConflicts(ctx context.Context, op func() error) error {
	delay := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !isTransactionConflict(err) {
			return err
		}
		if attempt == conflictAttempts {
			return fmt.Errorf("dynamo: %d attempts lost to concurrent transactions: %w: %w", attempt, store.ErrConflict, err)
		}
		sleep := delay/2 + rand.N(delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sleep):
		}
		delay *= 2
	}
}

// isTransactionConflict reports whether err is a write lost to a concurrent
// transaction: a TransactionConflictException, or a cancelled transaction
// one of whose items conflicted while none failed its condition.
func isTransactionConflict(err error) bool {
	var tce *types.TransactionConflictException
	if errors.As(err, &tce) {
		return true
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return false
	}
	conflict := false
	for _, r := range canceled.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict":
			conflict = true
		case "ConditionalCheckFailed":
			return false
		}
	}
	return conflict
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

// wrap adds the store's prefix and what it was doing to an error.
func wrap(what string, err error) error {
	return fmt.Errorf("dynamo: %s: %w", what, err)
}
