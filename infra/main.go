// Command infra is the CDK app of sagequeue (cdk.json: "go run ./infra"):
// one stack with the sagequeue construct (infra/sagequeue), configured from
// a configuration file:
//
//	npx aws-cdk deploy -c config=sagequeue.yaml
//
// Without -c config, ./sagequeue.yaml is used if it exists, else the
// built-in example (sagequeue.ExampleConfig, with a placeholder execution
// role: for looking at the template). The functions' bootstraps must have
// been built first (make build-lambdas; -c assets=<dir> to take them from
// elsewhere). The AwsSolutions checks of cdk-nag run on every synthesis; a
// finding that is not suppressed with a reason fails it.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/sagequeue/sagequeue/infra/sagequeue"
)

// defaultConfig is the configuration file used when -c config names none.
const defaultConfig = "sagequeue.yaml"

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "sagequeue cdk: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg, err := loadConfig(contextValue(app, "config"))
	if err != nil {
		return err
	}
	// The account and region the CLI resolved, when it did: ARNs then
	// resolve at synthesis. Without them the template stays
	// environment-agnostic, which the stack supports as well.
	var env *awscdk.Environment
	if account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); account != "" && region != "" {
		env = &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	}
	if _, err := sagequeue.NewStack(app, &awscdk.StackProps{Env: env}, &sagequeue.Props{Config: cfg, AssetDir: contextValue(app, "assets")}); err != nil {
		return err
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	assembly := app.Synth(nil)
	// The CDK CLI refuses to deploy a stack with error annotations; the
	// app fails on them itself too, so that `make synth` (which runs the
	// app without the CLI) does as well.
	var errs []string
	for _, st := range *assembly.Stacks() {
		for _, m := range *st.Messages() {
			if m.Level == cxapi.SynthesisMessageLevel_ERROR {
				errs = append(errs, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d errors (cdk-nag findings without a suppression?):\n%s", len(errs), strings.Join(errs, "\n"))
	}
	return nil
}

// contextValue is a string from the CDK context (-c key=value), "" if unset.
func contextValue(app awscdk.App, key string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok {
		return v
	}
	return ""
}

func loadConfig(path string) (*sagequeue.Config, error) {
	if path != "" {
		return sagequeue.LoadConfig(path)
	}
	cfg, err := sagequeue.LoadConfig(defaultConfig)
	if !errors.Is(err, fs.ErrNotExist) {
		return cfg, err
	}
	fmt.Fprintf(os.Stderr, "sagequeue cdk: no -c config=<file> and no %s: synthesizing the built-in example, whose execution role is a placeholder (see examples/cloud.yaml)\n", defaultConfig)
	return sagequeue.ParseConfig(sagequeue.ExampleConfig)
}
