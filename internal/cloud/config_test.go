package cloud_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := cloud.LoadConfig(cloud.FunctionSchedule, env(map[string]string{
		"SAGEQUEUE_TABLE": "sagequeue", "AWS_REGION": "eu-west-1", "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]abc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventBus != "default" || c.NamePrefix != "sagequeue" || c.JobRetention != 90*24*time.Hour ||
		c.LogGroup != "/aws/sagemaker/TrainingJobs" || c.LogLevel != slog.LevelInfo || c.AccountID != "" ||
		c.Holder != "2024/01/01/[$LATEST]abc" || c.DynamoDBEndpoint != "" {
		t.Errorf("defaults: %+v", c)
	}
	c, err = cloud.LoadConfig(cloud.FunctionSubmit, env(map[string]string{
		"SAGEQUEUE_TABLE": "t-1", "AWS_REGION": "cn-north-1", "SAGEQUEUE_EVENT_BUS": "arn:aws-cn:events:cn-north-1:123456789012:event-bus/sq",
		"SAGEQUEUE_ACCOUNT_ID": "123456789012", "SAGEQUEUE_NAME_PREFIX": "team-a", "SAGEQUEUE_JOB_RETENTION": "30d",
		"SAGEQUEUE_LOG_LEVEL": "debug", "SAGEQUEUE_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.JobRetention != 30*24*time.Hour || c.LogLevel != slog.LevelDebug || c.NamePrefix != "team-a" || c.Holder != "submit" {
		t.Errorf("set: %+v", c)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	_, err := cloud.LoadConfig(cloud.FunctionStateChange, env(map[string]string{
		"SAGEQUEUE_ACCOUNT_ID": "12", "SAGEQUEUE_NAME_PREFIX": "Team-A", "SAGEQUEUE_JOB_RETENTION": "soon",
		"SAGEQUEUE_SAGEMAKER_ENDPOINT": "localhost:9000", "SAGEQUEUE_LOG_LEVEL": "loud", "AWS_REGION": "Europe",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "sagequeue statechange: invalid configuration: ") || strings.Count(msg, "\n") != 0 {
		t.Errorf("message %q: want one line naming the function", msg)
	}
	for _, want := range []string{
		"SAGEQUEUE_TABLE is required", `AWS_REGION "Europe" is not an AWS region`, `SAGEQUEUE_ACCOUNT_ID "12"`,
		`SAGEQUEUE_NAME_PREFIX "Team-A" must be 1-20 lowercase letters`, `SAGEQUEUE_JOB_RETENTION "soon"`, `SAGEQUEUE_SAGEMAKER_ENDPOINT "localhost:9000" must be an absolute http(s) URL`,
		`SAGEQUEUE_LOG_LEVEL "loud"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
}
