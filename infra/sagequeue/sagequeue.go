// Package sagequeue is the CDK construct that deploys sagequeue's cloud
// shape: the DynamoDB table (mirroring dynamo.TableDefinition), the four
// Lambda functions (submit behind an IAM-authorized HTTP API, schedule,
// statechange, and configure behind a custom resource that applies the
// deployment's configuration), the EventBridge rules and bus that connect
// them, the SQS queue that coalesces the schedule function's triggers,
// dead-letter queues, log groups, alarms, and one least-privilege role per
// function built from cloud.PermissionsOf.
//
// No function has reserved concurrency: reserving any needs 100 units of
// the account's concurrency left unreserved, which new and low-quota
// accounts (limits of 10 or 50) do not have, and deployments there fail.
// Passes are kept few by the queue instead: its event source mapping
// invokes the schedule function with every request that has waited (a
// batching window of a second), two invocations at most (the lowest
// maximum concurrency SQS event sources take), and the scheduler lease
// lets one pass run at a time.
//
// docs/configuration.md is the contract between the functions and this
// stack: every environment variable they read and what they expect of the
// resources around them. New builds the construct; NewStack adds it to a
// stack with the stack's outputs; infra/main.go is the app.
package sagequeue

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/joblogs"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// Props configure the construct.
type Props struct {
	// Config is the deployment's configuration (LoadConfig, ParseConfig).
	Config *Config
	// AssetDir holds each function's <function>/bootstrap, as
	// `make build-lambdas` writes them to dist/ (the default).
	AssetDir string
}

var errNoConfig = errors.New("sagequeue: a configuration is required")

// DefaultAssetDir is where `make build-lambdas` puts the bootstraps.
const DefaultAssetDir = "dist"

// trainingLogGroup is where SageMaker writes the training jobs' logs.
const trainingLogGroup = joblogs.DefaultLogGroup

// Sagequeue is the deployed sagequeue.
type Sagequeue struct {
	constructs.Construct
	Table awsdynamodb.Table
	// Bus carries schedule requests and job state change events.
	Bus awsevents.EventBus
	Api awsapigatewayv2.HttpApi
	// Functions are the Lambda functions, by name.
	Functions map[cloud.Function]awslambda.Function
	// LogGroups are the functions' log groups, by name.
	LogGroups map[cloud.Function]awslogs.LogGroup
	// Roles are the functions' execution roles, by name.
	Roles map[cloud.Function]awsiam.Role
	// AsyncDeadLetters receive the asynchronous invocations of statechange
	// that failed every retry or expired.
	AsyncDeadLetters map[cloud.Function]awssqs.Queue
	// ScheduleRequests coalesces the schedule function's triggers
	// (Schedule Requested events and the tick); ScheduleRequestsMapping is
	// its event source mapping; ScheduleDeadLetters receives the requests
	// whose passes failed maxScheduleReceives times.
	ScheduleRequests        awssqs.Queue
	ScheduleRequestsMapping awslambda.EventSourceMapping
	ScheduleDeadLetters     awssqs.Queue
	// EventsDeadLetters receives the events the rules could not deliver.
	EventsDeadLetters awssqs.Queue
	Alarms            []awscloudwatch.Alarm
	// Configuration is the custom resource that applies the configuration.
	Configuration awscdk.CustomResource

	cfg *Config
}

// function settings.
type fnSpec struct {
	id          string
	description string
	timeout     float64 // seconds (cloud.Timeouts)
	memory      float64 // MB
}

var specs = map[cloud.Function]fnSpec{
	cloud.FunctionSubmit:      {"Submit", "sagequeue API (AWS Batch service-job API) behind the HTTP API", cloud.Timeouts[cloud.FunctionSubmit].Seconds(), 256},
	cloud.FunctionSchedule:    {"Schedule", "sagequeue scheduling passes", cloud.Timeouts[cloud.FunctionSchedule].Seconds(), 512},
	cloud.FunctionStateChange: {"StateChange", "sagequeue: SageMaker training job state changes to service jobs", cloud.Timeouts[cloud.FunctionStateChange].Seconds(), 256},
	cloud.FunctionConfigure:   {"Configure", "sagequeue: applies the deployment's configuration (custom resource)", cloud.Timeouts[cloud.FunctionConfigure].Seconds(), 256},
}

// New builds sagequeue in scope.
func New(scope constructs.Construct, id string, props *Props) (*Sagequeue, error) {
	if props == nil || props.Config == nil {
		return nil, errNoConfig
	}
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	assets := props.AssetDir
	if assets == "" {
		assets = DefaultAssetDir
	}
	for _, fn := range cloud.Functions {
		if _, err := os.Stat(filepath.Join(assets, string(fn), "bootstrap")); err != nil {
			return nil, fmt.Errorf("sagequeue: the %s function's bootstrap is missing (%v): run `make build-lambdas` first", fn, err)
		}
	}
	configJSON, err := json.Marshal(cfg.Config)
	if err != nil {
		return nil, err
	}

	s := &Sagequeue{
		Construct: constructs.NewConstruct(scope, jsii.String(id)), cfg: cfg,
		Functions: map[cloud.Function]awslambda.Function{}, LogGroups: map[cloud.Function]awslogs.LogGroup{},
		Roles:            map[cloud.Function]awsiam.Role{},
		AsyncDeadLetters: map[cloud.Function]awssqs.Queue{},
	}
	s.Table = s.table()
	s.Bus = awsevents.NewEventBus(s.Construct, jsii.String("Bus"), &awsevents.EventBusProps{
		Description: jsii.String("sagequeue: Schedule Requested and Service Job State Change events"),
	})
	s.EventsDeadLetters = s.queue("EventsDeadLetters")
	s.AsyncDeadLetters[cloud.FunctionStateChange] = s.queue(specs[cloud.FunctionStateChange].id + "DeadLetters")
	s.scheduleQueue()
	for _, fn := range cloud.Functions {
		s.function(fn, assets)
	}
	s.ScheduleRequestsMapping = awslambda.NewEventSourceMapping(s.Construct, jsii.String("ScheduleRequestsMapping"), &awslambda.EventSourceMappingProps{
		Target: s.Functions[cloud.FunctionSchedule], EventSourceArn: s.ScheduleRequests.QueueArn(),
		BatchSize: jsii.Number(scheduleBatchSize), MaxBatchingWindow: awscdk.Duration_Seconds(jsii.Number(scheduleBatchingWindow)),
		MaxConcurrency: jsii.Number(scheduleMaxConcurrency),
	})
	s.api()
	s.rules()
	s.Configuration = awscdk.NewCustomResource(s.Construct, jsii.String("Configuration"), &awscdk.CustomResourceProps{
		ServiceToken: s.Functions[cloud.FunctionConfigure].FunctionArn(),
		ResourceType: jsii.String("Custom::SagequeueConfiguration"),
		Properties:   &map[string]any{cloud.ConfigurationProperty: string(configJSON)},
		// Longer than the function's timeout, so that its own FAILED wins;
		// short enough that a function that cannot start (it then cannot
		// answer) fails the deployment in minutes, not CloudFormation's
		// default hour.
		ServiceTimeout: awscdk.Duration_Minutes(jsii.Number(6)),
	})
	s.alarms()
	s.suppressions()
	return s, nil
}

// table is the store's table, mirrored from dynamo.TableDefinition.
func (s *Sagequeue) table() awsdynamodb.Table {
	def := dynamo.TableDefinition("")
	attrTypes := map[string]awsdynamodb.AttributeType{}
	for _, a := range def.AttributeDefinitions {
		switch a.AttributeType {
		case types.ScalarAttributeTypeS:
			attrTypes[*a.AttributeName] = awsdynamodb.AttributeType_STRING
		case types.ScalarAttributeTypeN:
			attrTypes[*a.AttributeName] = awsdynamodb.AttributeType_NUMBER
		case types.ScalarAttributeTypeB:
			attrTypes[*a.AttributeName] = awsdynamodb.AttributeType_BINARY
		}
	}
	keys := func(ks []types.KeySchemaElement) (pk, sk *awsdynamodb.Attribute) {
		for _, k := range ks {
			a := &awsdynamodb.Attribute{Name: k.AttributeName, Type: attrTypes[*k.AttributeName]}
			if k.KeyType == types.KeyTypeHash {
				pk = a
			} else {
				sk = a
			}
		}
		return pk, sk
	}
	if def.BillingMode != types.BillingModePayPerRequest {
		panic("sagequeue: dynamo.TableDefinition is no longer PAY_PER_REQUEST; the stack needs capacity settings")
	}
	pk, sk := keys(def.KeySchema)
	props := &awsdynamodb.TableProps{
		PartitionKey: pk, SortKey: sk,
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(dynamo.AttrExpiresAt),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// The jobs, their history and the configuration outlive the stack:
		// deleting the stack leaves the table, and deleting the table
		// takes turning deletion protection off first.
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
		// An AWS-owned key (in the template: SSEEnabled false, which is
		// DynamoDB's default encryption, not its absence).
		Encryption: awsdynamodb.TableEncryption_DEFAULT,
	}
	if arn := s.cfg.Deployment.TableKmsKeyArn; arn != "" {
		props.Encryption = awsdynamodb.TableEncryption_CUSTOMER_MANAGED
		props.EncryptionKey = awskms.Key_FromKeyArn(s.Construct, jsii.String("TableKey"), jsii.String(arn))
	}
	t := awsdynamodb.NewTable(s.Construct, jsii.String("Table"), props)
	for _, g := range def.GlobalSecondaryIndexes {
		gpk, gsk := keys(g.KeySchema)
		gsi := &awsdynamodb.GlobalSecondaryIndexProps{IndexName: g.IndexName, PartitionKey: gpk, SortKey: gsk}
		switch g.Projection.ProjectionType {
		case types.ProjectionTypeInclude:
			gsi.ProjectionType = awsdynamodb.ProjectionType_INCLUDE
			gsi.NonKeyAttributes = jsii.Strings(g.Projection.NonKeyAttributes...)
		case types.ProjectionTypeKeysOnly:
			gsi.ProjectionType = awsdynamodb.ProjectionType_KEYS_ONLY
		default:
			gsi.ProjectionType = awsdynamodb.ProjectionType_ALL
		}
		t.AddGlobalSecondaryIndex(gsi)
	}
	return t
}

// queue is a dead-letter queue: encrypted (SQS-managed keys, so neither
// the functions nor EventBridge need KMS permissions to write to it), SSL
// only, kept for the longest SQS allows.
func (s *Sagequeue) queue(id string) awssqs.Queue {
	return awssqs.NewQueue(s.Construct, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
}

// The schedule queue's settings.
const (
	// scheduleBatchSize and scheduleBatchingWindow (seconds): every
	// request that arrives within a second goes to one invocation, and so
	// to one pass (a window needs no more than a batch size; 100 is
	// plenty, as all requests mean the same).
	scheduleBatchSize      = 100
	scheduleBatchingWindow = 1
	// scheduleMaxConcurrency: two invocations at most; the second waits
	// for the first's lease and then runs its own pass, which sees what
	// arrived meanwhile. Lambda's minimum for SQS event sources is 2.
	scheduleMaxConcurrency = 2
	// maxScheduleReceives: a request whose passes failed this many times
	// goes to the dead-letter queue, and its alarm fires.
	maxScheduleReceives = 5
)

// scheduleQueue makes the queue that coalesces the schedule function's
// triggers, and its dead-letter queue. Its visibility timeout is six times
// the function's timeout plus the batching window, as Lambda's
// documentation of SQS event sources asks, so that a batch is not handed
// out twice while Lambda still retries a throttled invocation of it. A
// request waits at most a day: by then the tick has run a thousand passes.
func (s *Sagequeue) scheduleQueue() {
	s.ScheduleDeadLetters = s.queue("ScheduleDeadLetters")
	s.ScheduleRequests = awssqs.NewQueue(s.Construct, jsii.String("ScheduleRequests"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(1)),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6*specs[cloud.FunctionSchedule].timeout + scheduleBatchingWindow)),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: s.ScheduleDeadLetters, MaxReceiveCount: jsii.Number(maxScheduleReceives)},
	})
}

func (s *Sagequeue) retention() awslogs.RetentionDays {
	return retentionDays[s.cfg.Deployment.LogRetentionDays]
}

// function builds one function with its log group and role.
func (s *Sagequeue) function(fn cloud.Function, assets string) {
	spec := specs[fn]
	logs := awslogs.NewLogGroup(s.Construct, jsii.String(spec.id+"Logs"), &awslogs.LogGroupProps{
		Retention: s.retention(), RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.LogGroups[fn] = logs
	env := map[string]*string{}
	for k, v := range s.cfg.environment(fn, *s.Table.TableName(), *s.Bus.EventBusName(), *awscdk.Stack_Of(s.Construct).Account()) {
		env[k] = jsii.String(v)
	}
	props := &awslambda.FunctionProps{
		Description:  jsii.String(spec.description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(assets, string(fn))), nil),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(spec.timeout)),
		MemorySize:   jsii.Number(spec.memory),
		Environment:  &env,
		LogGroup:     logs,
		Role:         s.role(fn, logs),
	}
	s.Roles[fn] = props.Role.(awsiam.Role)
	switch fn {
	case cloud.FunctionStateChange:
		// A state change applied late is still right (only forward
		// transitions apply); one lost waits for the reconciliation of
		// the tick, so keep them as long as Lambda does.
		props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
		props.RetryAttempts = jsii.Number(2)
	}
	f := awslambda.NewFunction(s.Construct, jsii.String(spec.id), props)
	if q, ok := s.AsyncDeadLetters[fn]; ok {
		// Set on the CloudFormation resource rather than through the
		// deadLetterQueue property, which would also grant the role
		// sqs:GetQueueAttributes and sqs:GetQueueUrl; Lambda needs only
		// sqs:SendMessage (granted in role).
		f.Node().DefaultChild().(awslambda.CfnFunction).SetDeadLetterConfig(&awslambda.CfnFunction_DeadLetterConfigProperty{
			TargetArn: q.QueueArn(),
		})
	}
	s.Functions[fn] = f
}

// accessLogFormat is the HTTP API's access log line: who called (IAM
// authorization), what, and how it ended.
const accessLogFormat = `{"requestId":"$context.requestId","requestTime":"$context.requestTime","ip":"$context.identity.sourceIp",` +
	`"caller":"$context.identity.caller","userArn":"$context.identity.userArn","accountId":"$context.identity.accountId",` +
	`"httpMethod":"$context.httpMethod","path":"$context.path","routeKey":"$context.routeKey","protocol":"$context.protocol",` +
	`"status":"$context.status","responseLength":"$context.responseLength","responseLatency":"$context.responseLatency",` +
	`"integrationStatus":"$context.integrationStatus","integrationLatency":"$context.integrationLatency",` +
	`"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error","error":"$context.error.message"}`

// api is the HTTP API in front of submit: the Batch API (POST /v1/...) and
// the dashboard (GET), every route IAM-authorized.
func (s *Sagequeue) api() {
	accessLogs := awslogs.NewLogGroup(s.Construct, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: s.retention(), RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.Api = awsapigatewayv2.NewHttpApi(s.Construct, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("sagequeue: the AWS Batch service-job API, signed with SigV4 for execute-api"),
		// IAM on every route, as the default: the caller's identity is
		// what submit records as a job's submittedBy.
		DefaultAuthorizer: awsapigatewayv2authorizers.NewHttpIamAuthorizer(),
	})
	submit := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Submit"), s.Functions[cloud.FunctionSubmit],
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()})
	for _, r := range []struct {
		path   string
		method awsapigatewayv2.HttpMethod
	}{
		{"/v1/{proxy+}", awsapigatewayv2.HttpMethod_POST}, // every Batch operation (POST /v1/<operation>)
		{"/", awsapigatewayv2.HttpMethod_GET},             // the dashboard
		{"/{proxy+}", awsapigatewayv2.HttpMethod_GET},
	} {
		s.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path: jsii.String(r.path), Methods: &[]awsapigatewayv2.HttpMethod{r.method}, Integration: submit,
		})
	}
	// The L2 stage has no access log settings of its own here; the
	// CloudFormation stage has.
	s.Api.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(
		&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
			DestinationArn: accessLogs.LogGroupArn(), Format: jsii.String(accessLogFormat),
		})
}

// The rules' delivery settings.
const (
	sageMakerEventAgeHours = 2
	sageMakerRetries       = 8
)

// rules connect the events to the functions.
func (s *Sagequeue) rules() {
	target := func(fn cloud.Function, retries float64, age awscdk.Duration) awsevents.IRuleTarget {
		return awseventstargets.NewLambdaFunction(s.Functions[fn], &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: s.EventsDeadLetters, RetryAttempts: jsii.Number(retries), MaxEventAge: age,
		})
	}
	// The schedule function's triggers go to its queue, which coalesces
	// them.
	toQueue := func(retries float64, age awscdk.Duration) awsevents.IRuleTarget {
		return awseventstargets.NewSqsQueue(s.ScheduleRequests, &awseventstargets.SqsQueueProps{
			DeadLetterQueue: s.EventsDeadLetters, RetryAttempts: jsii.Number(retries), MaxEventAge: age,
		})
	}
	// SageMaker's state changes of our training jobs only: the prefix
	// keeps the function from running for every training job of the
	// account. They go to statechange alone, which asks for a pass
	// (Schedule Requested) when a job gave capacity back: a state change
	// that frees nothing needs no pass.
	sm := awsevents.NewRule(s.Construct, jsii.String("TrainingJobStateChange"), &awsevents.RuleProps{
		Description: jsii.String("sagequeue: state changes of its SageMaker training jobs"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings(events.SourceSageMaker),
			DetailType: jsii.Strings(events.DetailTypeTrainingJobStateChange),
			Detail: &map[string]any{
				"TrainingJobName": []any{map[string]any{"prefix": s.cfg.Deployment.NamePrefix + "-"}},
			},
		},
	})
	age := awscdk.Duration_Hours(jsii.Number(sageMakerEventAgeHours))
	sm.AddTarget(target(cloud.FunctionStateChange, sageMakerRetries, age))

	// A pass request that cannot be delivered in five minutes is
	// superseded by the tick.
	req := awsevents.NewRule(s.Construct, jsii.String("ScheduleRequested"), &awsevents.RuleProps{
		Description: jsii.String("sagequeue: scheduling passes asked for by the functions"),
		EventBus:    s.Bus,
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings(events.Source),
			DetailType: jsii.Strings(events.DetailTypeScheduleRequested),
		},
	})
	req.AddTarget(toQueue(3, awscdk.Duration_Minutes(jsii.Number(5))))

	// The tick: time limits, attempt timeouts, reconciliation of lost
	// events. A tick older than a minute is the next one's job.
	tick := awsevents.NewRule(s.Construct, jsii.String("Tick"), &awsevents.RuleProps{
		Description: jsii.String("sagequeue: the one-minute scheduling tick"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
	})
	tick.AddTarget(toQueue(1, awscdk.Duration_Minutes(jsii.Number(1))))
}

// alarms: each function's errors and throttles, each dead-letter queue's
// messages, and schedule requests that wait too long. They fire on
// sustained trouble, not on one failure that a retry mends: the errors of
// schedule and statechange (whose failures Lambda and SQS retry) and every
// function's throttles (now that none has reserved concurrency, throttling
// means the account's concurrency is spent) must last three 5-minute
// periods in a row. A failed API request (submit) or deployment
// (configure) is an answer someone saw fail, and a message in a
// dead-letter queue has failed every retry already: those fire at once.
// Without AlarmTopicArn the alarms notify nobody; they only show in
// CloudWatch.
func (s *Sagequeue) alarms() {
	var topic awssns.ITopic
	if arn := s.cfg.Deployment.AlarmTopicArn; arn != "" {
		topic = awssns.Topic_FromTopicArn(s.Construct, jsii.String("AlarmTopic"), jsii.String(arn))
	}
	five := awscdk.Duration_Minutes(jsii.Number(5))
	add := func(id, description string, metric awscloudwatch.IMetric, threshold, evaluations float64) {
		a := awscloudwatch.NewAlarm(s.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(evaluations),
			DatapointsToAlarm:  jsii.Number(evaluations),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if topic != nil {
			a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
		}
		s.Alarms = append(s.Alarms, a)
	}
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	for _, fn := range cloud.Functions {
		f, id := s.Functions[fn], specs[fn].id
		switch fn {
		case cloud.FunctionSchedule, cloud.FunctionStateChange:
			add(id+"Errors", fmt.Sprintf("sagequeue %s: invocations failed in each of 15 minutes' 5-minute periods (retries have not mended it)", fn), f.MetricErrors(sum), 1, sustained)
		default:
			add(id+"Errors", fmt.Sprintf("sagequeue %s: invocations failed", fn), f.MetricErrors(sum), 1, 1)
		}
		add(id+"Throttles", fmt.Sprintf("sagequeue %s: throttled for 15 minutes in a row; the account's Lambda concurrency is spent", fn), f.MetricThrottles(sum), 1, sustained)
	}
	visible := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}
	add(specs[cloud.FunctionStateChange].id+"DeadLettersVisible", "sagequeue statechange: asynchronous invocations failed every retry or expired",
		s.AsyncDeadLetters[cloud.FunctionStateChange].MetricApproximateNumberOfMessagesVisible(visible), 1, 1)
	add("ScheduleDeadLettersVisible", fmt.Sprintf("sagequeue schedule: passes failed %d times for a request", maxScheduleReceives),
		s.ScheduleDeadLetters.MetricApproximateNumberOfMessagesVisible(visible), 1, 1)
	add("ScheduleRequestsAge", "sagequeue schedule: requests for a pass have waited 10 minutes, for 10 minutes; passes cannot keep up or keep failing",
		s.ScheduleRequests.MetricApproximateAgeOfOldestMessage(visible), 600, 2)
	add("EventsDeadLettersVisible", "sagequeue: EventBridge could not deliver events to the functions or the schedule queue",
		s.EventsDeadLetters.MetricApproximateNumberOfMessagesVisible(visible), 1, 1)
}

// sustained is how many 5-minute periods in a row an alarm on retried
// failures waits for.
const sustained = 3
