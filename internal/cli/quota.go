package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { register(groupConfig, []string{"quota-share"}, newQuotaShareCmd) }

func newQuotaShareCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota-share",
		Short: "Manage the quota shares of a quota management queue",
		Long: `Manage quota shares (CreateQuotaShare, UpdateQuotaShare, DescribeQuotaShare,
ListQuotaShares, DeleteQuotaShare). A quota share is a virtual queue inside a
quota management job queue with its own quota of each instance type. A share
lends the quota it leaves idle (LEND, LEND_AND_BORROW) or keeps it (RESERVE),
may borrow idle quota of other shares (LEND_AND_BORROW, up to --borrow-limit
percent of its quota; -1 is unlimited), and gets lent quota back by
preemption when its own jobs arrive. See docs/quota-management.md.

Shares are named by name with --queue, or by ARN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newQuotaShareCreateCmd(a), newQuotaShareUpdateCmd(a), newQuotaShareDescribeCmd(a),
		newQuotaShareListCmd(a), newQuotaShareDeleteCmd(a))
	return cmd
}

type quotaShareFlags struct {
	queue       string
	limits      kvFlag
	strategy    string
	borrowLimit int32
	inShare     string
	state       string
}

func (q *quotaShareFlags) add(f *pflag.FlagSet, create bool) {
	f.StringVarP(&q.queue, "queue", "q", "", "the quota management job queue (name or ARN)")
	f.Var(&q.limits, "limit", "the share's quota of an instance type, TYPE=N (repeatable, 1-5 types)")
	f.StringVar(&q.strategy, "strategy", "", "RESERVE (never lend), LEND (lend idle quota) or LEND_AND_BORROW (lend, and borrow others' idle quota)")
	f.Int32Var(&q.borrowLimit, "borrow-limit", -1, "most a LEND_AND_BORROW share may borrow, in percent of its quota of each type (-1: unlimited)")
	def := ""
	if create {
		def = "DISABLED"
	}
	f.StringVar(&q.inShare, "in-share-preemption", def, "ENABLED lets a higher-priority job of the share preempt a lower-priority one of the same share")
	f.StringVar(&q.state, "state", "", "ENABLED or DISABLED (a DISABLED share takes no new jobs)")
}

func (q *quotaShareFlags) capacity() ([]types.QuotaShareCapacityLimit, error) {
	var out []types.QuotaShareCapacityLimit
	for _, k := range q.limits.Keys {
		n, err := strconv.ParseInt(q.limits.Map[k], 10, 32)
		if err != nil {
			return nil, usagef("--limit %s=%s: the count is not a number", k, q.limits.Map[k])
		}
		out = append(out, types.QuotaShareCapacityLimit{CapacityUnit: aws.String(k), MaxCapacity: aws.Int32(int32(n))})
	}
	return out, nil
}

func (q *quotaShareFlags) sharing(changed func(string) bool) *types.QuotaShareResourceSharingConfiguration {
	rs := &types.QuotaShareResourceSharingConfiguration{Strategy: types.QuotaShareResourceSharingStrategy(strings.ToUpper(q.strategy))}
	if changed("borrow-limit") {
		rs.BorrowLimit = aws.Int32(q.borrowLimit)
	}
	return rs
}

func newQuotaShareCreateCmd(a *App) *cobra.Command {
	var (
		q    quotaShareFlags
		tags kvFlag
	)
	cmd := &cobra.Command{
		Use:   "create NAME -q QUEUE --limit TYPE=N... --strategy RESERVE|LEND|LEND_AND_BORROW [flags]",
		Short: "Create a quota share",
		Long:  "Create a quota share in a quota management job queue (CreateQuotaShare). Prints its ARN.",
		Example: `  sagequeue quota-share create research -q gpus --limit ml.p5.48xlarge=2 --strategy LEND_AND_BORROW --borrow-limit 100
  sagequeue quota-share create prod -q gpus --limit ml.p5.48xlarge=2 --strategy LEND --in-share-preemption ENABLED`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if q.queue == "" || len(q.limits.Keys) == 0 || q.strategy == "" {
				return usagef("--queue, --limit and --strategy are required")
			}
			limits, err := q.capacity()
			if err != nil {
				return err
			}
			in := &batch.CreateQuotaShareInput{
				QuotaShareName: aws.String(args[0]), JobQueue: aws.String(q.queue), CapacityLimits: limits,
				ResourceSharingConfiguration: q.sharing(changed),
				PreemptionConfiguration:      &types.QuotaSharePreemptionConfiguration{InSharePreemption: types.QuotaShareInSharePreemptionState(strings.ToUpper(q.inShare))},
			}
			if q.state != "" {
				st, err := parseState("state", q.state)
				if err != nil {
					return err
				}
				in.State = types.QuotaShareState(st)
			}
			if len(tags.Map) > 0 {
				in.Tags = tags.Map
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			out, err := client.CreateQuotaShare(ctx, in)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.QuotaShareArn))
			return err
		},
	}
	q.add(cmd.Flags(), true)
	cmd.Flags().Var(&tags, "tag", "tag KEY=VALUE (repeatable)")
	return cmd
}

// quotaShares lists every quota share of a queue.
func quotaShares(ctx context.Context, client *batch.Client, queue string) ([]types.QuotaShareDetail, error) {
	var out []types.QuotaShareDetail
	p := batch.NewListQuotaSharesPaginator(client, &batch.ListQuotaSharesInput{JobQueue: aws.String(queue)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.QuotaShares...)
	}
	return out, nil
}

// quotaShareARN resolves a share named within --queue to its ARN (an ARN is
// returned as is).
func quotaShareARN(ctx context.Context, client *batch.Client, queue, ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		return ref, nil
	}
	if queue == "" {
		return "", usagef("name the share's queue with --queue, or give the share's ARN")
	}
	shares, err := quotaShares(ctx, client, queue)
	if err != nil {
		return "", err
	}
	for _, s := range shares {
		if aws.ToString(s.QuotaShareName) == ref {
			return aws.ToString(s.QuotaShareArn), nil
		}
	}
	return "", notFoundf("quota share %s not found in job queue %s", ref, queue)
}

func newQuotaShareUpdateCmd(a *App) *cobra.Command {
	var q quotaShareFlags
	cmd := &cobra.Command{
		Use:   "update NAME|ARN [-q QUEUE] [--limit TYPE=N...] [--strategy S] [--borrow-limit PCT] [--in-share-preemption ENABLED|DISABLED] [--state S]",
		Short: "Change a quota share",
		Long: `Change a quota share (UpdateQuotaShare). Flags not given keep their values;
--limit replaces every limit. Lowering a share's limits below what it holds
preempts its jobs down to the new limits. Prints the share's ARN.`,
		Example: `  sagequeue quota-share update research -q gpus --limit ml.p5.48xlarge=1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if !changed("limit") && !changed("strategy") && !changed("borrow-limit") && !changed("in-share-preemption") && !changed("state") {
				return usagef("nothing to update: give --limit, --strategy, --borrow-limit, --in-share-preemption or --state")
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			arn, err := quotaShareARN(ctx, client, q.queue, args[0])
			if err != nil {
				return err
			}
			in := &batch.UpdateQuotaShareInput{QuotaShareArn: aws.String(arn)}
			if changed("limit") {
				if in.CapacityLimits, err = q.capacity(); err != nil {
					return err
				}
			}
			if changed("strategy") || changed("borrow-limit") {
				cur, err := client.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: aws.String(arn)})
				if err != nil {
					return err
				}
				rs := q.sharing(changed)
				if !changed("strategy") && cur.ResourceSharingConfiguration != nil {
					rs.Strategy = cur.ResourceSharingConfiguration.Strategy
				}
				in.ResourceSharingConfiguration = rs
			}
			if changed("in-share-preemption") {
				in.PreemptionConfiguration = &types.QuotaSharePreemptionConfiguration{InSharePreemption: types.QuotaShareInSharePreemptionState(strings.ToUpper(q.inShare))}
			}
			if changed("state") {
				st, err := parseState("state", q.state)
				if err != nil {
					return err
				}
				in.State = types.QuotaShareState(st)
			}
			out, err := client.UpdateQuotaShare(ctx, in)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.QuotaShareArn))
			return err
		},
	}
	q.add(cmd.Flags(), false)
	return markNotFoundTarget(cmd)
}

func newQuotaShareDescribeCmd(a *App) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:   "describe NAME|ARN [-q QUEUE]",
		Short: "Show a quota share",
		Example: `  sagequeue quota-share describe research -q gpus
  sagequeue quota-share describe arn:aws:batch:local:000000000000:job-queue/gpus/quota-share/research -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			arn, err := quotaShareARN(ctx, client, queue, args[0])
			if err != nil {
				return err
			}
			out, err := client.DescribeQuotaShare(ctx, &batch.DescribeQuotaShareInput{QuotaShareArn: aws.String(arn)})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			d := types.QuotaShareDetail{
				CapacityLimits: out.CapacityLimits, JobQueueArn: out.JobQueueArn, PreemptionConfiguration: out.PreemptionConfiguration,
				QuotaShareArn: out.QuotaShareArn, QuotaShareName: out.QuotaShareName, ResourceSharingConfiguration: out.ResourceSharingConfiguration,
				State: out.State, Status: out.Status,
			}
			use, err := quotaUse(ctx, client, aws.ToString(out.JobQueueArn))
			if err != nil {
				return err
			}
			t := newTable(a.Stdout, "FIELD", "VALUE")
			t.row("Name", aws.ToString(d.QuotaShareName))
			t.row("ARN", aws.ToString(d.QuotaShareArn))
			t.row("Queue", aws.ToString(d.JobQueueArn))
			t.row("State", string(d.State)+" ("+string(d.Status)+")")
			t.row("Strategy", sharingText(d.ResourceSharingConfiguration))
			t.row("In-share preemption", inShareText(d.PreemptionConfiguration))
			for _, l := range d.CapacityLimits {
				typ := aws.ToString(l.CapacityUnit)
				held := use[aws.ToString(d.QuotaShareName)][typ]
				t.row(typ, quotaText(int64(aws.ToInt32(l.MaxCapacity)), held))
			}
			for _, k := range sortedKeys(out.Tags) {
				t.row("Tag "+k, out.Tags[k])
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVarP(&queue, "queue", "q", "", "the share's job queue, when the share is named by name")
	return markNotFoundTarget(cmd)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sharingText(rs *types.QuotaShareResourceSharingConfiguration) string {
	if rs == nil {
		return "-"
	}
	s := string(rs.Strategy)
	if rs.Strategy == types.QuotaShareResourceSharingStrategyLendAndBorrow {
		if b := aws.ToInt32(rs.BorrowLimit); b < 0 {
			s += " (borrow unlimited)"
		} else {
			s += fmt.Sprintf(" (borrow up to %d%%)", b)
		}
	}
	return s
}

func inShareText(p *types.QuotaSharePreemptionConfiguration) string {
	if p == nil {
		return "-"
	}
	return string(p.InSharePreemption)
}

// quotaText shows a share's quota of a type and what it holds: in use,
// borrowed beyond the quota, or idle quota it lends.
func quotaText(quota, held int64) string {
	s := fmt.Sprintf("quota %d, in use %d", quota, held)
	switch {
	case held > quota:
		s += fmt.Sprintf(", borrowed %d", held-quota)
	case held < quota:
		s += fmt.Sprintf(", idle %d", quota-held)
	}
	return s
}

// quotaUse is the instances each share of a queue holds, per type, from the
// queue snapshot.
func quotaUse(ctx context.Context, client *batch.Client, queue string) (map[string]map[string]int64, error) {
	snap, err := client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String(queue)})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	if u := snap.QueueUtilization; u != nil && u.QuotaShareUtilization != nil {
		for _, s := range u.QuotaShareUtilization.TopCapacityUtilization {
			m := map[string]int64{}
			for _, c := range s.CapacityUsage {
				m[aws.ToString(c.CapacityUnit)] += int64(aws.ToFloat64(c.Quantity))
			}
			out[aws.ToString(s.QuotaShareName)] = m
		}
	}
	return out, nil
}

func newQuotaShareListCmd(a *App) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:   "list -q QUEUE",
		Short: "List the quota shares of a queue, with their quota, use, borrowing and lending",
		Example: `  sagequeue quota-share list -q gpus
  sagequeue quota-share list -q gpus -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if queue == "" {
				return usagef("--queue is required")
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			shares, err := quotaShares(ctx, client, queue)
			if err != nil {
				return err
			}
			if a.json() {
				if shares == nil {
					shares = []types.QuotaShareDetail{}
				}
				return writeJSON(a.Stdout, map[string]any{"quotaShares": toJSON(shares)})
			}
			use, err := quotaUse(ctx, client, queue)
			if err != nil {
				return err
			}
			t := newTable(a.Stdout, "NAME", "STATE", "STRATEGY", "IN-SHARE", "TYPE", "QUOTA", "IN USE", "BORROWED", "LENDABLE")
			for _, s := range shares {
				name := aws.ToString(s.QuotaShareName)
				for _, l := range s.CapacityLimits {
					typ := aws.ToString(l.CapacityUnit)
					quota, held := int64(aws.ToInt32(l.MaxCapacity)), use[name][typ]
					lendable := "0"
					if s.ResourceSharingConfiguration != nil && s.ResourceSharingConfiguration.Strategy != types.QuotaShareResourceSharingStrategyReserve {
						lendable = strconv.FormatInt(max(quota-held, 0), 10)
					}
					t.row(name, string(s.State), sharingText(s.ResourceSharingConfiguration), inShareText(s.PreemptionConfiguration),
						typ, strconv.FormatInt(quota, 10), strconv.FormatInt(held, 10), strconv.FormatInt(max(held-quota, 0), 10), lendable)
				}
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVarP(&queue, "queue", "q", "", "the quota management job queue (name or ARN)")
	return cmd
}

func newQuotaShareDeleteCmd(a *App) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:     "delete NAME|ARN [-q QUEUE]",
		Short:   "Delete a quota share",
		Long:    "Delete a quota share (DeleteQuotaShare); it must have no unfinished jobs. Prints its ARN.",
		Example: `  sagequeue quota-share delete research -q gpus`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			arn, err := quotaShareARN(ctx, client, queue, args[0])
			if err != nil {
				return err
			}
			if _, err := client.DeleteQuotaShare(ctx, &batch.DeleteQuotaShareInput{QuotaShareArn: aws.String(arn)}); err != nil {
				return err
			}
			if a.json() {
				return nil
			}
			_, err = fmt.Fprintln(a.Stdout, arn)
			return err
		},
	}
	cmd.Flags().StringVarP(&queue, "queue", "q", "", "the share's job queue, when the share is named by name")
	return markNotFoundTarget(cmd)
}
