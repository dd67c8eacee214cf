package ddblocal_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sagequeue/sagequeue/internal/ddblocal"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

func TestEndpointAnswers(t *testing.T) {
	c := ddblocal.Client(t)
	if _, err := c.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	a, b := ddblocal.TableName(t), ddblocal.TableName(t)
	if a == b || len(a) < 3 || len(a) > 255 {
		t.Fatalf("table names %q and %q", a, b)
	}
	// A second call reuses the running instance.
	if ddblocal.Endpoint(t) != ddblocal.Endpoint(t) {
		t.Fatal("two endpoints in one test binary")
	}
}
