package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sagequeue/sagequeue/internal/ddbfault"
	"github.com/sagequeue/sagequeue/internal/ddblocal"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
	"github.com/sagequeue/sagequeue/internal/store/storetest"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

var ctx = context.Background()

func TestConformance(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		s, _ := newStore(t)
		return s
	})
}

// TestConformanceUnderFaults runs the suite through the fault layer at a
// realistic setting (ddbfault.Realistic: throttled requests, cancelled
// transactions, latency, lagging indexes), as DynamoDB behaves on a busy
// day: the store must keep the contract through it.
func TestConformanceUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: injected latency and index lag")
	}
	p := ddbfault.Start(t, ddblocal.Endpoint(t), ddbfault.Realistic)
	storetest.RunTests(t, func(t *testing.T) store.Store {
		client := dynamodb.NewFromConfig(ddblocal.Config(p.URL()), dynamo.RetryOptions)
		name := ddblocal.TableName(t)
		p.Set(ddbfault.Faults{})
		if err := dynamo.CreateTable(ctx, client, name); err != nil {
			t.Fatal(err)
		}
		p.Set(ddbfault.Realistic)
		t.Cleanup(func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = client.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		})
		s, err := dynamo.New(ctx, dynamo.Config{Client: client, Table: name})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	t.Logf("fault layer: %+v", p.Stats())
}

// newStore creates a fresh table on DynamoDB Local (dropped when the test
// ends) and a metered store on it.
func newStore(t testing.TB) (*dynamo.Store, *dynamo.Meter) {
	t.Helper()
	client, name := newTable(t)
	meter := &dynamo.Meter{}
	s, err := dynamo.New(ctx, dynamo.Config{Client: client, Table: name, Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	return s, meter
}

// newTable creates a fresh table on DynamoDB Local, dropped when the test
// ends.
func newTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	client := ddblocal.Client(t)
	name := ddblocal.TableName(t)
	if err := dynamo.CreateTable(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = client.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return client, name
}
