package cloud_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/ddblocal"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// TestMain stops DynamoDB Local, if a test started it, when the tests end.
func TestMain(m *testing.M) { ddblocal.Main(m) }

type endpoints struct{ EventBridge, SageMaker, DynamoDB string }

var (
	tablesMu     sync.Mutex
	tables       = map[*testing.T]string{}
	environments atomic.Int64
)

// stackDeps builds a function's dependencies the way its main does — the
// configuration read from (test) environment variables, then cloud.Connect —
// with the endpoint overrides pointing at DynamoDB Local (one table per
// test), the fake EventBridge and the local SageMaker endpoint.
func stackDeps(t *testing.T, fn cloud.Function, ep endpoints, logger *slog.Logger) cloud.Deps {
	t.Helper()
	local := ddblocal.Endpoint(t)
	ddb := cmp.Or(ep.DynamoDB, local)
	tablesMu.Lock()
	table, ok := tables[t]
	if !ok {
		table = ddblocal.TableName(t)
		client := ddblocal.NewClient(local)
		if err := dynamo.CreateTable(context.Background(), client, table); err != nil {
			tablesMu.Unlock()
			t.Fatal(err)
		}
		tables[t] = table
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
	}
	tablesMu.Unlock()
	vars := map[string]string{
		"SAGEQUEUE_TABLE": table, "AWS_REGION": e2eRegion, "SAGEQUEUE_EVENT_BUS": "sagequeue-e2e",
		"SAGEQUEUE_DYNAMODB_ENDPOINT": ddb, "SAGEQUEUE_EVENTBRIDGE_ENDPOINT": ep.EventBridge,
		"SAGEQUEUE_SAGEMAKER_ENDPOINT": ep.SageMaker, "SAGEQUEUE_LOGS_ENDPOINT": "http://127.0.0.1:9", // never called
		// Lambda names each execution environment's log stream apart; the
		// lease takes its holder from it.
		"AWS_LAMBDA_LOG_STREAM_NAME": fmt.Sprintf("2024/01/01/[$LATEST]%s-env-%d", fn, environments.Add(1)),
	}
	cfg, err := cloud.LoadConfig(fn, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	d, err := cloud.Connect(context.Background(), cfg, logger,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ddblocal.AccessKeyID, ddblocal.SecretAccessKey, "")),
		recordCalls(t, fn))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
