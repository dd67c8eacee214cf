package cli

import (
	"encoding/json"
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

func init() { register(groupConfig, []string{"queue"}, newQueueCmd) }

func newQueueCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Manage job queues",
		Long: `Manage job queues of type SAGEMAKER_TRAINING. A queue places its jobs into
its service environments (lowest order first); queues sharing an environment
are served by priority, highest first. A queue with a scheduling policy is a
fair-share queue, one without is FIFO.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newQueueCreateCmd(a), newQueueUpdateCmd(a), newQueueDescribeCmd(a), newQueueDeleteCmd(a))
	return cmd
}

// envOrderFlag is a repeatable --env NAME[:ORDER]. Without an order, an
// environment gets its position among the --env flags (1, 2, ...).
type envOrderFlag struct {
	order []types.ServiceEnvironmentOrder
}

var _ pflag.Value = (*envOrderFlag)(nil)

func (f *envOrderFlag) Set(s string) error {
	ref, order := s, int64(len(f.order)+1)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if n, err := strconv.ParseInt(s[i+1:], 10, 32); err == nil {
			ref, order = s[:i], n
		} else if !strings.HasPrefix(s, "arn:") {
			return fmt.Errorf("%q is not NAME[:ORDER]: the order %q is not a number", s, s[i+1:])
		}
	}
	if ref == "" {
		return fmt.Errorf("%q names no service environment", s)
	}
	f.order = append(f.order, types.ServiceEnvironmentOrder{ServiceEnvironment: aws.String(ref), Order: aws.Int32(int32(order))})
	return nil
}

func (f *envOrderFlag) String() string {
	var parts []string
	for _, o := range f.order {
		parts = append(parts, fmt.Sprintf("%s:%d", aws.ToString(o.ServiceEnvironment), aws.ToInt32(o.Order)))
	}
	return strings.Join(parts, ",")
}

func (f *envOrderFlag) Type() string { return "NAME[:ORDER]" }

// timeLimitFlag is a repeatable --time-limit REASON=SECONDS[:CANCEL|TERMINATE],
// a job state time limit action on RUNNABLE jobs.
type timeLimitFlag struct {
	actions []types.JobStateTimeLimitAction
}

var _ pflag.Value = (*timeLimitFlag)(nil)

func (f *timeLimitFlag) Set(s string) error {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 {
		return fmt.Errorf("%q is not REASON=SECONDS[:CANCEL|TERMINATE]", s)
	}
	reason, rest := s[:i], s[i+1:]
	limit, action := rest, "CANCEL"
	if j := strings.LastIndexByte(rest, ':'); j >= 0 {
		limit, action = rest[:j], strings.ToUpper(rest[j+1:])
	}
	if action != "CANCEL" && action != "TERMINATE" {
		return fmt.Errorf("%q: the action must be CANCEL or TERMINATE, got %q", s, action)
	}
	d, err := parseDuration(limit)
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	secs := int64(math.Ceil(d.Seconds()))
	if secs < 1 || secs > math.MaxInt32 {
		return fmt.Errorf("%q: the time limit must be at least one second", s)
	}
	f.actions = append(f.actions, types.JobStateTimeLimitAction{
		Reason:         aws.String(reason),
		State:          types.JobStateTimeLimitActionsStateRunnable,
		MaxTimeSeconds: aws.Int32(int32(secs)),
		Action:         types.JobStateTimeLimitActionsAction(action),
	})
	return nil
}

func (f *timeLimitFlag) String() string { return timeLimitsText(f.actions) }

func (f *timeLimitFlag) Type() string { return "REASON=SECONDS[:ACTION]" }

func timeLimitsText(actions []types.JobStateTimeLimitAction) string {
	var parts []string
	for _, a := range actions {
		parts = append(parts, fmt.Sprintf("%s=%d:%s", safe(aws.ToString(a.Reason)), aws.ToInt32(a.MaxTimeSeconds), a.Action))
	}
	return strings.Join(parts, ",")
}

type queueFlags struct {
	priority   int32
	envs       envOrderFlag
	policy     string
	timeLimits timeLimitFlag
	state      string
	backfill   bool
}

func (q *queueFlags) add(f *pflag.FlagSet, creating bool) {
	f.Int32Var(&q.priority, "priority", 0, "priority among the queues of an environment, 0-1000, higher first")
	f.Var(&q.envs, "env", "service environment NAME[:ORDER] (repeatable; lower order is tried first)")
	f.StringVar(&q.policy, "policy", "", "scheduling policy name or ARN (makes a fair-share queue)")
	f.Var(&q.timeLimits, "time-limit", "end jobs RUNNABLE for this reason longer than SECONDS: REASON=SECONDS[:CANCEL|TERMINATE] (repeatable)")
	defState := ""
	if creating {
		defState = "ENABLED"
	}
	f.StringVar(&q.state, "state", defState, "ENABLED or DISABLED")
	f.BoolVar(&q.backfill, "backfill", false, "start later jobs around a job that does not fit, without delaying it (sagequeue extension; --backfill=false turns it off)")
}

// backfillOption sends the backfill member when the flag was given.
func (q *queueFlags) backfillOption(cmd *cobra.Command) []func(*batch.Options) {
	if !cmd.Flags().Changed("backfill") {
		return nil
	}
	return []func(*batch.Options){withBodyMembers(map[string]any{memberBackfill: q.backfill})}
}

const timeLimitHelp = `
A time limit ends the job at the head of the queue when it has been RUNNABLE
for REASON longer than SECONDS (or a duration like 10m); REASON is the code of
its statusReason, e.g. MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE or
CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY. The action defaults to CANCEL.

--backfill (a sagequeue extension, off by default as in AWS Batch): a job
that does not fit gets a reservation, the earliest time the runtime bounds
(MaxRuntimeInSeconds) of the running jobs free enough capacity, and later
jobs start now only if they cannot delay it. Its statusReason
(BACKFILL:RESERVED) says when, and why it was not backfilled.`

func newQueueCreateCmd(a *App) *cobra.Command {
	var (
		q    queueFlags
		tags kvFlag
	)
	cmd := &cobra.Command{
		Use:   "create NAME --priority N --env NAME[:ORDER]... [flags]",
		Short: "Create a job queue",
		Long:  "Create a job queue of type SAGEMAKER_TRAINING (CreateJobQueue). Prints its ARN.\n" + timeLimitHelp,
		Example: `  sagequeue queue create research --priority 10 --env p4d-plan --policy fair \
      --time-limit MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE=600:CANCEL`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(q.envs.order) == 0 {
				return usagef("--env is required: name at least one service environment")
			}
			st, err := parseState("state", q.state)
			if err != nil {
				return err
			}
			in := &batch.CreateJobQueueInput{
				JobQueueName:             aws.String(args[0]),
				JobQueueType:             types.JobQueueTypeSagemakerTraining,
				Priority:                 aws.Int32(q.priority),
				ServiceEnvironmentOrder:  q.envs.order,
				JobStateTimeLimitActions: q.timeLimits.actions,
				State:                    types.JQState(st),
			}
			if len(tags.Map) > 0 {
				in.Tags = tags.Map
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			if q.policy != "" {
				arn, err := a.policyARN(ctx, client, q.policy)
				if err != nil {
					return asRefused(err)
				}
				in.SchedulingPolicyArn = aws.String(arn)
			}
			out, err := client.CreateJobQueue(ctx, in, q.backfillOption(cmd)...)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.JobQueueArn))
			return err
		},
	}
	q.add(cmd.Flags(), true)
	cmd.Flags().Var(&tags, "tag", "tag KEY=VALUE (repeatable)")
	_ = cmd.MarkFlagRequired("priority")
	return cmd
}

// asRefused turns the not-found error of a referenced resource (not the
// command's target) into a refused request.
func asRefused(err error) error {
	if ee, ok := err.(*exitError); ok && ee.code == ExitNotFound {
		return &exitError{code: ExitRefused, err: ee.err}
	}
	return err
}

func newQueueUpdateCmd(a *App) *cobra.Command {
	var q queueFlags
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change a job queue",
		Long: `Change a job queue (UpdateJobQueue). Flags not given keep their values;
--env and --time-limit replace the whole list. Prints the queue's ARN.
` + timeLimitHelp,
		Example: `  sagequeue queue update research --priority 20
  sagequeue queue update research --state DISABLED`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := cmd.Flags().Changed
			if !changed("priority") && !changed("env") && !changed("policy") && !changed("time-limit") && !changed("state") && !changed("backfill") {
				return usagef("nothing to update: give --priority, --env, --policy, --time-limit, --state or --backfill")
			}
			in := &batch.UpdateJobQueueInput{JobQueue: aws.String(args[0])}
			if changed("priority") {
				in.Priority = aws.Int32(q.priority)
			}
			if changed("env") {
				in.ServiceEnvironmentOrder = q.envs.order
			}
			if changed("time-limit") {
				in.JobStateTimeLimitActions = q.timeLimits.actions
			}
			if changed("state") {
				st, err := parseState("state", q.state)
				if err != nil {
					return err
				}
				in.State = types.JQState(st)
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			if changed("policy") {
				if q.policy == "" {
					return usagef("--policy must name a scheduling policy")
				}
				arn, err := a.policyARN(ctx, client, q.policy)
				if err != nil {
					return asRefused(err)
				}
				in.SchedulingPolicyArn = aws.String(arn)
			}
			out, err := client.UpdateJobQueue(ctx, in, q.backfillOption(cmd)...)
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintln(a.Stdout, aws.ToString(out.JobQueueArn))
			return err
		},
	}
	q.add(cmd.Flags(), false)
	return markNotFoundTarget(cmd)
}

func newQueueDescribeCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe [NAME|ARN...]",
		Short: "Show job queues (all when none are named)",
		Example: `  sagequeue queue describe
  sagequeue queue describe research -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			queues := []types.JobQueueDetail{}
			backfill := map[string]bool{} // by ARN
			p := batch.NewDescribeJobQueuesPaginator(client, &batch.DescribeJobQueuesInput{JobQueues: args})
			for p.HasMorePages() {
				var raw []byte
				page, err := p.NextPage(ctx, withRawBody(&raw))
				if err != nil {
					return err
				}
				queues = append(queues, page.JobQueues...)
				backfillOf(raw, backfill)
			}
			missing := missingNames(args, len(queues), func(i int) (string, string) {
				return aws.ToString(queues[i].JobQueueName), aws.ToString(queues[i].JobQueueArn)
			})
			if a.json() {
				list := make([]any, 0, len(queues))
				for _, q := range queues {
					m := toJSON(q).(map[string]any)
					m[memberBackfill] = backfill[aws.ToString(q.JobQueueArn)]
					list = append(list, m)
				}
				if err := writeJSON(a.Stdout, map[string]any{"jobQueues": list}); err != nil {
					return err
				}
			} else {
				t := newTable(a.Stdout, "NAME", "STATE", "STATUS", "PRIORITY", "POLICY", "BACKFILL", "ENVIRONMENTS", "TIME LIMITS")
				for _, q := range queues {
					policy := "- (FIFO)"
					if arn := aws.ToString(q.SchedulingPolicyArn); arn != "" {
						policy = policyName(arn)
					}
					var envs []string
					for _, o := range q.ServiceEnvironmentOrder {
						envs = append(envs, fmt.Sprintf("%s:%d", nameFromARN(aws.ToString(o.ServiceEnvironment)), aws.ToInt32(o.Order)))
					}
					bf := "off"
					if backfill[aws.ToString(q.JobQueueArn)] {
						bf = "on"
					}
					t.row(aws.ToString(q.JobQueueName), string(q.State), string(q.Status), fmt.Sprint(aws.ToInt32(q.Priority)),
						policy, bf, dash(strings.Join(envs, ",")), dash(timeLimitsText(q.JobStateTimeLimitActions)))
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return notFoundList("job queue", missing)
		},
	}
	return markNotFoundTarget(cmd)
}

func newQueueDeleteCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a job queue",
		Long:    "Delete a job queue (DeleteJobQueue). Batch deletes only disabled queues: run queue update NAME --state DISABLED first. Prints its name.",
		Example: `  sagequeue queue update research --state DISABLED && sagequeue queue delete research`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			if _, err := client.DeleteJobQueue(ctx, &batch.DeleteJobQueueInput{JobQueue: aws.String(args[0])}); err != nil {
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

// backfillOf reads the backfill member per queue ARN from a raw
// DescribeJobQueues response into into.
func backfillOf(raw []byte, into map[string]bool) {
	var doc struct {
		JobQueues []struct {
			JobQueueArn string `json:"jobQueueArn"`
			Backfill    bool   `json:"backfill"`
		} `json:"jobQueues"`
	}
	if json.Unmarshal(raw, &doc) == nil {
		for _, q := range doc.JobQueues {
			into[q.JobQueueArn] = q.Backfill
		}
	}
}
