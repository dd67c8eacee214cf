package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

func init() { register(groupConfig, []string{"env", "environment"}, newEnvCmd) }

// capacityUnitInstances is the capacity unit of SageMaker training environments.
const capacityUnitInstances = "NUM_INSTANCES"

func newEnvCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "env",
		Aliases: []string{"environment"},
		Short:   "Manage service environments (pools of instances, e.g. a training plan)",
		Long: `Manage service environments: the pools of capacity, counted in instances,
that job queues place jobs into — for example the instances of a SageMaker
training plan.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newEnvCreateCmd(a), newEnvUpdateCmd(a), newEnvDescribeCmd(a), newEnvDeleteCmd(a))
	return cmd
}

func parseState(flag, s string) (string, error) {
	u := strings.ToUpper(s)
	if u != "ENABLED" && u != "DISABLED" {
		return "", usagef("--%s must be ENABLED or DISABLED, got %q", flag, s)
	}
	return u, nil
}

func checkTrainingPlanARN(s string) error {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sagemaker" || !strings.HasPrefix(parts[5], "training-plan/") || parts[5] == "training-plan/" {
		return usagef("--training-plan-arn: %q is not a SageMaker training plan ARN (arn:aws:sagemaker:REGION:ACCOUNT:training-plan/NAME)", s)
	}
	return nil
}

func newEnvCreateCmd(a *App) *cobra.Command {
	var (
		maxCapacity    int32
		state          string
		trainingPlan   string
		partialWindows bool
		tags           kvFlag
		limits         kvFlag
	)
	cmd := &cobra.Command{
		Use:   "create NAME --max-capacity N | --limit TYPE=N... [flags]",
		Short: "Create a service environment",
		Long: `Create a service environment of type SAGEMAKER_TRAINING with a capacity of
--max-capacity instances (CreateServiceEnvironment). --training-plan-arn is a
sagequeue extension: jobs placed in the environment run in that SageMaker
training plan unless their payload names another. Prints the environment's ARN.

With --limit TYPE=N instead of --max-capacity, the capacity is per instance
type (1 to 5 types): a quota management environment, for one queue whose
scheduling policy has a quotaSharePolicy (see docs/quota-management.md).`,
		Example: `  sagequeue env create p4d-plan --max-capacity 8 \
      --training-plan-arn arn:aws:sagemaker:us-east-1:123456789012:training-plan/p4d-june
  sagequeue env create gpus --limit ml.p5.48xlarge=4 --limit ml.g6.xlarge=8`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := parseState("state", state)
			if err != nil {
				return err
			}
			var opts []func(*batch.Options)
			members := map[string]any{}
			if trainingPlan != "" {
				if err := checkTrainingPlanARN(trainingPlan); err != nil {
					return err
				}
				members[memberTrainingPlanArn] = trainingPlan
			}
			if partialWindows {
				members[memberPartialWindows] = true
			}
			if len(members) > 0 {
				opts = append(opts, withBodyMembers(members))
			}
			in := &batch.CreateServiceEnvironmentInput{
				ServiceEnvironmentName: aws.String(args[0]),
				ServiceEnvironmentType: types.ServiceEnvironmentTypeSagemakerTraining,
				State:                  types.ServiceEnvironmentState(st),
			}
			cl, err := capacityLimits(cmd.Flags().Changed("max-capacity"), maxCapacity, &limits)
			if err != nil {
				return err
			}
			in.CapacityLimits = cl
			if len(tags.Map) > 0 {
				in.Tags = tags.Map
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			out, err := client.CreateServiceEnvironment(ctx, in, opts...)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.ServiceEnvironmentArn))
			return err
		},
	}
	f := cmd.Flags()
	f.Int32Var(&maxCapacity, "max-capacity", 0, "instances the environment offers")
	f.Var(&limits, "limit", "instances of one type, TYPE=N (repeatable; quota management)")
	f.StringVar(&state, "state", "ENABLED", "ENABLED or DISABLED")
	f.StringVar(&trainingPlan, "training-plan-arn", "", "SageMaker training plan of the environment (sagequeue extension)")
	f.BoolVar(&partialWindows, "partial-windows", false, "let jobs start in a plan window that ends before their runtime bound, for jobs that checkpoint (sagequeue extension)")
	f.Var(&tags, "tag", "tag KEY=VALUE (repeatable)")
	return cmd
}

// capacityLimits is --max-capacity as a NUM_INSTANCES limit, or --limit
// TYPE=N as per-type limits; exactly one of them.
func capacityLimits(maxSet bool, maxCapacity int32, limits *kvFlag) ([]types.CapacityLimit, error) {
	switch {
	case maxSet && len(limits.Keys) > 0:
		return nil, usagef("give --max-capacity or --limit, not both")
	case maxSet:
		return []types.CapacityLimit{{CapacityUnit: aws.String(capacityUnitInstances), MaxCapacity: aws.Int32(maxCapacity)}}, nil
	case len(limits.Keys) == 0:
		return nil, usagef("--max-capacity N (or --limit TYPE=N for quota management) is required")
	}
	var out []types.CapacityLimit
	for _, k := range limits.Keys {
		n, err := strconv.ParseInt(limits.Map[k], 10, 32)
		if err != nil {
			return nil, usagef("--limit %s=%s: the count is not a number", k, limits.Map[k])
		}
		out = append(out, types.CapacityLimit{CapacityUnit: aws.String(k), MaxCapacity: aws.Int32(int32(n))})
	}
	return out, nil
}

func newEnvUpdateCmd(a *App) *cobra.Command {
	var (
		maxCapacity    int32
		state          string
		trainingPlan   string
		partialWindows bool
		limits         kvFlag
	)
	cmd := &cobra.Command{
		Use:   "update NAME [--max-capacity N | --limit TYPE=N...] [--state ENABLED|DISABLED] [--training-plan-arn ARN] [--partial-windows=true|false]",
		Short: "Change the capacity, state or training plan of a service environment",
		Example: `  sagequeue env update p4d-plan --max-capacity 16
  sagequeue env update p4d-plan --state DISABLED`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if !changed("max-capacity") && !changed("limit") && !changed("state") && !changed("training-plan-arn") && !changed("partial-windows") {
				return usagef("nothing to update: give --max-capacity, --limit, --state, --training-plan-arn or --partial-windows")
			}
			in := &batch.UpdateServiceEnvironmentInput{ServiceEnvironment: aws.String(args[0])}
			if changed("max-capacity") || changed("limit") {
				cl, err := capacityLimits(changed("max-capacity"), maxCapacity, &limits)
				if err != nil {
					return err
				}
				in.CapacityLimits = cl
			}
			if changed("state") {
				st, err := parseState("state", state)
				if err != nil {
					return err
				}
				in.State = types.ServiceEnvironmentState(st)
			}
			var opts []func(*batch.Options)
			members := map[string]any{}
			if changed("training-plan-arn") {
				if err := checkTrainingPlanARN(trainingPlan); err != nil {
					return err
				}
				members[memberTrainingPlanArn] = trainingPlan
			}
			if changed("partial-windows") {
				members[memberPartialWindows] = partialWindows
			}
			if len(members) > 0 {
				opts = append(opts, withBodyMembers(members))
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			out, err := client.UpdateServiceEnvironment(ctx, in, opts...)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.ServiceEnvironmentArn))
			return err
		},
	}
	f := cmd.Flags()
	f.Int32Var(&maxCapacity, "max-capacity", 0, "instances the environment offers")
	f.Var(&limits, "limit", "instances of one type, TYPE=N (repeatable; quota management: replaces every per-type limit)")
	f.StringVar(&state, "state", "", "ENABLED or DISABLED")
	f.StringVar(&trainingPlan, "training-plan-arn", "", "SageMaker training plan of the environment (sagequeue extension)")
	f.BoolVar(&partialWindows, "partial-windows", false, "let jobs start in a plan window that ends before their runtime bound (sagequeue extension)")
	return markNotFoundTarget(cmd)
}

// envWithExtras is a service environment with the sagequeue members the SDK
// does not decode, read from the raw response.
type envWithExtras struct {
	types.ServiceEnvironmentDetail
	TrainingPlanArn string
}

func newEnvDescribeCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe [NAME|ARN...]",
		Short: "Show service environments (all when none are named)",
		Example: `  sagequeue env describe
  sagequeue env describe p4d-plan -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			var envs []envWithExtras
			in := &batch.DescribeServiceEnvironmentsInput{ServiceEnvironments: args}
			for {
				var raw []byte
				out, err := client.DescribeServiceEnvironments(ctx, in, withRawBody(&raw))
				if err != nil {
					return err
				}
				extras := trainingPlansOf(raw)
				for _, e := range out.ServiceEnvironments {
					envs = append(envs, envWithExtras{e, extras[aws.ToString(e.ServiceEnvironmentArn)]})
				}
				if aws.ToString(out.NextToken) == "" {
					break
				}
				in.NextToken = out.NextToken
			}
			missing := missingNames(args, len(envs), func(i int) (string, string) {
				return aws.ToString(envs[i].ServiceEnvironmentName), aws.ToString(envs[i].ServiceEnvironmentArn)
			})
			if a.json() {
				list := make([]any, 0, len(envs))
				for _, e := range envs {
					m := toJSON(e.ServiceEnvironmentDetail).(map[string]any)
					if e.TrainingPlanArn != "" {
						m[memberTrainingPlanArn] = e.TrainingPlanArn
					}
					list = append(list, m)
				}
				if err := writeJSON(a.Stdout, map[string]any{"serviceEnvironments": list}); err != nil {
					return err
				}
			} else {
				t := newTable(a.Stdout, "NAME", "STATE", "STATUS", "MAX INSTANCES", "TRAINING PLAN", "ARN")
				for _, e := range envs {
					capacity := "-"
					for _, l := range e.CapacityLimits {
						capacity = fmt.Sprint(aws.ToInt32(l.MaxCapacity))
					}
					t.row(aws.ToString(e.ServiceEnvironmentName), string(e.State), string(e.Status), capacity,
						dash(nameFromTrainingPlan(e.TrainingPlanArn)), aws.ToString(e.ServiceEnvironmentArn))
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return notFoundList("service environment", missing)
		},
	}
	return markNotFoundTarget(cmd)
}

// trainingPlansOf reads trainingPlanArn per environment ARN from a raw
// DescribeServiceEnvironments response.
func trainingPlansOf(raw []byte) map[string]string {
	var doc struct {
		ServiceEnvironments []struct {
			ServiceEnvironmentArn string `json:"serviceEnvironmentArn"`
			TrainingPlanArn       string `json:"trainingPlanArn"`
		} `json:"serviceEnvironments"`
	}
	plans := map[string]string{}
	if json.Unmarshal(raw, &doc) == nil {
		for _, e := range doc.ServiceEnvironments {
			if e.TrainingPlanArn != "" {
				plans[e.ServiceEnvironmentArn] = e.TrainingPlanArn
			}
		}
	}
	return plans
}

func nameFromTrainingPlan(arn string) string {
	if _, name, ok := strings.Cut(arn, ":training-plan/"); ok {
		return name
	}
	return arn
}

// missingNames returns the names or ARNs asked for that no result matches.
func missingNames(asked []string, n int, nameArn func(i int) (name, arn string)) []string {
	found := map[string]bool{}
	for i := range n {
		name, arn := nameArn(i)
		found[name], found[arn] = true, true
	}
	var missing []string
	for _, s := range asked {
		if !found[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// notFoundList is exit code 3 for names that do not exist, or nil.
func notFoundList(kind string, missing []string) error {
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return notFoundf("%s %s not found", kind, missing[0])
	}
	return notFoundf("%ss not found: %s", kind, strings.Join(missing, ", "))
}

func newEnvDeleteCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a service environment",
		Long:    "Delete a service environment (DeleteServiceEnvironment). Prints its name.",
		Example: `  sagequeue env delete p4d-plan`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			if _, err := client.DeleteServiceEnvironment(ctx, &batch.DeleteServiceEnvironmentInput{ServiceEnvironment: aws.String(args[0])}); err != nil {
				return err
			}
			if a.json() {
				return nil
			}
			_, err = fmt.Fprintln(a.Stdout, args[0])
			return err
		},
	}
	return markNotFoundTarget(cmd)
}
