package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

func init() { register(groupJobs, []string{"logs"}, newLogsCmd) }

type logsRequest struct {
	JobID         string `json:"jobId"`
	Attempt       *int32 `json:"attempt,omitempty"`
	StartFromHead bool   `json:"startFromHead,omitempty"`
	NextToken     string `json:"nextToken,omitempty"`
	Limit         int32  `json:"limit,omitempty"`
}

type logsResponse struct {
	JobID           string `json:"jobId"`
	Attempt         int32  `json:"attempt"`
	TrainingJobName string `json:"trainingJobName"`
	Status          string `json:"status"`
	Events          []struct {
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	} `json:"events"`
	NextToken string `json:"nextToken"`
	Done      bool   `json:"done"`
}

func newLogsCmd(a *App) *cobra.Command {
	var (
		attempt  int32
		follow   bool
		head     bool
		limit    int32
		interval time.Duration
		exitStat bool
	)
	cmd := &cobra.Command{
		Use:   "logs JOB_ID",
		Short: "Print the log of a job's training job",
		Long: `Print the log lines of a job's training job: the last --limit lines, or from
the first line with --head. --follow keeps printing new lines until the
attempt has finished and everything is printed; it waits for a job that has
not started yet. --attempt picks an earlier attempt (1 is the first).

--exit-status follows the whole job instead of one attempt: from its first
attempt's first line, through each retry (announced on stderr), until the
job ends, and exits with its final status as submit --wait does: 0
SUCCEEDED, 5 FAILED.

This is the sagequeue extension operation getservicejoblogs: the local
endpoint's log file with sagequeue serve, CloudWatch Logs in the cloud.`,
		Example: `  sagequeue logs 01a226f1-43a4-718b-ab6a-42920c5c2242
  sagequeue logs -f 01a226f1-43a4-718b-ab6a-42920c5c2242
  sagequeue logs -f --exit-status "$(sagequeue submit -q research -n run -- python train.py)" && echo passed
  sagequeue logs --head --limit 20 --attempt 1 01a226f1-43a4-718b-ab6a-42920c5c2242`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 10000 {
				return usagef("--limit must be between 1 and 10000, got %d", limit)
			}
			if exitStat {
				if cmd.Flags().Changed("attempt") {
					return usagef("--exit-status follows all of the job's attempts; it cannot be combined with --attempt")
				}
				follow = true
			}
			req := logsRequest{JobID: args[0], StartFromHead: head || follow && !cmd.Flags().Changed("limit"), Limit: limit}
			if cmd.Flags().Changed("attempt") {
				req.Attempt = &attempt
			}
			for {
				var out logsResponse
				if err := a.callExtension(cmd.Context(), "getservicejoblogs", req, &out); err != nil {
					return err
				}
				if exitStat && req.Attempt == nil && out.Attempt > 1 {
					// The whole job's log: attempts that ended before we
					// came are part of it, so start over from the first.
					first := int32(1)
					req.Attempt, req.NextToken, req.StartFromHead = &first, "", true
					continue
				}
				if a.json() && !follow {
					return a.printJSON(out)
				}
				for _, e := range out.Events {
					fmt.Fprintln(a.Stdout, e.Message)
				}
				if out.Done && exitStat {
					next, err := a.nextAttempt(cmd, args[0], out.Attempt, interval)
					if err != nil || next == 0 {
						return err
					}
					req.Attempt, req.NextToken, req.StartFromHead = &next, "", true
					continue
				}
				if !follow || out.Done {
					return nil
				}
				if out.TrainingJobName != "" {
					// Stay on the attempt being followed.
					req.Attempt = &out.Attempt
				}
				req.NextToken, req.StartFromHead = out.NextToken, true
				if len(out.Events) > 0 {
					continue
				}
				select {
				case <-cmd.Context().Done():
					if exitStat {
						return &exitError{code: ExitWaitEnded, err: fmt.Errorf("stopped following (interrupted): job %s goes on", args[0])}
					}
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f := cmd.Flags()
	f.Int32Var(&attempt, "attempt", 0, "attempt to read, 1 for the first (default: the latest)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new lines until the attempt finishes")
	f.BoolVar(&head, "head", false, "start from the first line instead of the last --limit lines")
	f.Int32Var(&limit, "limit", 100, "most lines per request (the lines printed, without --follow)")
	f.DurationVar(&interval, "interval", time.Second, "how often --follow asks for new lines")
	f.BoolVar(&exitStat, "exit-status", false, "follow every attempt until the job ends, and exit with its status (0 SUCCEEDED, 5 FAILED); implies --follow")
	return markNotFoundTarget(cmd)
}

// nextAttempt waits, after attempt done of a job has ended and its log has
// been read, until the job either ends (it returns 0 and the exit of
// --exit-status) or starts another attempt (it returns its number).
func (a *App) nextAttempt(cmd *cobra.Command, jobID string, done int32, interval time.Duration) (int32, error) {
	ctx := cmd.Context()
	client, err := a.Batch(ctx)
	if err != nil {
		return 0, err
	}
	announced := false
	for {
		j, err := client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: aws.String(jobID)})
		switch {
		case err != nil && transient(a, err) && ctx.Err() == nil:
			// The server restarting: keep following.
		case err != nil:
			return 0, err
		case int32(len(j.Attempts)) > done:
			// A later attempt, which may have ended already: its log first.
			next := done + 1
			fmt.Fprintf(a.Stderr, "sagequeue: attempt %d of job %s started\n", next, jobID)
			return next, nil
		case finished(j):
			if j.Status == types.ServiceJobStatusFailed {
				return 0, &exitError{code: ExitJobFailed, err: errors.New(a.finalLine(j))}
			}
			return 0, nil
		case !announced && done > 0:
			announced = true
			reason := safe(aws.ToString(j.StatusReason))
			if n := len(j.Attempts); n >= int(done) && n > 0 {
				reason = safe(aws.ToString(j.Attempts[done-1].StatusReason))
			}
			fmt.Fprintf(a.Stderr, "sagequeue: attempt %d of job %s ended (%s); the job is %s\n", done, jobID, dash(reason), j.Status)
		}
		select {
		case <-ctx.Done():
			return 0, &exitError{code: ExitWaitEnded, err: fmt.Errorf("stopped following (interrupted): job %s goes on", jobID)}
		case <-time.After(interval):
		}
	}
}
