package cloud

import (
	"slices"

	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// Permissions are the AWS actions a function calls, for the IAM policies of
// the deployment: infra/sagequeue grants each function exactly these, on
// the resources they are called on. They are written down here, next to the
// code that makes the calls, and the package's tests check them against
// every AWS call the functions make in the tests that run them on DynamoDB
// Local and the local SageMaker endpoint (recordCalls in
// permissions_test.go; the end-to-end test and the configure test), so that
// a new call without a permission fails a test rather than a deployment.
type Permissions struct {
	// DynamoDB are the actions on the table. TransactWriteItems and
	// TransactGetItems are authorized per item (PutItem, UpdateItem,
	// DeleteItem, ConditionCheckItem; GetItem), so they are not listed.
	DynamoDB []string
	// Indexes are the indexes the function queries (dynamodb:Query on
	// table/<name>/index/<index>).
	Indexes []string
	// SageMaker are the actions on the training jobs sagequeue names
	// (training-job/<prefix>-*). A function with CreateTrainingJob also
	// passes the execution roles and uses the training plans and the
	// training KMS key.
	SageMaker []string
	// TrainingPlans are the actions on the training plans the deployment's
	// environments name (training-plan/<name>, exactly those): describing
	// them, for the scheduler's capacity, the API's plan operations and
	// its checks, and the configure step's refusal of unknown plans.
	TrainingPlans []string
	// Logs are the actions on the training jobs' log group (LogGroup).
	Logs []string
	// PutEvents: the function publishes to the event bus.
	PutEvents bool
}

// The indexes, by use.
var (
	listIndexes = []string{dynamo.IndexByQueueStatus, dynamo.IndexByStatus, dynamo.IndexByQueue}
	allIndexes  = append([]string{dynamo.IndexHeads}, listIndexes...)
)

// PermissionsOf returns what fn calls. The store calls behind each list:
//
//   - every function: DescribeTable (dynamo.New checks the table at a cold
//     start), GetItem and Query (jobs, configuration).
//   - submit serves the whole API: jobs are put (PutJob: Put, and Update of
//     a line's counter), updated (UpdateJob: Put, Update, Delete of a
//     collection copy), listed (Query of the list indexes, BatchGetItem of
//     the page's jobs) and summarized (GetJobQueueSnapshot: the heads
//     index); configuration is created, updated and deleted (DeleteItem);
//     getservicejoblogs reads the training jobs' log streams. UpdateJob is
//     never fenced there, so no ConditionCheckItem.
//   - schedule takes the scheduler lease (UpdateItem), makes fenced updates
//     (ConditionCheckItem of the lease) a batch at a time (UpdateJobs reads
//     the batch's jobs with BatchGetItem), reads heads (the heads index),
//     lists only collections (Query of the table, no list index), adds share
//     usage (PutItem), and launches, describes and stops training jobs.
//   - statechange updates jobs (unfenced) and adds share usage.
//   - configure creates and updates configuration through the API (GetItem,
//     Query, PutItem); it never deletes.
//   - submit, schedule and configure describe the training plans
//     (DescribeTrainingPlan).
//
// Every function publishes events: job state changes and schedule requests
// (configure: one after it changed the configuration).
func PermissionsOf(fn Function) Permissions {
	base := []string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"}
	with := func(more ...string) []string {
		out := append(slices.Clone(base), more...)
		slices.Sort(out)
		return out
	}
	switch fn {
	case FunctionSubmit:
		return Permissions{
			DynamoDB:      with("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem"),
			Indexes:       slices.Clone(allIndexes),
			Logs:          []string{"logs:DescribeLogStreams", "logs:GetLogEvents"},
			TrainingPlans: []string{describePlan},
			PutEvents:     true,
		}
	case FunctionSchedule:
		return Permissions{
			DynamoDB:      with("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:BatchGetItem"),
			Indexes:       []string{dynamo.IndexHeads},
			SageMaker:     []string{"sagemaker:AddTags", "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"},
			TrainingPlans: []string{describePlan},
			PutEvents:     true,
		}
	case FunctionStateChange:
		return Permissions{
			DynamoDB:  with("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
			PutEvents: true,
		}
	case FunctionConfigure:
		return Permissions{
			DynamoDB:      with("dynamodb:PutItem"),
			TrainingPlans: []string{describePlan},
			PutEvents:     true,
		}
	}
	return Permissions{}
}

const describePlan = "sagemaker:DescribeTrainingPlan"

// Functions are the Lambda functions of the cloud shape.
var Functions = []Function{FunctionSubmit, FunctionSchedule, FunctionStateChange, FunctionConfigure}
