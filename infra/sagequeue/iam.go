package sagequeue

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

// role is fn's execution role: one inline policy with exactly what
// cloud.PermissionsOf(fn) lists, each on the resources it is called on.
// No managed policies and no grants of the L2 constructs, which are wider
// (e.g. the DLQ grant adds sqs:GetQueueAttributes).
func (s *Sagequeue) role(fn cloud.Function, logs awslogs.LogGroup) awsiam.Role {
	var statements []awsiam.PolicyStatement
	add := func(sid string, actions []string, resources []string, conditions map[string]any) {
		p := &awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Effect: awsiam.Effect_ALLOW,
			Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...),
		}
		if conditions != nil {
			p.Conditions = &conditions
		}
		statements = append(statements, awsiam.NewPolicyStatement(p))
	}
	stack := awscdk.Stack_Of(s.Construct)
	perms := cloud.PermissionsOf(fn)

	// The function's own logs; the group exists, so no CreateLogGroup.
	add("OwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{*logs.LogGroupArn()}, nil)

	add("Table", perms.DynamoDB, []string{*s.Table.TableArn()}, nil)
	if len(perms.Indexes) > 0 {
		var arns []string
		for _, ix := range perms.Indexes {
			arns = append(arns, *s.Table.TableArn()+"/index/"+ix)
		}
		add("TableIndexes", []string{"dynamodb:Query"}, arns, nil)
	}
	if arn := s.cfg.Deployment.TableKmsKeyArn; arn != "" {
		// The table's customer-managed key, only through DynamoDB: what
		// reading and writing an encrypted table takes of its caller.
		add("TableKey", []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}, []string{arn},
			map[string]any{"StringEquals": map[string]any{"kms:ViaService": "dynamodb." + *stack.Region() + ".amazonaws.com"}})
	}
	if perms.PutEvents {
		add("PublishEvents", []string{"events:PutEvents"}, []string{*s.Bus.EventBusArn()}, nil)
	}
	if fn == cloud.FunctionSchedule {
		// The event source mapping reads the schedule queue with the
		// function's role (what AWSLambdaSQSQueueExecutionRole grants, on
		// this queue alone).
		add("ScheduleRequests", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}, []string{*s.ScheduleRequests.QueueArn()}, nil)
	}
	if q, ok := s.AsyncDeadLetters[fn]; ok {
		// Lambda sends failed asynchronous invocations to the dead-letter
		// queue with the function's role.
		add("DeadLetters", []string{"sqs:SendMessage"}, []string{*q.QueueArn()}, nil)
	}
	if len(perms.Logs) > 0 {
		// getservicejoblogs reads the training jobs' streams
		// (<training job name>/<instance>); the group ARN and, with ":*",
		// its streams.
		group := stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String(trainingLogGroup),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})
		add("TrainingJobLogs", perms.Logs, []string{*group, *group + ":*"}, nil)
	}
	if len(perms.SageMaker) > 0 {
		s.sageMakerStatements(add, perms.SageMaker)
	}
	if plans := s.cfg.TrainingPlanArns(); len(perms.TrainingPlans) > 0 && len(plans) > 0 {
		// Describing exactly the plans the configuration names: their
		// windows and capacity, and (configure) that they exist.
		add("DescribeTrainingPlans", perms.TrainingPlans, plans, nil)
	}

	spec := specs[fn]
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})
	return awsiam.NewRole(s.Construct, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		Description:    jsii.String(fmt.Sprintf("sagequeue %s function: %s", fn, spec.description)),
		AssumedBy:      awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"sagequeue": doc},
	})
}

// trainingJobArn is the ARN pattern of the training jobs sagequeue names.
func (s *Sagequeue) trainingJobArn() string {
	return *awscdk.Stack_Of(s.Construct).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("sagemaker"), Resource: jsii.String("training-job"),
		ResourceName: jsii.String(s.cfg.Deployment.NamePrefix + "-*"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
}

// sageMakerStatements are the schedule function's: launching, describing
// and stopping its training jobs, passing the execution roles, using the
// training plans and the training key.
func (s *Sagequeue) sageMakerStatements(add func(string, []string, []string, map[string]any), actions []string) {
	d := s.cfg.Deployment
	jobs := s.trainingJobArn()
	var onJobs []string
	tagging := false
	for _, a := range actions {
		if a == "sagemaker:AddTags" {
			tagging = true
			continue
		}
		onJobs = append(onJobs, a)
	}
	add("TrainingJobs", onJobs, []string{jobs}, nil)
	if tagging {
		// CreateTrainingJob with Tags (sagequeue:jobId, ...) is also
		// authorized as AddTags; the condition allows it only as part of
		// the creation, never to retag a training job later.
		add("TagTrainingJobsAtCreation", []string{"sagemaker:AddTags"}, []string{jobs},
			map[string]any{"StringEquals": map[string]any{"sagemaker:TaggingAction": "CreateTrainingJob"}})
	}
	add("PassExecutionRoles", []string{"iam:PassRole"}, d.ExecutionRoleArns,
		map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "sagemaker.amazonaws.com"}})

	if plans := s.cfg.TrainingPlanArns(); len(plans) > 0 {
		// SageMaker authorizes CreateTrainingJob with a
		// ResourceConfig.TrainingPlanArn also against the plan: the caller
		// needs sagemaker:CreateTrainingJob on the training-plan resource,
		// and on the plan's reserved capacities (reserved-capacity/<name>),
		// as AWS Batch's own role for SageMaker jobs shows
		// (AWSBatchServiceRolePolicyForSageMaker grants CreateTrainingJob
		// on training-plan/* and reserved-capacity/*). The plans are allowed
		// exactly, by ARN; the names of a plan's reserved capacities are
		// SageMaker's, not known before the plan is bought, so they are
		// allowed in the plans' accounts and regions: a training job can
		// only reach a reserved capacity through its plan, which the first
		// resource already limits.
		resources := append([]string{}, plans...)
		seen := map[string]bool{}
		for _, p := range plans {
			parts := strings.SplitN(p, ":", 6) // arn:partition:sagemaker:region:account:training-plan/name
			rc := strings.Join(parts[:5], ":") + ":reserved-capacity/*"
			if !seen[rc] {
				seen[rc] = true
				resources = append(resources, rc)
			}
		}
		add("TrainingPlans", []string{"sagemaker:CreateTrainingJob"}, resources, nil)
	}
	if key := d.TrainingKmsKeyArn; key != "" {
		// Training jobs encrypt their volumes and output with the key;
		// SageMaker creates grants on it for the instances with the
		// caller's credentials. Only grants for AWS resources.
		add("TrainingKey", []string{"kms:CreateGrant"}, []string{key},
			map[string]any{"Bool": map[string]any{"kms:GrantIsForAWSResource": "true"}})
		add("DescribeTrainingKey", []string{"kms:DescribeKey"}, []string{key},
			map[string]any{"StringEquals": map[string]any{"kms:ViaService": "sagemaker." + *awscdk.Stack_Of(s.Construct).Region() + ".amazonaws.com"}})
	}
}
