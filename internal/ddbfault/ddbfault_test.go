package ddbfault_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/ddbfault"
	"github.com/sagequeue/sagequeue/internal/ddblocal"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

var ctx = context.Background()

// table creates a table with key PK/SK and an index "idx" on G/H that
// carries the attribute v.
func table(t *testing.T, p *ddbfault.Proxy) (*dynamodb.Client, string) {
	t.Helper()
	direct := ddblocal.Client(t)
	name := ddblocal.TableName(t)
	s := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	keys := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(sk), KeyType: types.KeyTypeRange}}
	}
	_, err := direct.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{s("PK"), s("SK"), s("G"), s("H")}, KeySchema: keys("PK", "SK"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("idx"), KeySchema: keys("G", "H"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"v"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		direct.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return dynamodb.NewFromConfig(ddblocal.Config(p.URL())), name
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func put(t *testing.T, c *dynamodb.Client, table, pk, g, h, v string) {
	t.Helper()
	it := map[string]types.AttributeValue{"PK": str(pk), "SK": str("x"), "v": str(v)}
	if g != "" {
		it["G"], it["H"] = str(g), str(h)
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

// index reads a partition of ix, a page of limit at a time, and returns
// "pk=v" of each entry in order.
func index(t *testing.T, c *dynamodb.Client, table, g string, limit int32) []string {
	t.Helper()
	out := []string{}
	var start map[string]types.AttributeValue
	for range 100 {
		res, err := c.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(table), IndexName: aws.String("idx"), KeyConditionExpression: aws.String("G = :g"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":g": str(g)}, Limit: aws.Int32(limit), ExclusiveStartKey: start,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			out = append(out, it["PK"].(*types.AttributeValueMemberS).Value+"="+it["v"].(*types.AttributeValueMemberS).Value)
		}
		if start = res.LastEvaluatedKey; start == nil {
			return out
		}
	}
	t.Fatal("pagination does not end")
	return nil
}

// TestIndexLag writes through a proxy whose indexes lag by 700ms and
// checks that queries of the index see the past: a new entry late, a
// removed one still, a changed one as it was, and pages that keep their
// order and size.
func TestIndexLag(t *testing.T) {
	const lag = 700 * time.Millisecond
	p := ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Faults{IndexLag: lag})
	c, name := table(t, p)
	for i := range 5 {
		put(t, c, name, fmt.Sprintf("a%d", i), "A", fmt.Sprint(i), "old")
	}
	if got := index(t, c, name, "A", 10); len(got) != 0 {
		t.Fatalf("entries written a moment ago are already visible: %v", got)
	}
	time.Sleep(lag + 100*time.Millisecond)
	want := []string{"a0=old", "a1=old", "a2=old", "a3=old", "a4=old"}
	if got := index(t, c, name, "A", 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the lag: %v, want %v", got, want)
	}
	// a1 and a3 move to partition B, a2 changes its value, a4 leaves the
	// index; for the length of the lag, A still shows them as they were.
	put(t, c, name, "a1", "B", "1", "moved")
	put(t, c, name, "a3", "B", "3", "moved")
	put(t, c, name, "a2", "A", "2", "new")
	put(t, c, name, "a4", "", "", "gone")
	for _, limit := range []int32{2, 10} {
		if got := index(t, c, name, "A", limit); !reflect.DeepEqual(got, want) {
			t.Fatalf("within the lag, pages of %d: %v, want %v", limit, got, want)
		}
	}
	if got := index(t, c, name, "B", 10); len(got) != 0 {
		t.Fatalf("entries moved a moment ago already show in their new partition: %v", got)
	}
	time.Sleep(lag + 100*time.Millisecond)
	if got := index(t, c, name, "A", 2); !reflect.DeepEqual(got, []string{"a0=old", "a2=new"}) {
		t.Fatalf("after the lag: %v", got)
	}
	if got := index(t, c, name, "B", 1); !reflect.DeepEqual(got, []string{"a1=moved", "a3=moved"}) {
		t.Fatalf("after the lag: %v", got)
	}
	if st := p.Stats(); st.Hidden == 0 || st.Restored == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestThrottling checks the faults as the SDK sees them: the error types
// of throttled requests and cancelled transactions, batches answered in
// part, and that a client that retries gets through.
func TestThrottling(t *testing.T) {
	p := ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Faults{})
	_, name := table(t, p)
	once := dynamodb.NewFromConfig(ddblocal.Config(p.URL()), func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	p.Set(ddbfault.Faults{ThrottleRate: 1})
	seen := map[string]bool{}
	for range 40 {
		_, err := once.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: map[string]types.AttributeValue{"PK": str("p"), "SK": str("x")}})
		var pte *types.ProvisionedThroughputExceededException
		var te *types.ThrottlingException
		switch {
		case errors.As(err, &pte):
			seen["ProvisionedThroughputExceeded"] = true
		case errors.As(err, &te):
			seen["Throttling"] = true
		default:
			t.Fatalf("a throttled PutItem: %v", err)
		}
		_, err = once.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(name), Item: map[string]types.AttributeValue{"PK": str("t1"), "SK": str("x")}}},
			{Put: &types.Put{TableName: aws.String(name), Item: map[string]types.AttributeValue{"PK": str("t2"), "SK": str("x")}}},
		}})
		var tce *types.TransactionCanceledException
		switch {
		case errors.As(err, &tce):
			codes := []string{aws.ToString(tce.CancellationReasons[0].Code), aws.ToString(tce.CancellationReasons[1].Code)}
			if !reflect.DeepEqual(codes, []string{"None", "ThrottlingError"}) && !reflect.DeepEqual(codes, []string{"ThrottlingError", "None"}) {
				t.Fatalf("cancellation reasons %v", codes)
			}
			seen["TransactionCanceled"] = true
		case errors.As(err, &pte):
		default:
			t.Fatalf("a throttled transaction: %v", err)
		}
		keys := []map[string]types.AttributeValue{{"PK": str("a"), "SK": str("x")}, {"PK": str("b"), "SK": str("x")}}
		out, err := once.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{name: {Keys: keys}}})
		if err == nil {
			if len(out.UnprocessedKeys[name].Keys) == 0 {
				t.Fatalf("a throttled batch answered whole")
			}
			seen["Unprocessed"] = true
		}
	}
	for _, k := range []string{"ProvisionedThroughputExceeded", "Throttling", "TransactionCanceled", "Unprocessed"} {
		if !seen[k] {
			t.Errorf("never saw %s in 40 tries: %v", k, seen)
		}
	}
	p.Set(ddbfault.Faults{ConflictRate: 1})
	_, err := once.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(name), Item: map[string]types.AttributeValue{"PK": str("t1"), "SK": str("x")}}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || aws.ToString(tce.CancellationReasons[0].Code) != "TransactionConflict" {
		t.Fatalf("a conflicting transaction: %v", err)
	}

	// A client that retries gets through a table that throttles a third of
	// its requests.
	p.Set(ddbfault.Faults{ThrottleRate: 0.3})
	retrying := dynamodb.NewFromConfig(ddblocal.Config(p.URL()), func(o *dynamodb.Options) { o.RetryMaxAttempts = 20 })
	for i := range 30 {
		if _, err := retrying.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: map[string]types.AttributeValue{"PK": str(fmt.Sprint(i)), "SK": str("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Stats(); st.Throttled == 0 || st.Canceled == 0 || st.Partial == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestKeyLoad meters a transaction and a query and checks where the units
// went.
func TestKeyLoad(t *testing.T) {
	p := ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Faults{})
	c, name := table(t, p)
	load := p.MeterKeys()
	item := func(pk, g string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"PK": str(pk), "SK": str("x"), "G": str(g), "H": str(pk), "v": str("value")}
	}
	_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(name), Item: item("k1", "hot")}},
		{Put: &types.Put{TableName: aws.String(name), Item: item("k2", "hot")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, name, "k1", "cold", "k1", "moved") // leaves hot, joins cold
	index(t, c, name, "cold", 10)
	got := load.Parts()
	want := map[ddbfault.Part]ddbfault.Units{
		{Key: "k1"}:                 {WCU: 3}, // 2 in the transaction, 1 alone
		{Key: "k2"}:                 {WCU: 2},
		{Index: "idx", Key: "hot"}:  {WCU: 3}, // two puts, one delete
		{Index: "idx", Key: "cold"}: {WCU: 1, RCU: 0.5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("load %v, want %v", got, want)
	}
	if m := load.Metered(); m["table"].WCU == 0 || m["idx"].WCU == 0 {
		t.Fatalf("metered %v", m)
	}
	// At 1,000 of this workload a second, k1 and the index's hot partition
	// take three times a partition's write limit, the others less.
	h := load.Hottest(3, 1000)
	if len(h) != 3 || h[0].Share != 3 || h[1].Share != 3 || h[2].Share != 2 {
		t.Fatalf("hottest %+v", h)
	}
}
