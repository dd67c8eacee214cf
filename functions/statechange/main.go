// Command statechange is the Lambda function that applies "SageMaker
// Training Job State Change" events to service jobs
// (engine.ApplyTrainingJobEvent) and asks for a scheduling pass when a job
// gave its capacity back. docs/configuration.md lists its environment
// variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

func main() {
	cfg, err := cloud.LoadConfig(cloud.FunctionStateChange, os.Getenv)
	if err != nil {
		cloud.Fail(err)
	}
	deps, err := cloud.Connect(context.Background(), cfg, cloud.NewLogger(cfg))
	if err != nil {
		cloud.Fail(err)
	}
	h, err := cloud.NewStateChange(deps)
	if err != nil {
		cloud.Fail(err)
	}
	lambda.Start(h.Handle)
}
