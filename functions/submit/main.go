// Command submit is the Lambda function behind the API Gateway HTTP API
// (payload format 2.0): it serves the Batch API (internal/api) through
// cloud.Adapter, stores jobs in DynamoDB and publishes their state changes
// and schedule requests to EventBridge. docs/configuration.md lists its
// environment variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

func main() {
	cfg, err := cloud.LoadConfig(cloud.FunctionSubmit, os.Getenv)
	if err != nil {
		cloud.Fail(err)
	}
	deps, err := cloud.Connect(context.Background(), cfg, cloud.NewLogger(cfg))
	if err != nil {
		cloud.Fail(err)
	}
	h, err := cloud.NewSubmit(deps)
	if err != nil {
		cloud.Fail(err)
	}
	lambda.Start(h.Handle)
}
