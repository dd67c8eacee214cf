package cli

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

func init() { register(groupJobs, []string{"snapshot"}, newSnapshotCmd) }

func newSnapshotCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot QUEUE",
		Short: "Show the front of a queue and its utilization",
		Long: `Show the front of a queue and its utilization (GetJobQueueSnapshot): the jobs
next in line with their position and since when they hold it, the capacity
the queue's jobs use in total and, for fair-share queues, per share.`,
		Example: `  sagequeue snapshot research`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := a.Batch(ctx)
			if err != nil {
				return err
			}
			out, err := client.GetJobQueueSnapshot(ctx, &batch.GetJobQueueSnapshotInput{JobQueue: aws.String(args[0])})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			return a.printSnapshot(out)
		},
	}
	return markNotFoundTarget(cmd)
}

// jobIDFromARN returns the job id of a service job ARN (…:service-job/<id>).
func jobIDFromARN(arn string) string {
	if _, id, ok := strings.Cut(arn, "service-job/"); ok {
		return id
	}
	return nameFromARN(arn)
}

func capacityText(usage []types.QueueSnapshotCapacityUsage) string {
	var parts []string
	for _, u := range usage {
		parts = append(parts, number(aws.ToFloat64(u.Quantity))+" "+aws.ToString(u.CapacityUnit))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func (a *App) printSnapshot(out *batch.GetJobQueueSnapshotOutput) error {
	w := a.Stdout
	front := out.FrontOfQueue
	if front == nil || len(front.Jobs) == 0 {
		fmt.Fprintln(w, "Front of queue: no jobs waiting")
	} else {
		fmt.Fprintf(w, "Front of queue (as of %s):\n", a.longTime(front.LastUpdatedAt))
		t := newTable(w, "  POSITION", "JOB ID", "AT POSITION SINCE", "JOB ARN")
		for i, j := range front.Jobs {
			arn := aws.ToString(j.JobArn)
			t.row(fmt.Sprintf("  %d", i+1), jobIDFromARN(arn), a.longTime(j.EarliestTimeAtPosition), arn)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	u := out.QueueUtilization
	if u == nil {
		_, err := fmt.Fprintln(w, "Utilization: none reported")
		return err
	}
	fmt.Fprintf(w, "Utilization (as of %s):\n", a.longTime(u.LastUpdatedAt))
	fmt.Fprintf(w, "  Total: %s\n", capacityText(u.TotalCapacityUsage))
	if qs := u.QuotaShareUtilization; qs != nil && len(qs.TopCapacityUtilization) > 0 {
		t := newTable(w, "  QUOTA SHARE", "USAGE")
		for _, s := range qs.TopCapacityUtilization {
			usage := make([]types.QueueSnapshotCapacityUsage, len(s.CapacityUsage))
			for i, c := range s.CapacityUsage {
				usage[i] = types.QueueSnapshotCapacityUsage{CapacityUnit: c.CapacityUnit, Quantity: c.Quantity}
			}
			t.row("  "+aws.ToString(s.QuotaShareName), capacityText(usage))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if fs := u.FairshareUtilization; fs != nil {
		fmt.Fprintf(w, "  Active shares: %d\n", aws.ToInt64(fs.ActiveShareCount))
		if len(fs.TopCapacityUtilization) > 0 {
			t := newTable(w, "  SHARE", "USAGE")
			for _, s := range fs.TopCapacityUtilization {
				var parts []string
				for _, c := range s.CapacityUsage {
					parts = append(parts, number(aws.ToFloat64(c.Quantity))+" "+aws.ToString(c.CapacityUnit))
				}
				t.row("  "+aws.ToString(s.ShareIdentifier), dash(strings.Join(parts, ", ")))
			}
			return t.flush()
		}
	}
	return nil
}
