// Command schedule is the Lambda function that runs scheduling passes
// (engine.Schedule): EventBridge invokes it with schedule requests, the
// one-minute tick and SageMaker training job state changes. Its reserved
// concurrency is 1, so passes do not queue up behind the scheduler lease.
// docs/configuration.md lists its environment variables.
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
