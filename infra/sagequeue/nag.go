package sagequeue

import (
	"regexp"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

// Suppression reasons: why each accepted cdk-nag finding is safe. Tests
// check that every finding is suppressed by one of these, and nothing else.
const (
	ReasonTrainingJobs = "Training job names are generated per attempt (<prefix>-<jobId>-<attempt>) and cannot be listed in advance; " +
		"the name prefix limits the schedule function to the training jobs sagequeue launches (the SageMaker event rule uses the same prefix)."
	ReasonReservedCapacity = "A training plan's reserved capacities are named by SageMaker when the plan is bought; SageMaker also authorizes " +
		"CreateTrainingJob on them (AWSBatchServiceRolePolicyForSageMaker grants the same). They are reachable only through their plan, " +
		"which this policy allows by exact ARN, and this wildcard is limited to the plans' own accounts and regions."
	ReasonTrainingLogs = "getservicejoblogs reads the log streams SageMaker creates per training job and instance (<training job>/algo-N-...), " +
		"whose names are not known in advance; the wildcard is limited to streams of the /aws/sagemaker/TrainingJobs log group, read-only " +
		"(DescribeLogStreams, GetLogEvents)."
	ReasonEventsDeadLetters = "This queue is itself a dead-letter queue: the EventBridge rules' targets send it the events they could not deliver " +
		"(cdk-nag recognizes only SQS redrive targets as DLQs). An alarm fires on its first message."
)

// suppressions are the cdk-nag findings the construct accepts, each on the
// resource it concerns and, for wildcards, on the exact resource pattern
// (appliesTo), so that any other wildcard is still reported.
func (s *Sagequeue) suppressions() {
	suppress := func(target any, id, reason string, appliesTo ...string) {
		sup := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			var list []any
			for _, re := range appliesTo {
				list = append(list, &cdknag.RegexAppliesTo{Regex: jsii.String("/" + re + "/")})
			}
			sup.AppliesTo = &list
		}
		cdknag.NagSuppressions_AddResourceSuppressions(target, &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(true))
	}
	// The partition, region and account are tokens (cdk-nag writes them
	// <AWS::Region>) in an environment-agnostic stack, and literals in one
	// with an environment.
	const part = `(?:<AWS::[A-Za-z]+>|[^:<>]+)`
	schedule := s.Roles[cloud.FunctionSchedule]
	suppress(schedule, "AwsSolutions-IAM5", ReasonTrainingJobs,
		`^Resource::arn:`+part+`:sagemaker:`+part+`:`+part+`:training-job\/`+regexp.QuoteMeta(s.cfg.Deployment.NamePrefix)+`-\*$`)
	if len(s.cfg.TrainingPlanArns()) > 0 {
		suppress(schedule, "AwsSolutions-IAM5", ReasonReservedCapacity, `^Resource::arn:[^:]+:sagemaker:[^:]+:\d{12}:reserved-capacity\/\*$`)
	}
	suppress(s.Roles[cloud.FunctionSubmit], "AwsSolutions-IAM5", ReasonTrainingLogs,
		`^Resource::arn:`+part+`:logs:`+part+`:`+part+`:log-group:`+regexp.QuoteMeta(trainingLogGroup)+`:\*$`)
	suppress(s.EventsDeadLetters, "AwsSolutions-SQS3", ReasonEventsDeadLetters)
}
