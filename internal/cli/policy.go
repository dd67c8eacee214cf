package cli

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { register(groupConfig, []string{"policy"}, newPolicyCmd) }

func newPolicyCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Manage fair-share scheduling policies",
		Long: `Manage scheduling policies. A job queue with a policy is a fair-share queue:
jobs carry a share identifier, and the share that has used the least capacity
(weighted by its weight factor; lower weight = more capacity) goes next.

Policies are named by name or ARN; Batch itself takes ARNs only, so a name is
looked up with ListSchedulingPolicies.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPolicyCreateCmd(a), newPolicyUpdateCmd(a), newPolicyDescribeCmd(a),
		newPolicyListCmd(a), newPolicyDeleteCmd(a))
	return cmd
}

// shareFlag is a repeatable --share ID=WEIGHT; the order is kept.
type shareFlag struct{ shares []types.ShareAttributes }

var _ pflag.Value = (*shareFlag)(nil)

func (f *shareFlag) Set(s string) error {
	id, w, ok := strings.Cut(s, "=")
	if !ok || id == "" {
		return fmt.Errorf("%q is not SHARE_ID=WEIGHT (like team-a=1 or team-*=0.5)", s)
	}
	weight, err := strconv.ParseFloat(w, 32)
	if err != nil || math.IsNaN(weight) || math.IsInf(weight, 0) {
		return fmt.Errorf("%q: the weight %q is not a number", s, w)
	}
	f.shares = append(f.shares, types.ShareAttributes{ShareIdentifier: aws.String(id), WeightFactor: aws.Float32(float32(weight))})
	return nil
}

func (f *shareFlag) String() string {
	var parts []string
	for _, s := range f.shares {
		parts = append(parts, aws.ToString(s.ShareIdentifier)+"="+number(float64(aws.ToFloat32(s.WeightFactor))))
	}
	return strings.Join(parts, ",")
}

func (f *shareFlag) Type() string { return "ID=WEIGHT" }

type policyFlags struct {
	decay       string
	reservation int32
	shares      shareFlag
}

func (p *policyFlags) add(f *pflag.FlagSet) {
	f.StringVar(&p.decay, "decay", "", "share decay: how long past usage counts, in seconds or as a duration like 1h (shareDecaySeconds)")
	f.Int32Var(&p.reservation, "reservation", 0, "percent of capacity kept for shares that hold none yet, 0-99 (computeReservation)")
	f.Var(&p.shares, "share", "weight of a share identifier or prefix ending in *, ID=WEIGHT (repeatable; lower weight = more capacity)")
}

// apply sets the given flags into fp.
func (p *policyFlags) apply(cmd *cobra.Command, fp *types.FairsharePolicy) error {
	changed := cmd.Flags().Changed
	if changed("decay") {
		d, err := parseDuration(p.decay)
		if err != nil {
			return usagef("--decay: %v", err)
		}
		secs := int64(math.Ceil(d.Seconds()))
		if secs > math.MaxInt32 {
			return usagef("--decay %s is too long", p.decay)
		}
		fp.ShareDecaySeconds = aws.Int32(int32(secs))
	}
	if changed("reservation") {
		fp.ComputeReservation = aws.Int32(p.reservation)
	}
	if changed("share") {
		fp.ShareDistribution = p.shares.shares
	}
	return nil
}

func newPolicyCreateCmd(a *App) *cobra.Command {
	var (
		p     policyFlags
		tags  kvFlag
		quota bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME [--decay SECONDS] [--reservation PCT] [--share ID=WEIGHT...] | --quota",
		Short: "Create a fair-share or quota management scheduling policy",
		Long: `Create a scheduling policy (CreateSchedulingPolicy): fair share, or with
--quota a quota management policy (quotaSharePolicy, idle capacity lent in
FIFO order), whose queue holds quota shares. Prints its ARN.`,
		Example: `  sagequeue policy create fair --decay 3600 --reservation 10 --share team-a=1 --share team-b=0.5 --share 'intern-*=2'
  sagequeue policy create quotas --quota`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := &batch.CreateSchedulingPolicyInput{Name: aws.String(args[0])}
			if quota {
				if cmd.Flags().Changed("decay") || cmd.Flags().Changed("reservation") || cmd.Flags().Changed("share") {
					return usagef("--quota makes a quota management policy: --decay, --reservation and --share are for fair share")
				}
				in.QuotaSharePolicy = &types.QuotaSharePolicy{IdleResourceAssignmentStrategy: types.QuotaShareIdleResourceAssignmentStrategyFifo}
			} else {
				fp := &types.FairsharePolicy{}
				if err := p.apply(cmd, fp); err != nil {
					return err
				}
				in.FairsharePolicy = fp
			}
			if len(tags.Map) > 0 {
				in.Tags = tags.Map
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			out, err := client.CreateSchedulingPolicy(ctx, in)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.Arn))
			return err
		},
	}
	p.add(cmd.Flags())
	cmd.Flags().Var(&tags, "tag", "tag KEY=VALUE (repeatable)")
	cmd.Flags().BoolVar(&quota, "quota", false, "a quota management policy (quotaSharePolicy) instead of fair share")
	return cmd
}

func newPolicyUpdateCmd(a *App) *cobra.Command {
	var p policyFlags
	cmd := &cobra.Command{
		Use:   "update NAME|ARN [--decay SECONDS] [--reservation PCT] [--share ID=WEIGHT...]",
		Short: "Change a fair-share scheduling policy",
		Long: `Change a fair-share scheduling policy (UpdateSchedulingPolicy). Flags not
given keep their current values; --share replaces the whole share
distribution. Prints the policy's ARN.`,
		Example: `  sagequeue policy update fair --share team-a=1 --share team-b=1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if !changed("decay") && !changed("reservation") && !changed("share") {
				return usagef("nothing to update: give --decay, --reservation or --share")
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			arn, err := a.policyARN(ctx, client, args[0])
			if err != nil {
				return err
			}
			cur, err := client.DescribeSchedulingPolicies(ctx, &batch.DescribeSchedulingPoliciesInput{Arns: []string{arn}})
			if err != nil {
				return err
			}
			if len(cur.SchedulingPolicies) == 0 {
				return notFoundf("scheduling policy %s not found", args[0])
			}
			fp := cur.SchedulingPolicies[0].FairsharePolicy
			if fp == nil {
				fp = &types.FairsharePolicy{}
			}
			if err := p.apply(cmd, fp); err != nil {
				return err
			}
			out, err := client.UpdateSchedulingPolicy(ctx, &batch.UpdateSchedulingPolicyInput{Arn: aws.String(arn), FairsharePolicy: fp})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, arn)
			return err
		},
	}
	p.add(cmd.Flags())
	return markNotFoundTarget(cmd)
}

// policyARNs lists every scheduling policy ARN.
func policyARNs(ctx context.Context, client *batch.Client) ([]string, error) {
	var arns []string
	p := batch.NewListSchedulingPoliciesPaginator(client, &batch.ListSchedulingPoliciesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, sp := range page.SchedulingPolicies {
			arns = append(arns, aws.ToString(sp.Arn))
		}
	}
	return arns, nil
}

// policyName returns the name in a scheduling policy ARN.
func policyName(arn string) string {
	if _, name, ok := strings.Cut(arn, ":scheduling-policy/"); ok {
		return name
	}
	return arn
}

// policyARN resolves a policy name to its ARN (an ARN is returned as is).
// An unknown name is a not-found error.
func (a *App) policyARN(ctx context.Context, client *batch.Client, ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		return ref, nil
	}
	arns, err := policyARNs(ctx, client)
	if err != nil {
		return "", err
	}
	for _, arn := range arns {
		if policyName(arn) == ref {
			return arn, nil
		}
	}
	return "", notFoundf("scheduling policy %s not found", ref)
}

func newPolicyDescribeCmd(a *App) *cobra.Command {
	return markNotFoundTarget(&cobra.Command{
		Use:   "describe [NAME|ARN...]",
		Short: "Show scheduling policies (all when none are named)",
		Example: `  sagequeue policy describe
  sagequeue policy describe fair -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			var all []string
			if len(args) == 0 || anyName(args) {
				if all, err = policyARNs(ctx, client); err != nil {
					return err
				}
			}
			arns := all
			var missing []string
			if len(args) > 0 {
				arns = nil
				for _, ref := range args {
					if strings.HasPrefix(ref, "arn:") {
						arns = append(arns, ref)
						continue
					}
					found := false
					for _, arn := range all {
						if policyName(arn) == ref {
							arns, found = append(arns, arn), true
							break
						}
					}
					if !found {
						missing = append(missing, ref)
					}
				}
			}
			var policies []types.SchedulingPolicyDetail
			for start := 0; start < len(arns); start += 100 {
				end := min(start+100, len(arns))
				out, err := client.DescribeSchedulingPolicies(ctx, &batch.DescribeSchedulingPoliciesInput{Arns: arns[start:end]})
				if err != nil {
					return err
				}
				policies = append(policies, out.SchedulingPolicies...)
			}
			for _, ref := range args {
				if strings.HasPrefix(ref, "arn:") && len(missingNames([]string{ref}, len(policies), func(i int) (string, string) {
					return aws.ToString(policies[i].Name), aws.ToString(policies[i].Arn)
				})) > 0 {
					missing = append(missing, ref)
				}
			}
			if a.json() {
				if policies == nil {
					policies = []types.SchedulingPolicyDetail{}
				}
				if err := writeJSON(a.Stdout, map[string]any{"schedulingPolicies": toJSON(policies)}); err != nil {
					return err
				}
			} else {
				t := newTable(a.Stdout, "NAME", "KIND", "DECAY", "RESERVATION", "SHARES", "ARN")
				for _, p := range policies {
					kind, decay, reservation, shares := "fair-share", "-", "-", "-"
					if p.QuotaSharePolicy != nil {
						kind = "quota"
					}
					if fp := p.FairsharePolicy; fp != nil {
						decay = fmt.Sprintf("%ds", aws.ToInt32(fp.ShareDecaySeconds))
						reservation = fmt.Sprintf("%d%%", aws.ToInt32(fp.ComputeReservation))
						var parts []string
						for _, s := range fp.ShareDistribution {
							parts = append(parts, aws.ToString(s.ShareIdentifier)+"="+number(float64(aws.ToFloat32(s.WeightFactor))))
						}
						if len(parts) > 0 {
							shares = strings.Join(parts, ",")
						}
					}
					t.row(aws.ToString(p.Name), kind, decay, reservation, shares, aws.ToString(p.Arn))
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return notFoundList("scheduling policy", missing)
		},
	})
}

func anyName(refs []string) bool {
	for _, r := range refs {
		if !strings.HasPrefix(r, "arn:") {
			return true
		}
	}
	return false
}

func newPolicyListCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List scheduling policies",
		Example: `  sagequeue policy list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			arns, err := policyARNs(ctx, client)
			if err != nil {
				return err
			}
			if a.json() {
				list := make([]any, 0, len(arns))
				for _, arn := range arns {
					list = append(list, map[string]any{"arn": arn})
				}
				return writeJSON(a.Stdout, map[string]any{"schedulingPolicies": list})
			}
			t := newTable(a.Stdout, "NAME", "ARN")
			for _, arn := range arns {
				t.row(policyName(arn), arn)
			}
			return t.flush()
		},
	}
}

func newPolicyDeleteCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME|ARN",
		Short:   "Delete a scheduling policy",
		Long:    "Delete a scheduling policy (DeleteSchedulingPolicy). Prints its ARN.",
		Example: `  sagequeue policy delete fair`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			arn, err := a.policyARN(ctx, client, args[0])
			if err != nil {
				return err
			}
			if _, err := client.DeleteSchedulingPolicy(ctx, &batch.DeleteSchedulingPolicyInput{Arn: aws.String(arn)}); err != nil {
				return err
			}
			if a.json() {
				return nil
			}
			_, err = fmt.Fprintln(a.Stdout, arn)
			return err
		},
	}
	return markNotFoundTarget(cmd)
}
