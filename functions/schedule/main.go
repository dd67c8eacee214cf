// Command schedule is the Lambda function that runs scheduling passes
// (engine.Schedule): an SQS event source mapping invokes it with batches of
// schedule requests and one-minute ticks, which EventBridge puts on its
// queue, at most two invocations at a time; the scheduler lease runs one
// pass at a time. docs/configuration.md lists its environment variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

func main() {
	cfg, err := cloud.LoadConfig(cloud.FunctionSchedule, os.Getenv)
	if err != nil {
		cloud.Fail(err)
	}
	deps, err := cloud.Connect(context.Background(), cfg, cloud.NewLogger(cfg))
	if err != nil {
		cloud.Fail(err)
	}
	h, err := cloud.NewSchedule(deps)
	if err != nil {
		cloud.Fail(err)
	}
	lambda.Start(h.Handle)
}
