package sagequeue

import (
	_ "embed"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"sigs.k8s.io/yaml"

	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/setup"
)

// Config is a deployment's configuration file (YAML or JSON): the
// sagequeue configuration in the format of `sagequeue serve --config`
// (environments, policies, queues: setup.Config), which the stack applies
// at every deploy that changes it, and the deployment's own settings.
type Config struct {
	Deployment Deployment `json:"deployment"`
	setup.Config
}

// Deployment are the settings of the stack itself.
type Deployment struct {
	// StackName names the CloudFormation stack (default "sagequeue").
	StackName string `json:"stackName,omitempty"`
	// NamePrefix starts every training job name (<prefix>-<jobId>-<attempt>);
	// the schedule function's SageMaker permissions and the SageMaker event
	// rule are limited to training jobs with it (default "sagequeue"). Lower
	// case only: IAM matches ARNs case-sensitively, and SageMaker has
	// reported training job ARNs in lower case for mixed-case names.
	NamePrefix string `json:"namePrefix,omitempty"`
	// ExecutionRoleArns are the IAM roles training jobs may run as: the
	// only roles the schedule function may pass to SageMaker. The first is
	// the role of payloads that name none. At least one.
	ExecutionRoleArns []string `json:"executionRoleArns"`
	// TrainingVpc is the VPC of training jobs whose payloads set none.
	TrainingVpc *TrainingVpc `json:"trainingVpc,omitempty"`
	// TrainingKmsKeyArn encrypts the output and volumes of training jobs
	// whose payloads name no key.
	TrainingKmsKeyArn string `json:"trainingKmsKeyArn,omitempty"`
	// TableKmsKeyArn is a customer-managed key for the table; without it the
	// table is encrypted with an AWS-owned key.
	TableKmsKeyArn string `json:"tableKmsKeyArn,omitempty"`
	// LogRetentionDays is how long the functions' and the API's logs are
	// kept: one of CloudWatch Logs' retention periods (default 90).
	LogRetentionDays int `json:"logRetentionDays,omitempty"`
	// JobRetention is how long a finished job stays in the table, like
	// 2160h or 90d (default 90d).
	JobRetention string `json:"jobRetention,omitempty"`
	// AlarmTopicArn is an SNS topic the alarms notify; without it the
	// alarms only show in CloudWatch.
	AlarmTopicArn string `json:"alarmTopicArn,omitempty"`
	// LogLevel is the functions' log level: DEBUG, INFO, WARN or ERROR.
	LogLevel string `json:"logLevel,omitempty"`
}

// TrainingVpc is the VpcConfig of training jobs.
type TrainingVpc struct {
	SubnetIds        []string `json:"subnetIds"`
	SecurityGroupIds []string `json:"securityGroupIds"`
}

// Defaults.
const (
	DefaultStackName        = "sagequeue"
	DefaultLogRetentionDays = 90
	DefaultJobRetention     = "90d"
)

// ExampleConfig is the configuration the app synthesizes when it is given
// none: one environment of 4 instances and one FIFO queue, with a
// placeholder execution role. It is there to look at the stack (`cdk synth`)
// before writing a configuration; examples/cloud.yaml is the one to start a
// deployment from.
//
//go:embed example.yaml
var ExampleConfig []byte

// LoadConfig reads and checks a configuration file. Unknown keys are
// errors: a misspelt setting would otherwise be silently ignored.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses a configuration (YAML or JSON), fills in the defaults
// and checks it.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, err
	}
	c.defaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) defaults() {
	d := &c.Deployment
	if d.StackName == "" {
		d.StackName = DefaultStackName
	}
	if d.NamePrefix == "" {
		d.NamePrefix = cloud.DefaultNamePrefix
	}
	if d.LogRetentionDays == 0 {
		d.LogRetentionDays = DefaultLogRetentionDays
	}
	if d.JobRetention == "" {
		d.JobRetention = DefaultJobRetention
	}
	if d.LogLevel == "" {
		d.LogLevel = "INFO"
	}
}

var (
	stackNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	kmsKeyArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)
	snsTopicPattern  = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$`)
	subnetPattern    = regexp.MustCompile(`^subnet-[0-9a-f]+$`)
	groupPattern     = regexp.MustCompile(`^sg-[0-9a-f]+$`)
)

// Validate checks the whole configuration, all problems at once. The
// functions' environment is checked with the functions' own LoadConfig, so a
// configuration that synthesizes is one whose functions start.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	d := c.Deployment
	if !stackNamePattern.MatchString(d.StackName) {
		bad("deployment.stackName %q must be 1-128 letters, digits or hyphens, starting with a letter", d.StackName)
	}
	if d.NamePrefix != strings.ToLower(d.NamePrefix) {
		bad("deployment.namePrefix %q must be lower case: IAM matches the training jobs' ARNs case-sensitively, and SageMaker has reported them in lower case for names in mixed case", d.NamePrefix)
	}
	if len(d.ExecutionRoleArns) == 0 {
		bad("deployment.executionRoleArns: at least one execution role is required: training jobs run as one, and the schedule function may pass only these")
	}
	if slices.Contains(d.ExecutionRoleArns, "") {
		bad("deployment.executionRoleArns: an empty role ARN")
	}
	if v := d.TrainingVpc; v != nil {
		if len(v.SubnetIds) == 0 || len(v.SecurityGroupIds) == 0 {
			bad("deployment.trainingVpc needs both subnetIds and securityGroupIds")
		}
		for _, s := range v.SubnetIds {
			if !subnetPattern.MatchString(s) {
				bad("deployment.trainingVpc.subnetIds: %q is not a subnet id", s)
			}
		}
		for _, g := range v.SecurityGroupIds {
			if !groupPattern.MatchString(g) {
				bad("deployment.trainingVpc.securityGroupIds: %q is not a security group id", g)
			}
		}
	}
	// Key ARNs, not ids or aliases: IAM can only scope permissions to a key
	// named by its ARN.
	for _, k := range [][2]string{{"trainingKmsKeyArn", d.TrainingKmsKeyArn}, {"tableKmsKeyArn", d.TableKmsKeyArn}} {
		if k[1] != "" && !kmsKeyArnPattern.MatchString(k[1]) {
			bad("deployment.%s %q must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)", k[0], k[1])
		}
	}
	if _, ok := retentionDays[d.LogRetentionDays]; !ok {
		bad("deployment.logRetentionDays %d is not a CloudWatch Logs retention period (%s)", d.LogRetentionDays, retentionList())
	}
	if d.AlarmTopicArn != "" && !snsTopicPattern.MatchString(d.AlarmTopicArn) {
		bad("deployment.alarmTopicArn %q is not an SNS topic ARN", d.AlarmTopicArn)
	}
	if len(c.TrainingPlans) > 0 {
		bad("trainingPlans declares training plans for the local SageMaker endpoint of `sagequeue serve` to emulate; a deployment uses SageMaker's own plans: name them in environments (trainingPlan.arn)")
	}
	for _, arn := range c.TrainingPlanArns() {
		if !model.IsTrainingPlanARN(arn) {
			bad("%q is not a SageMaker training plan ARN (arn:<partition>:sagemaker:<region>:<account>:training-plan/<name>)", arn)
		}
	}
	if err := c.Config.Validate(); err != nil {
		bad("%v", err)
	}
	for _, fn := range cloud.Functions {
		if _, err := cloud.LoadConfig(fn, c.placeholderEnv(fn)); err != nil {
			bad("%v", err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// placeholderEnv is a function's environment as the stack sets it, with
// stand-ins for what only deployment knows (the table's and the bus's
// names, the region).
func (c *Config) placeholderEnv(fn cloud.Function) func(string) string {
	env := c.environment(fn, "sagequeue-table-placeholder", "sagequeue-bus-placeholder", "")
	env[cloud.EnvRegion] = "us-east-1"
	return func(k string) string { return env[k] }
}

// environment is a function's environment variables (docs/configuration.md).
// account is "" where the stack lets the function take its account from its
// own ARN.
func (c *Config) environment(fn cloud.Function, table, bus, account string) map[string]string {
	d := c.Deployment
	env := map[string]string{
		cloud.EnvTable: table, cloud.EnvEventBus: bus, cloud.EnvNamePrefix: d.NamePrefix,
		cloud.EnvJobRetention: d.JobRetention, cloud.EnvLogLevel: d.LogLevel,
	}
	switch fn {
	case cloud.FunctionSubmit, cloud.FunctionConfigure:
		if account != "" {
			env[cloud.EnvAccountID] = account
		}
	}
	switch fn {
	case cloud.FunctionSubmit:
		env[cloud.EnvLogGroup] = trainingLogGroup
		env[cloud.EnvExecutionRoles] = strings.Join(d.ExecutionRoleArns, ",")
	case cloud.FunctionSchedule:
		env[cloud.EnvExecutionRoles] = strings.Join(d.ExecutionRoleArns, ",")
		if v := d.TrainingVpc; v != nil {
			env[cloud.EnvTrainingSubnets] = strings.Join(v.SubnetIds, ",")
			env[cloud.EnvTrainingGroups] = strings.Join(v.SecurityGroupIds, ",")
		}
		if d.TrainingKmsKeyArn != "" {
			env[cloud.EnvTrainingKMSKey] = d.TrainingKmsKeyArn
		}
	}
	return env
}

// retentionDays are CloudWatch Logs' retention periods.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

func retentionList() string {
	days := make([]int, 0, len(retentionDays))
	for d := range retentionDays {
		days = append(days, d)
	}
	slices.Sort(days)
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ", ")
}
