package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/spf13/cobra"
)

func init() {
	register(groupJobs, []string{"describe"}, newDescribeCmd)
	register(groupJobs, []string{"terminate"}, newTerminateCmd)
	register(groupJobs, []string{"update"}, newUpdateCmd)
}

// forEachID runs fn for every id; a failure is reported on its own line and
// the others still run. The result is the error of a single id, or for
// several the exit code of the first failure.
func (a *App) forEachID(cmd *cobra.Command, ids []string, fn func(id string) error) error {
	if len(ids) == 1 {
		return fn(ids[0])
	}
	code := ExitOK
	for _, id := range ids {
		if err := fn(id); err != nil {
			c, msg := a.classify(cmd, err)
			if code == ExitOK {
				code = c
			}
			a.errorLine(msg)
		}
	}
	if code != ExitOK {
		return &silentExit{code: code}
	}
	return nil
}

func newDescribeCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe JOB_ID...",
		Short: "Show the details of jobs",
		Long: `Show the details of jobs (DescribeServiceJob): status and reason, queue,
share and priority, capacity, timestamps, retry strategy and every attempt
with its training job.

With --output json, prints the full DescribeServiceJob output (for several
jobs, a JSON array of them).`,
		Example: `  sagequeue describe 0190a4c2-7d1e-7b3a-9f0e-2c4d5e6f7a8b
  sagequeue describe 0190a4c2-7d1e-7b3a-9f0e-2c4d5e6f7a8b -o json | jq -r .status`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			var outs []any
			n := 0
			err = a.forEachID(cmd, ids, func(id string) error {
				out, err := client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(id)})
				if err != nil {
					return err
				}
				if a.json() {
					outs = append(outs, toJSON(out))
					return nil
				}
				if n > 0 {
					fmt.Fprintln(a.Stdout)
				}
				n++
				return a.printJobDetail(out)
			})
			if a.json() && len(outs) > 0 {
				var v any = outs
				if len(ids) == 1 {
					v = outs[0]
				}
				if werr := writeJSON(a.Stdout, v); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	return markNotFoundTarget(cmd)
}

func (a *App) printJobDetail(j *batch.DescribeServiceJobOutput) error {
	t := newTable(a.Stdout)
	field := func(k, v string) { t.row(k+":", v) }
	field("Job ID", aws.ToString(j.JobId))
	field("Name", aws.ToString(j.JobName))
	field("ARN", aws.ToString(j.JobArn))
	status := string(j.Status)
	if aws.ToBool(j.IsTerminated) {
		status += " (terminated)"
	}
	field("Status", a.colorStatus(a.Stdout, status))
	field("Reason", dash(safe(aws.ToString(j.StatusReason))))
	field("Queue", nameFromARN(aws.ToString(j.JobQueue)))
	if qs := aws.ToString(j.QuotaShareName); qs != "" {
		field("Quota share", qs)
	} else {
		field("Share", dash(aws.ToString(j.ShareIdentifier)))
	}
	if pc := j.PreemptionConfiguration; pc != nil && pc.PreemptionRetriesBeforeTermination != nil {
		field("Preemption retries", fmt.Sprint(*pc.PreemptionRetriesBeforeTermination))
	}
	if ps := j.PreemptionSummary; ps != nil {
		field("Preempted", fmt.Sprintf("%d time(s)", aws.ToInt32(ps.PreemptedAttemptCount)))
		for _, p := range ps.RecentPreemptedAttempts {
			field("  preempted attempt", a.longTime(p.StoppedAt)+" "+aws.ToString(p.StatusReason))
		}
	}
	if j.SchedulingPriority != nil {
		field("Priority", fmt.Sprint(*j.SchedulingPriority))
	}
	var capacity []string
	for _, c := range j.CapacityUsage {
		capacity = append(capacity, number(aws.ToFloat64(c.Quantity))+" "+aws.ToString(c.CapacityUnit))
	}
	field("Capacity", dash(strings.Join(capacity, ", ")))
	field("Created", a.longTime(j.CreatedAt))
	field("Scheduled", a.longTime(j.ScheduledAt))
	field("Started", a.longTime(j.StartedAt))
	field("Stopped", a.longTime(j.StoppedAt))
	if j.TimeoutConfig != nil && j.TimeoutConfig.AttemptDurationSeconds != nil {
		field("Timeout", fmt.Sprintf("%ds per attempt", *j.TimeoutConfig.AttemptDurationSeconds))
	}
	if rs := j.RetryStrategy; rs != nil {
		field("Retry strategy", fmt.Sprintf("%d attempts", aws.ToInt32(rs.Attempts)))
		for i, r := range rs.EvaluateOnExit {
			pattern := aws.ToString(r.OnStatusReason)
			if pattern == "" {
				pattern = "*"
			}
			field(fmt.Sprintf("  rule %d", i+1), fmt.Sprintf("%s on %q", r.Action, pattern))
		}
	}
	if len(j.Tags) > 0 {
		keys := make([]string, 0, len(j.Tags))
		for k := range j.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var tags []string
		for _, k := range keys {
			tags = append(tags, safe(k)+"="+safe(j.Tags[k]))
		}
		field("Tags", strings.Join(tags, ", "))
	}
	if len(j.Attempts) == 0 {
		field("Attempts", "none")
		return t.flush()
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.Stdout, "Attempts:")
	at := newTable(a.Stdout, "  #", "TRAINING JOB", "STARTED", "STOPPED", "REASON")
	for i, att := range j.Attempts {
		resource := "-"
		if att.ServiceResourceId != nil {
			resource = dash(aws.ToString(att.ServiceResourceId.Value))
		}
		at.row(fmt.Sprintf("  %d", i+1), resource, a.longTime(att.StartedAt), a.longTime(att.StoppedAt), dash(safe(aws.ToString(att.StatusReason))))
	}
	return at.flush()
}

const defaultTerminateReason = "Terminated by user"

func newTerminateCmd(a *App) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "terminate JOB_ID... [--reason TEXT]",
		Short: "Terminate jobs",
		Long: `Terminate jobs (TerminateServiceJob). A waiting job ends at once; a job in
flight has its training job stopped and ends FAILED with the reason. Terminated
jobs are not retried. Prints each job id.`,
		Example: `  sagequeue terminate 0190a4c2-7d1e-7b3a-9f0e-2c4d5e6f7a8b --reason "wrong dataset"`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason must not be empty")
			}
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			return a.forEachID(cmd, ids, func(id string) error {
				_, err := client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: aws.String(id), Reason: aws.String(reason)})
				if err != nil {
					return err
				}
				if a.json() {
					return nil
				}
				_, err = fmt.Fprintln(a.Stdout, id)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", defaultTerminateReason, "why the job is terminated (becomes its statusReason)")
	return markNotFoundTarget(cmd)
}

func newUpdateCmd(a *App) *cobra.Command {
	var priority int32
	cmd := &cobra.Command{
		Use:   "update JOB_ID --priority N",
		Short: "Change the scheduling priority of a waiting job",
		Long: `Change the scheduling priority of a job (UpdateServiceJob). Within a share
of a fair-share queue, higher priorities are admitted first.`,
		Example: `  sagequeue update 0190a4c2-7d1e-7b3a-9f0e-2c4d5e6f7a8b --priority 50`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			out, err := client.UpdateServiceJob(ctx, &batch.UpdateServiceJobInput{
				JobId:              aws.String(args[0]),
				SchedulingPriority: aws.Int32(priority),
			})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintf(a.Stdout, "%s priority %d\n", args[0], priority)
			return err
		},
	}
	cmd.Flags().Int32Var(&priority, "priority", 0, "new scheduling priority, 0-9999 (required)")
	_ = cmd.MarkFlagRequired("priority")
	return markNotFoundTarget(cmd)
}
