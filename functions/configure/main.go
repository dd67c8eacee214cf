// Command configure is the Lambda function behind the CloudFormation custom
// resource that applies a deployment's configuration (service environments,
// scheduling policies, job queues) at every `cdk deploy` that changes it,
// through the API handler over the DynamoDB store (cloud.Configure).
// docs/configuration.md lists its environment variables.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

func main() {
	cfg, err := cloud.LoadConfig(cloud.FunctionConfigure, os.Getenv)
	if err != nil {
		cloud.Fail(err)
	}
	deps, err := cloud.Connect(context.Background(), cfg, cloud.NewLogger(cfg))
	if err != nil {
		cloud.Fail(err)
	}
	h, err := cloud.NewConfigure(deps)
	if err != nil {
		cloud.Fail(err)
	}
	// LambdaWrap answers CloudFormation (SUCCESS or FAILED, at the
	// pre-signed response URL of the event) whatever Handle returns, also
	// when it panics.
	lambda.Start(cfn.LambdaWrap(h.Handle))
}
