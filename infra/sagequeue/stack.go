package sagequeue

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Stack is a stack that holds sagequeue and says where it is.
type Stack struct {
	awscdk.Stack
	Sagequeue *Sagequeue
}

// NewStack makes the stack named by the configuration's
// deployment.stackName, with sagequeue in it and its outputs: the API's
// URL (the CLI's --endpoint), the table and the event bus.
func NewStack(scope constructs.Construct, stackProps *awscdk.StackProps, props *Props) (*Stack, error) {
	if props == nil || props.Config == nil {
		return nil, errNoConfig
	}
	sp := awscdk.StackProps{}
	if stackProps != nil {
		sp = *stackProps
	}
	if sp.Description == nil {
		sp.Description = jsii.String("sagequeue: a job queue for SageMaker training jobs speaking the AWS Batch service-job API")
	}
	st := awscdk.NewStack(scope, jsii.String(props.Config.Deployment.StackName), &sp)
	sq, err := New(st, "Sagequeue", props)
	if err != nil {
		return nil, err
	}
	out := func(id, description string, value *string) {
		awscdk.NewCfnOutput(st, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out("ApiUrl", "The sagequeue API (sagequeue --endpoint; requests signed with SigV4 for execute-api)", sq.Api.ApiEndpoint())
	out("TableName", "The DynamoDB table of sagequeue", sq.Table.TableName())
	out("EventBusName", "The event bus of Schedule Requested and Service Job State Change events", sq.Bus.EventBusName())
	return &Stack{Stack: st, Sagequeue: sq}, nil
}
