package cloud

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/joblogs"
	"github.com/sagequeue/sagequeue/internal/model"
)

// Function names one of the Lambda functions; each reads only the variables
// it needs.
type Function string

// The functions.
const (
	FunctionSubmit      Function = "submit"
	FunctionSchedule    Function = "schedule"
	FunctionStateChange Function = "statechange"
	// FunctionConfigure applies the deployment's configuration file
	// (environments, policies, queues) as a CloudFormation custom resource.
	FunctionConfigure Function = "configure"
)

// The environment variables of the functions; docs/configuration.md says
// what each means and who reads it.
const (
	EnvTable               = "SAGEQUEUE_TABLE"
	EnvEventBus            = "SAGEQUEUE_EVENT_BUS"
	EnvRegion              = "AWS_REGION"
	EnvAccountID           = "SAGEQUEUE_ACCOUNT_ID"
	EnvNamePrefix          = "SAGEQUEUE_NAME_PREFIX"
	EnvJobRetention        = "SAGEQUEUE_JOB_RETENTION"
	EnvLogGroup            = "SAGEQUEUE_LOG_GROUP"
	EnvLogLevel            = "SAGEQUEUE_LOG_LEVEL"
	EnvDynamoDBEndpoint    = "SAGEQUEUE_DYNAMODB_ENDPOINT"
	EnvEventBridgeEndpoint = "SAGEQUEUE_EVENTBRIDGE_ENDPOINT"
	EnvSageMakerEndpoint   = "SAGEQUEUE_SAGEMAKER_ENDPOINT"
	EnvLogsEndpoint        = "SAGEQUEUE_LOGS_ENDPOINT"
	EnvExecutionRoles      = "SAGEQUEUE_EXECUTION_ROLE_ARNS"
	EnvTrainingSubnets     = "SAGEQUEUE_TRAINING_SUBNETS"
	EnvTrainingGroups      = "SAGEQUEUE_TRAINING_SECURITY_GROUPS"
	EnvTrainingKMSKey      = "SAGEQUEUE_TRAINING_KMS_KEY"
	// envLogStream is set by Lambda: the execution environment's log stream,
	// which names the scheduler in the lease.
	envLogStream = "AWS_LAMBDA_LOG_STREAM_NAME"
)

// Timeouts are the functions' Lambda timeouts: the stack sets them, and
// the tests invoke the handlers with them. Schedule's is below the
// scheduler lease's 60 s time to live; a pass keeps within it.
var Timeouts = map[Function]time.Duration{
	FunctionSubmit: 29 * time.Second, FunctionSchedule: 50 * time.Second,
	FunctionStateChange: 30 * time.Second, FunctionConfigure: 300 * time.Second,
}

// Defaults.
const (
	DefaultEventBus     = "default"
	DefaultNamePrefix   = "sagequeue"
	DefaultJobRetention = 90 * 24 * time.Hour
)

// Config is a function's configuration, read from its environment.
type Config struct {
	Function Function
	Table    string
	EventBus string
	Region   string
	// AccountID goes into the ARNs the API mints (submit only). Empty means
	// "take it from the function's ARN at the first invocation".
	AccountID string
	// NamePrefix starts training job names (schedule, statechange).
	NamePrefix string
	// JobRetention is how long a finished job is kept in the table.
	JobRetention time.Duration
	// LogGroup holds the training jobs' logs (submit).
	LogGroup string
	LogLevel slog.Level
	// Endpoint overrides (tests, DynamoDB Local); empty uses AWS's.
	DynamoDBEndpoint    string
	EventBridgeEndpoint string
	SageMakerEndpoint   string
	LogsEndpoint        string
	// Holder names this execution environment in the scheduler lease.
	Holder string
	// ExecutionRoles are the roles payloads may name (submit refuses others);
	// the first is the default of payloads without RoleArn (schedule).
	ExecutionRoles []string
	// TrainingSubnets, TrainingSecurityGroups and TrainingKMSKey are the
	// defaults of training jobs whose payloads set no VPC or key (schedule).
	TrainingSubnets        []string
	TrainingSecurityGroups []string
	TrainingKMSKey         string
}

var (
	tablePattern    = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	busPattern      = regexp.MustCompile(`^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[/.\-_A-Za-z0-9]{1,256}$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	accountPattern  = regexp.MustCompile(`^\d{12}$`)
	prefixPattern   = regexp.MustCompile(`^[a-z0-9](-?[a-z0-9])*$`)
	logGroupPattern = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	roleArnPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/\S+$`)
)

// LoadConfig reads fn's configuration with getenv (os.Getenv). Every
// problem is reported at once, in one error, so that a cold start that
// fails says everything that is wrong.
func LoadConfig(fn Function, getenv func(string) string) (Config, error) {
	c := Config{
		Function: fn, Table: getenv(EnvTable), EventBus: orDefault(getenv(EnvEventBus), DefaultEventBus),
		Region: getenv(EnvRegion), AccountID: getenv(EnvAccountID),
		NamePrefix: orDefault(getenv(EnvNamePrefix), DefaultNamePrefix), JobRetention: DefaultJobRetention,
		LogGroup:         orDefault(getenv(EnvLogGroup), joblogs.DefaultLogGroup),
		DynamoDBEndpoint: getenv(EnvDynamoDBEndpoint), EventBridgeEndpoint: getenv(EnvEventBridgeEndpoint),
		SageMakerEndpoint: getenv(EnvSageMakerEndpoint), LogsEndpoint: getenv(EnvLogsEndpoint),
		Holder: getenv(envLogStream),
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch fn {
	case FunctionSubmit, FunctionSchedule, FunctionStateChange, FunctionConfigure:
	default:
		bad("unknown function %q", fn)
	}
	if c.Table == "" {
		bad("%s is required: the DynamoDB table of sagequeue", EnvTable)
	} else if !tablePattern.MatchString(c.Table) {
		bad("%s %q is not a DynamoDB table name (3-255 letters, digits, '_', '-', '.')", EnvTable, c.Table)
	}
	if !busPattern.MatchString(c.EventBus) {
		bad("%s %q is not an event bus name or ARN", EnvEventBus, c.EventBus)
	}
	if c.Region == "" {
		bad("%s is required (Lambda sets it)", EnvRegion)
	} else if !regionPattern.MatchString(c.Region) {
		bad("%s %q is not an AWS region", EnvRegion, c.Region)
	}
	if c.AccountID != "" && !accountPattern.MatchString(c.AccountID) {
		bad("%s %q is not a 12-digit AWS account id", EnvAccountID, c.AccountID)
	}
	// The engine's rule, and lower case: IAM compares ARNs case-sensitively,
	// and SageMaker has answered with ARNs in lower case for training jobs
	// named in mixed case, which the functions' policies (on
	// training-job/<prefix>-*) would then not match. Checked here so that a
	// bad prefix fails the synthesis and the cold start of every function
	// that uses it, with the variable's name.
	if len(c.NamePrefix) > 20 || !prefixPattern.MatchString(c.NamePrefix) {
		bad("%s %q must be 1-20 lowercase letters, digits or hyphens, starting and ending with a letter or digit "+
			"(IAM matches training job ARNs case-sensitively, and SageMaker may report them in lower case)", EnvNamePrefix, c.NamePrefix)
	}
	if v := getenv(EnvJobRetention); v != "" {
		d, err := model.ParseDays(v)
		if err != nil || d < time.Hour {
			bad("%s %q must be a duration of at least 1h, like 2160h or 90d", EnvJobRetention, v)
		}
		c.JobRetention = d
	}
	if !logGroupPattern.MatchString(c.LogGroup) {
		bad("%s %q is not a log group name", EnvLogGroup, c.LogGroup)
	}
	if v := getenv(EnvLogLevel); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("%s %q must be DEBUG, INFO, WARN or ERROR", EnvLogLevel, v)
		}
	}
	for _, e := range []struct{ name, v string }{
		{EnvDynamoDBEndpoint, c.DynamoDBEndpoint}, {EnvEventBridgeEndpoint, c.EventBridgeEndpoint},
		{EnvSageMakerEndpoint, c.SageMakerEndpoint}, {EnvLogsEndpoint, c.LogsEndpoint},
	} {
		if e.v == "" {
			continue
		}
		if u, err := url.Parse(e.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("%s %q must be an absolute http(s) URL", e.name, e.v)
		}
	}
	c.ExecutionRoles = list(getenv(EnvExecutionRoles))
	for _, r := range c.ExecutionRoles {
		if !roleArnPattern.MatchString(r) {
			bad("%s: %q is not an IAM role ARN", EnvExecutionRoles, r)
		}
	}
	c.TrainingSubnets, c.TrainingSecurityGroups = list(getenv(EnvTrainingSubnets)), list(getenv(EnvTrainingGroups))
	for _, s := range c.TrainingSubnets {
		if !strings.HasPrefix(s, "subnet-") {
			bad("%s: %q is not a subnet id", EnvTrainingSubnets, s)
		}
	}
	for _, g := range c.TrainingSecurityGroups {
		if !strings.HasPrefix(g, "sg-") {
			bad("%s: %q is not a security group id", EnvTrainingGroups, g)
		}
	}
	if (len(c.TrainingSubnets) == 0) != (len(c.TrainingSecurityGroups) == 0) {
		bad("%s and %s go together: a training VPC needs both subnets and security groups", EnvTrainingSubnets, EnvTrainingGroups)
	}
	c.TrainingKMSKey = getenv(EnvTrainingKMSKey)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("sagequeue %s: invalid configuration: %s", fn, strings.Join(errs, "; "))
	}
	if c.Holder == "" {
		c.Holder = string(fn)
	}
	return c, nil
}

// list splits a comma-separated variable, dropping blanks.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
