package main

import (
	"os/exec"
	"strings"
	"testing"
)

// serverOnly are import paths (and their subpackages) that the client binary
// must not link, with why. Go runs the init of every linked package before
// main, so linking is paying: the SageMaker SDK's schemas alone took 10 ms
// and 3.8 MB per `sagequeue submit`. The serve and dashboard commands get
// them from the server binary, cmd/sagequeue-server.
var serverOnly = map[string]string{
	"github.com/aws/aws-sdk-go-v2/service/sagemaker": "the SageMaker SDK (its schemas cost 10 ms of init)",
	"go.etcd.io/bbolt": "the embedded store",
	"github.com/sagequeue/sagequeue/internal/server":    "sagequeue serve",
	"github.com/sagequeue/sagequeue/internal/servercmd": "the server binary's commands",
	"github.com/sagequeue/sagequeue/internal/engine":    "the scheduler",
	"github.com/sagequeue/sagequeue/internal/localsm":   "the local SageMaker endpoint",
	"github.com/sagequeue/sagequeue/internal/dashboard": "the dashboard's files",
	"github.com/sagequeue/sagequeue/internal/store":     "the store and its backends",
	"github.com/sagequeue/sagequeue/internal/api":       "the API handler",
	"github.com/sagequeue/sagequeue/internal/joblogs":   "the log readers (CloudWatch Logs SDK)",
	"github.com/sagequeue/sagequeue/internal/metrics":   "the server's metrics",
	"github.com/sagequeue/sagequeue/internal/cloud":     "the Lambda handlers",
	"github.com/sagequeue/sagequeue/internal/ebus":      "the EventBridge bus",
	"github.com/sagequeue/sagequeue/internal/ddblocal":  "DynamoDB Local for tests",
	"github.com/aws/aws-lambda-go":                      "the Lambda runtime",
	"github.com/prometheus/client_golang":               "the server's metrics",
}

// clientServices are the AWS SDK service clients the client may link: Batch,
// which every command speaks, and those the SDK's credential chain uses
// (profiles with roles, SSO, console sign-in). Any other service client is a
// sign that server code leaked in.
var clientServices = map[string]bool{
	"batch": true, "sts": true, "sso": true, "ssooidc": true, "signin": true, "internal": true,
}

// TestClientDependencies fails when a server-only package becomes reachable
// from the client binary: the client commands must start in a few
// milliseconds (docs/benchmarks.md), and reach server data through the Batch
// API and sagequeue's extension operations only.
func TestClientDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list the client's dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed only %d packages: %q", len(deps), deps)
	}
	for _, p := range deps {
		if why := forbidden(p); why != "" {
			t.Errorf("the client binary (cmd/sagequeue) links %s (%s), which belongs in the server binary (cmd/sagequeue-server): reach the server through the API instead", p, why)
		}
	}
}

func forbidden(pkg string) string {
	for prefix, why := range serverOnly {
		if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
			return why
		}
	}
	if rest, ok := strings.CutPrefix(pkg, "github.com/aws/aws-sdk-go-v2/service/"); ok {
		if svc, _, _ := strings.Cut(rest, "/"); !clientServices[svc] {
			return "the AWS SDK's " + svc + " client"
		}
	}
	return ""
}

// TestForbidden checks the rule itself on known cases, so that a typo in it
// cannot make TestClientDependencies pass vacuously.
func TestForbidden(t *testing.T) {
	for pkg, want := range map[string]bool{
		"github.com/aws/aws-sdk-go-v2/service/sagemaker":                  true,
		"github.com/aws/aws-sdk-go-v2/service/sagemaker/schemas":          true,
		"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs":             true,
		"go.etcd.io/bbolt/errors":                                         true,
		"github.com/sagequeue/sagequeue/internal/store/bolt":              true,
		"github.com/sagequeue/sagequeue/internal/dashboard":               true,
		"github.com/sagequeue/sagequeue/internal/server":                  true,
		"github.com/aws/aws-sdk-go-v2/service/batch":                      false,
		"github.com/aws/aws-sdk-go-v2/service/sts/types":                  false,
		"github.com/aws/aws-sdk-go-v2/service/internal/presigned-url":     false,
		"github.com/sagequeue/sagequeue/internal/cli":                     false,
		"github.com/sagequeue/sagequeue/internal/model":                   false,
		"github.com/sagequeue/sagequeue/internal/setup":                   false,
		"github.com/sagequeue/sagequeue/internal/serverless-not-a-prefix": false,
	} {
		if got := forbidden(pkg) != ""; got != want {
			t.Errorf("forbidden(%s) = %v, want %v", pkg, got, want)
		}
	}
}
