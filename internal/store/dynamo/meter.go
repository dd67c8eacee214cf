package dynamo

import (
	"context"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Meter adds up the capacity units the store's requests consumed, as
// DynamoDB reports them (ReturnConsumedCapacity INDEXES), so that tests and
// benchmarks can tell what an operation cost. It is safe for concurrent use;
// the zero Meter is ready.
//
// Requests that DynamoDB refuses (a failed condition, a cancelled
// transaction) report no consumption and are not counted in the units, only
// in Refused, although DynamoDB bills a refused write as if it had been made.
type Meter struct {
	mu sync.Mutex
	c  Consumed
}

// Consumed is what a Meter has counted.
type Consumed struct {
	// RCU and WCU are read and write capacity units: the table's and every
	// index's together. A read request's units are RCU, a write request's
	// (including a transaction's condition checks) WCU.
	RCU, WCU float64
	// Requests counts the requests made, Refused those refused.
	Requests, Refused int64
	// Parts splits the units by where they were consumed: "table" and each
	// index's name.
	Parts map[string]Units
}

// Units are the read and write units consumed by one part of the table.
type Units struct{ RCU, WCU float64 }

// Read returns what the meter has counted so far.
func (m *Meter) Read() Consumed {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.c
	c.Parts = maps.Clone(m.c.Parts)
	return c
}

// Reset sets the meter back to zero.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c = Consumed{}
}

// Sub returns what was consumed since before was read.
func (c Consumed) Sub(before Consumed) Consumed {
	out := Consumed{RCU: c.RCU - before.RCU, WCU: c.WCU - before.WCU, Requests: c.Requests - before.Requests, Refused: c.Refused - before.Refused, Parts: map[string]Units{}}
	for k, u := range c.Parts {
		b := before.Parts[k]
		if d := (Units{RCU: u.RCU - b.RCU, WCU: u.WCU - b.WCU}); d != (Units{}) {
			out.Parts[k] = d
		}
	}
	return out
}

// add records one request's consumption; write says whether it was a write.
func (m *Meter) add(write bool, ccs []types.ConsumedCapacity, err error) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c.Requests++
	if err != nil {
		m.c.Refused++
	}
	if m.c.Parts == nil {
		m.c.Parts = map[string]Units{}
	}
	part := func(name string, cu *float64) {
		if cu == nil || *cu == 0 {
			return
		}
		u := m.c.Parts[name]
		if write {
			u.WCU += *cu
		} else {
			u.RCU += *cu
		}
		m.c.Parts[name] = u
	}
	for _, cc := range ccs {
		total := aws.ToFloat64(cc.CapacityUnits)
		if write {
			m.c.WCU += total
		} else {
			m.c.RCU += total
		}
		if cc.Table != nil {
			part("table", cc.Table.CapacityUnits)
		}
		for name, ix := range cc.GlobalSecondaryIndexes {
			part(name, ix.CapacityUnits)
		}
	}
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

// The request wrappers below set ReturnConsumedCapacity (and the table)
// and feed the meter; every request of the store goes through one of them.

func metered[I, O any](ctx context.Context, m *Meter, write bool, in *I,
	call func(context.Context, *I, ...func(*dynamodb.Options)) (*O, error),
	consumed func(*O) []types.ConsumedCapacity) (*O, error) {
	out, err := call(ctx, in)
	var cc []types.ConsumedCapacity
	if out != nil {
		cc = consumed(out)
	}
	m.add(write, cc, err)
	return out, err
}

func (s *Store) getItem(ctx context.Context, in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = s.table, s.rcc
	return metered(ctx, s.meter, false, in, s.c.GetItem, func(o *dynamodb.GetItemOutput) []types.ConsumedCapacity { return one(o.ConsumedCapacity) })
}

func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = s.table, s.rcc
	return metered(ctx, s.meter, false, in, s.c.Query, func(o *dynamodb.QueryOutput) []types.ConsumedCapacity { return one(o.ConsumedCapacity) })
}

func (s *Store) batchGet(ctx context.Context, in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error) {
	in.ReturnConsumedCapacity = s.rcc
	return metered(ctx, s.meter, false, in, s.c.BatchGetItem, func(o *dynamodb.BatchGetItemOutput) []types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (s *Store) transactGet(ctx context.Context, in *dynamodb.TransactGetItemsInput) (*dynamodb.TransactGetItemsOutput, error) {
	in.ReturnConsumedCapacity = s.rcc
	return metered(ctx, s.meter, false, in, s.c.TransactGetItems, func(o *dynamodb.TransactGetItemsOutput) []types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (s *Store) putItem(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = s.table, s.rcc
	return metered(ctx, s.meter, true, in, s.c.PutItem, func(o *dynamodb.PutItemOutput) []types.ConsumedCapacity { return one(o.ConsumedCapacity) })
}

func (s *Store) updateItem(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = s.table, s.rcc
	return metered(ctx, s.meter, true, in, s.c.UpdateItem, func(o *dynamodb.UpdateItemOutput) []types.ConsumedCapacity { return one(o.ConsumedCapacity) })
}

func (s *Store) deleteItem(ctx context.Context, in *dynamodb.DeleteItemInput) (*dynamodb.DeleteItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = s.table, s.rcc
	return metered(ctx, s.meter, true, in, s.c.DeleteItem, func(o *dynamodb.DeleteItemOutput) []types.ConsumedCapacity { return one(o.ConsumedCapacity) })
}

func (s *Store) batchWrite(ctx context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
	in.ReturnConsumedCapacity = s.rcc
	return metered(ctx, s.meter, true, in, s.c.BatchWriteItem, func(o *dynamodb.BatchWriteItemOutput) []types.ConsumedCapacity { return o.ConsumedCapacity })
}

func (s *Store) transactWrite(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
	in.ReturnConsumedCapacity = s.rcc
	return metered(ctx, s.meter, true, in, s.c.TransactWriteItems, func(o *dynamodb.TransactWriteItemsOutput) []types.ConsumedCapacity { return o.ConsumedCapacity })
}
