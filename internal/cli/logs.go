package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(groupJobs, newLogsCmd) }

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
	)
	cmd := &cobra.Command{
		Use:   "logs JOB_ID",
		Short: "Print the log of a job's training job",
		Long: `Print the log lines of a job's training job: the last --limit lines, or from
the first line with --head. --follow keeps printing new lines until the
attempt has finished and everything is printed; it waits for a job that has
not started yet. --attempt picks an earlier attempt (1 is the first).

This is the sagequeue extension operation getservicejoblogs: the local
endpoint's log file with sagequeue serve, CloudWatch Logs in the cloud.`,
		Example: `  sagequeue logs 01a226f1-43a4-718b-ab6a-42920c5c2242
  sagequeue logs -f 01a226f1-43a4-718b-ab6a-42920c5c2242
  sagequeue logs --head --limit 20 --attempt 1 01a226f1-43a4-718b-ab6a-42920c5c2242`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 1 || limit > 10000 {
				return usagef("--limit must be between 1 and 10000, got %d", limit)
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
				if a.json() && !follow {
					return a.printJSON(out)
				}
				for _, e := range out.Events {
					fmt.Fprintln(a.Stdout, e.Message)
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
	return markNotFoundTarget(cmd)
}
