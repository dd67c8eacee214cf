package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/ebus"
	"github.com/sagequeue/sagequeue/internal/joblogs"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// Connect makes a function's dependencies from its configuration: the AWS
// clients (with config.LoadDefaultConfig, so credentials come from the
// Lambda execution role), the DynamoDB store, the EventBridge bus and, for
// submit, the CloudWatch Logs reader. Call it once per cold start; what it
// returns is safe for concurrent use and meant to be kept across
// invocations. extra adds to the SDK's load options (tests: static
// credentials).
func Connect(ctx context.Context, c Config, logger *slog.Logger, extra ...func(*config.LoadOptions) error) (Deps, error) {
	opts := append([]func(*config.LoadOptions) error{config.WithRegion(c.Region)}, extra...)
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Deps{}, fmt.Errorf("sagequeue %s: loading the AWS configuration: %w", c.Function, err)
	}
	// An override replaces the endpoint only when set, so that the SDK's
	// own AWS_ENDPOINT_URL_<SERVICE> still works without it.
	endpoint := func(u string, base **string) {
		if u != "" {
			*base = aws.String(u)
		}
	}
	ddb := dynamodb.NewFromConfig(awsCfg, dynamo.RetryOptions, func(o *dynamodb.Options) {
		endpoint(c.DynamoDBEndpoint, &o.BaseEndpoint)
		// In this SDK version (service/dynamodb v1.74.0) the CRC32 check of
		// responses wraps the body after the deserializer has read it, so it
		// checks nothing and logs "response did not match expected checksum"
		// on every call. TLS guards the responses' integrity in transit.
		o.DisableValidateResponseChecksum = true
	})
	st, err := dynamo.New(ctx, dynamo.Config{Client: ddb, Table: c.Table, Retention: c.JobRetention})
	if err != nil {
		return Deps{}, fmt.Errorf("sagequeue %s: %w", c.Function, err)
	}
	eb := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) { endpoint(c.EventBridgeEndpoint, &o.BaseEndpoint) })
	bus, err := ebus.New(ebus.Config{Client: eb, BusName: c.EventBus})
	if err != nil {
		return Deps{}, err
	}
	d := Deps{Config: c, Store: st, Bus: bus, Logger: logger, Metrics: os.Stdout}
	switch c.Function {
	case FunctionSubmit:
		logs := cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) { endpoint(c.LogsEndpoint, &o.BaseEndpoint) })
		d.Logs = joblogs.CloudWatch{Client: logs, LogGroup: c.LogGroup}
	}
	switch c.Function {
	case FunctionSubmit, FunctionSchedule, FunctionStateChange, FunctionConfigure:
		// Submit and configure describe training plans only.
		d.SageMaker = sagemaker.NewFromConfig(awsCfg, func(o *sagemaker.Options) { endpoint(c.SageMakerEndpoint, &o.BaseEndpoint) })
	}
	return d, nil
}

// NewLogger is a function's logger: JSON lines on standard output, which
// Lambda sends to CloudWatch Logs, each with the function's name.
func NewLogger(c Config) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: c.LogLevel})).With("function", string(c.Function))
}

// Fail reports a cold start that cannot go on, as one line on standard
// error (which Lambda logs with the failed initialization), and exits.
func Fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
