package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
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
	// The job model builds SageMaker's payload shapes at every start; the
	// client validates nothing with them (the server does).
	"github.com/sagequeue/sagequeue/internal/model":    "the job model and its payload shape tables",
	"github.com/sagequeue/sagequeue/internal/cloud":    "the Lambda handlers",
	"github.com/sagequeue/sagequeue/internal/ebus":     "the EventBridge bus",
	"github.com/sagequeue/sagequeue/internal/ddblocal": "DynamoDB Local for tests",
	"github.com/aws/aws-lambda-go":                     "the Lambda runtime",
	"github.com/prometheus/client_golang":              "the server's metrics",
	// The SDK's configuration loader links the STS, SSO, SSO-OIDC and
	// sign-in clients: a quarter of a submit's CPU at start-up. The client
	// resolves the common cases itself (internal/awsconf) and asks the
	// server binary for the rest (internal/awsconf/full).
	"github.com/aws/aws-sdk-go-v2/config":                    "the SDK's configuration loader (internal/awsconf/full, in the server binary)",
	"github.com/sagequeue/sagequeue/internal/awsconf/full":   "the SDK's configuration loader",
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds":          "instance metadata credentials",
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds":      "assumed-role credentials",
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds":      "SSO credentials",
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds":  "credential_process",
	"github.com/aws/aws-sdk-go-v2/credentials/logincreds":    "console sign-in credentials",
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds":  "instance metadata credentials",
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds": "container credentials",
	// sagequeue simulate runs in the server binary: the simulator, the YAML
	// reader and the HTML report's templates initialised at every start
	// cost a fifteenth of a submit.
	"github.com/sagequeue/sagequeue/internal/simulate":  "the simulator (sagequeue simulate, in the server binary)",
	"github.com/sagequeue/sagequeue/internal/sched/sim": "the simulator",
	"github.com/sagequeue/sagequeue/internal/setup":     "configuration files (serve --config, simulate)",
	"go.yaml.in/yaml":  "YAML, for configuration files",
	"sigs.k8s.io/yaml": "YAML, for configuration files",
	"html/template":    "the simulator's HTML report",
}

// clientServices are the AWS SDK service clients the client may link: Batch,
// which every command speaks. Any other service client is a sign that server
// code leaked in, or the SDK's credential chain (sts, sso, ssooidc, signin),
// which the server binary runs for the client.
var clientServices = map[string]bool{"batch": true, "internal": true}

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
		"github.com/aws/aws-sdk-go-v2/service/sts/types":                  true,
		"github.com/aws/aws-sdk-go-v2/service/sso":                        true,
		"github.com/aws/aws-sdk-go-v2/service/ssooidc":                    true,
		"github.com/aws/aws-sdk-go-v2/service/signin":                     true,
		"github.com/aws/aws-sdk-go-v2/config":                             true,
		"github.com/aws/aws-sdk-go-v2/config/internal/ini":                true,
		"github.com/aws/aws-sdk-go-v2/credentials/ssocreds":               true,
		"github.com/aws/aws-sdk-go-v2/credentials":                        false,
		"github.com/aws/aws-sdk-go-v2/service/batch/types":                false,
		"github.com/sagequeue/sagequeue/internal/awsconf":                 false,
		"github.com/sagequeue/sagequeue/internal/awsconf/full":            true,
		"github.com/aws/aws-sdk-go-v2/service/internal/presigned-url":     false,
		"github.com/sagequeue/sagequeue/internal/cli":                     false,
		"github.com/sagequeue/sagequeue/internal/model":                   true,
		"github.com/sagequeue/sagequeue/internal/safetext":                false,
		"github.com/sagequeue/sagequeue/internal/setup":                   true,
		"go.yaml.in/yaml/v2":                                              true,
		"github.com/sagequeue/sagequeue/internal/supervisor":              false,
		"github.com/sagequeue/sagequeue/internal/serverless-not-a-prefix": false,
	} {
		if got := forbidden(pkg) != ""; got != want {
			t.Errorf("forbidden(%s) = %v, want %v", pkg, got, want)
		}
	}
}

// keptOnlyByReflection are methods the client never calls. The linker drops
// them unless a reachable call to reflect's method lookup by name (such as
// text/template's, which cobra's SetUsageTemplate links) makes it keep every
// exported method of every type: that made the client binary a third bigger
// (13.1 MB against 9.7 MB) and each process pay for it in start-up.
var keptOnlyByReflection = []string{
	"net/http.(*Server).ServeTLS",
	"github.com/aws/aws-sdk-go-v2/service/batch.(*Client).CreateComputeEnvironment",
}

// TestClientDeadCodeElimination builds the client and fails when the linker
// kept methods that nothing calls.
func TestClientDeadCodeElimination(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the client: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sagequeue")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("reading the client binary: %v", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("reading the client binary's symbols: %v", err)
	}
	have := make(map[string]bool, len(syms))
	for _, s := range syms {
		have[s.Name] = true
	}
	if !have["main.main"] {
		t.Fatalf("the symbol table has no main.main (%d symbols): cannot tell what the linker kept", len(syms))
	}
	for _, name := range keptOnlyByReflection {
		if have[name] {
			t.Errorf("the client binary holds %s, which it never calls: something reachable looks methods up by name through reflect (a text/template execution, such as cobra's Set*Template, or reflect.Value.MethodByName), so the linker keeps every exported method", name)
		}
	}
}
