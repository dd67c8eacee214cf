package cloud_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go/middleware"

	"github.com/sagequeue/sagequeue/internal/cloud"
)

// calls records the IAM actions behind every AWS call a function makes in a
// test: stackDeps installs a recorder in every function it builds, and when
// the test ends checks that cloud.PermissionsOf grants all of them — the
// permissions the CDK stack gives the function. A call the stack would
// refuse fails here, not in a deployment.
type calls struct {
	mu      sync.Mutex
	actions map[string]bool
}

// recordCalls is the config option that records fn's calls, and the check
// of them at the end of t.
func recordCalls(t *testing.T, fn cloud.Function) func(*config.LoadOptions) error {
	c := &calls{actions: map[string]bool{}}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		allowed := allowedActions(fn)
		var missing []string
		for a := range c.actions {
			if !allowed[a] {
				missing = append(missing, a)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("function %s called %s, which cloud.PermissionsOf(%q) does not grant (the deployed function would be refused)",
				fn, strings.Join(missing, ", "), fn)
		}
	})
	return config.WithAPIOptions([]func(*middleware.Stack) error{func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("sagequeueRecordCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				actions := iamActions(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), in.Parameters)
				c.mu.Lock()
				for _, a := range actions {
					c.actions[a] = true
				}
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}})
}

// allowedActions is PermissionsOf(fn) in iamActions' terms.
func allowedActions(fn cloud.Function) map[string]bool {
	p := cloud.PermissionsOf(fn)
	out := map[string]bool{}
	for _, list := range [][]string{p.DynamoDB, p.SageMaker, p.Logs, p.TrainingPlans} {
		for _, a := range list {
			out[a] = true
		}
	}
	for _, ix := range p.Indexes {
		out["dynamodb:Query@index/"+ix] = true
	}
	if p.PutEvents {
		out["events:PutEvents"] = true
	}
	return out
}

// iamActions are the IAM actions a call is authorized by. A Query of an
// index is "dynamodb:Query@index/<name>", since IAM authorizes it on the
// index's ARN.
func iamActions(service, op string, params any) []string {
	switch service {
	case "DynamoDB":
		switch in := params.(type) {
		case *dynamodb.TransactWriteItemsInput:
			var out []string
			for _, it := range in.TransactItems {
				switch {
				case it.Put != nil:
					out = append(out, "dynamodb:PutItem")
				case it.Update != nil:
					out = append(out, "dynamodb:UpdateItem")
				case it.Delete != nil:
					out = append(out, "dynamodb:DeleteItem")
				case it.ConditionCheck != nil:
					out = append(out, "dynamodb:ConditionCheckItem")
				}
			}
			return out
		case *dynamodb.TransactGetItemsInput:
			return []string{"dynamodb:GetItem"}
		case *dynamodb.QueryInput:
			if in.IndexName != nil {
				return []string{"dynamodb:Query@index/" + *in.IndexName}
			}
		}
		return []string{"dynamodb:" + op}
	case "SageMaker":
		// Creating a training job with tags is also authorized as AddTags.
		if in, ok := params.(*sagemaker.CreateTrainingJobInput); ok && len(in.Tags) > 0 {
			return []string{"sagemaker:" + op, "sagemaker:AddTags"}
		}
		return []string{"sagemaker:" + op}
	case "EventBridge":
		return []string{"events:" + op}
	case "CloudWatch Logs":
		return []string{"logs:" + op}
	}
	return []string{strings.ToLower(service) + ":" + op}
}

// TestPermissionsOf checks the lists' shape: every function has some, and
// none holds a wildcard or a duplicate.
func TestPermissionsOf(t *testing.T) {
	for _, fn := range cloud.Functions {
		p := cloud.PermissionsOf(fn)
		if len(p.DynamoDB) == 0 || !p.PutEvents {
			t.Errorf("%s: %+v", fn, p)
		}
		for _, list := range [][]string{p.DynamoDB, p.SageMaker, p.Logs, p.Indexes, p.TrainingPlans} {
			if len(slices.Compact(slices.Clone(list))) != len(list) {
				t.Errorf("%s: %v has duplicates", fn, list)
			}
			for _, a := range list {
				if strings.Contains(a, "*") {
					t.Errorf("%s: %s is a wildcard", fn, a)
				}
			}
		}
	}
	if p := cloud.PermissionsOf("nope"); len(p.DynamoDB) != 0 {
		t.Errorf("an unknown function has permissions: %+v", p)
	}
}
