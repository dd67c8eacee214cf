package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/sagequeue/sagequeue/internal/inproc"
	"github.com/sagequeue/sagequeue/internal/setup"
)

// ConfigurationProperty is the custom resource property that carries the
// configuration to apply: a setup.Config as a JSON string. (CloudFormation
// passes every property value to the function as a string, so the
// configuration travels as one JSON document rather than as nested
// properties whose numbers would arrive as strings.)
const ConfigurationProperty = "Configuration"

// ConfigurationResourceID is the physical id of the configuration resource.
// It never changes, so that an update never looks like a replacement to
// CloudFormation (which would then delete the "old" resource).
const ConfigurationResourceID = "sagequeue-configuration"

// configureMargin is how long before the function's deadline an apply gives
// up, so that the handler still reports FAILED to CloudFormation instead of
// being cut off silently (the stack would then wait for the resource's
// service timeout).
const configureMargin = 10 * time.Second

// Configure is the handler of functions/configure: the CloudFormation
// custom resource that applies a deployment's configuration (environments,
// scheduling policies, queues) when the stack is created or updated, so that
// `cdk deploy` ends with working queues.
//
// It applies with setup.Apply, the code behind `sagequeue serve --config`,
// through a Batch SDK client whose HTTP client calls the API handler in
// process, over the function's DynamoDB store: the configuration passes the
// same validation as any API request and changes the store the same way,
// including the schedule request that a configuration change publishes.
//
// Create and Update apply the configuration: what is missing is created,
// what differs is updated, and nothing absent from it is deleted (as
// setup.Apply does everywhere). Delete does nothing: the queues, their jobs
// and their history stay in the table, which the stack keeps as well.
type Configure struct {
	sub *Submit
	log *slog.Logger
	now func() time.Time
}

// NewConfigure returns the configure handler.
func NewConfigure(d Deps) (*Configure, error) {
	sub, err := NewSubmit(d)
	if err != nil {
		return nil, fmt.Errorf("cloud: configure: %w", err)
	}
	return &Configure{sub: sub, log: sub.d.Logger, now: sub.d.Now}, nil
}

// Handle handles one custom resource event; cfn.LambdaWrap(h.Handle) sends
// the outcome to CloudFormation.
func (c *Configure) Handle(ctx context.Context, ev cfn.Event) (physicalResourceID string, data map[string]any, err error) {
	physicalResourceID = ev.PhysicalResourceID
	if physicalResourceID == "" {
		physicalResourceID = ConfigurationResourceID
	}
	attrs := []any{"requestType", ev.RequestType, "logicalResourceId", ev.LogicalResourceID, "stackId", ev.StackID}
	if ev.RequestType == cfn.RequestDelete {
		c.log.Info("configuration resource deleted; the configuration and the jobs stay in the table", attrs...)
		return physicalResourceID, nil, nil
	}
	cfg, err := parseConfiguration(ev.ResourceProperties)
	if err != nil {
		c.log.Error("configuration refused", append(attrs, "err", err)...)
		return physicalResourceID, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-configureMargin))
		defer cancel()
	}
	start := c.now()
	if err := c.Apply(ctx, cfg); err != nil {
		c.log.Error("applying the configuration", append(attrs, "err", err)...)
		return physicalResourceID, nil, err
	}
	c.log.Info("configuration applied", append(attrs, "environments", len(cfg.Environments), "policies", len(cfg.Policies),
		"queues", len(cfg.Queues), "durationMs", c.now().Sub(start).Milliseconds())...)
	return physicalResourceID, map[string]any{
		"Environments": len(cfg.Environments), "Policies": len(cfg.Policies), "Queues": len(cfg.Queues),
	}, nil
}

// Apply applies a configuration through the API handler in process and logs
// what it changed.
func (c *Configure) Apply(ctx context.Context, cfg *setup.Config) error {
	h, err := c.sub.handler(ctx)
	if err != nil {
		return err
	}
	client := batch.New(batch.Options{
		// The host is never dialled: the HTTP client below serves every
		// request with the handler.
		BaseEndpoint: aws.String("http://sagequeue.in-process"),
		Region:       c.sub.d.Config.Region,
		// The handler checks no signatures (API Gateway does, in front of
		// submit); the SDK only wants credentials to sign with.
		Credentials: credentials.NewStaticCredentialsProvider("configure", "configure", ""),
		HTTPClient:  inproc.Client{Handler: h},
	})
	changes, err := setup.Apply(ctx, client, cfg)
	for _, ch := range changes {
		c.log.Info("configuration changed", "change", ch.String())
	}
	return err
}

// parseConfiguration reads the configuration property. Unknown members are
// errors, as in a configuration file.
func parseConfiguration(props map[string]any) (*setup.Config, error) {
	raw, ok := props[ConfigurationProperty].(string)
	if !ok {
		return nil, fmt.Errorf("the resource property %s is missing or not a string (a setup.Config as JSON)", ConfigurationProperty)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	var cfg setup.Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("the resource property %s: %w", ConfigurationProperty, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}
