package cli

import (
	"bytes"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sagequeue/sagequeue/internal/simulate"
)

func init() { register(groupConfig, newSimulateCmd) }

func newSimulateCmd(a *App) *cobra.Command {
	var (
		req                      simulate.Request
		until, tick, bound, html string
		asJSON                   bool
		capacity                 int64
	)
	cmd := &cobra.Command{
		Use:   "simulate --config FILE --trace FILE [flags]",
		Short: "Replay a trace of jobs through the scheduler under a configuration (what-if)",
		Long: `Replay a trace of jobs through the scheduler of sagequeue serve (the same
sched.Plan) on a virtual clock, under a configuration file in the format of
sagequeue serve --config, and report how the capacity was used and how long
jobs waited. Nothing runs and no server is needed: a what-if tool for queue
settings (FIFO or fair share, weights, backfill, capacity) before using them.

--format sagequeue (the default) reads a CSV with a header naming the
columns id,arrival,duration,instances,queue,share,priority,maxRuntime (times
in seconds; arrival from the start of the trace; the first four required;
queue defaults to --queue, maxRuntime to --runtime-bound). --format openb
reads the pod list of Alibaba's GPU cluster trace (cluster-trace-gpu-v2023):
one job per pod with a GPU, num_gpu instances, from creation_time, for
deletion_time - scheduled_time, share ls (qos LS, Guaranteed) or be (BE,
Burstable). A malformed row is an error naming its line and column, and
nothing is simulated.

The table gives utilization, the capacity left idle while jobs waited, wait
percentiles overall, per queue and per share, and each share's part of the
capacity against its target while shares competed. --compare runs a second
configuration on the same trace and prints the differences; --json prints
the same as JSON; --html writes a self-contained page with charts. Bad
input (a file, a row, a queue or a share) is exit code 2.`,
		Example: `  sagequeue simulate --config examples/traces/fifo.yaml \
      --trace examples/traces/openb_pod_list_default.first-half.csv --format openb \
      --compare examples/traces/backfill.yaml --html report.html
  sagequeue simulate --config cluster.yaml --trace jobs.csv --until 7d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Config == "" || req.Trace == "" {
				return usagef("--config and --trace are required")
			}
			if !cmd.Flags().Changed("runtime-bound") && req.Format == simulate.FormatOpenB {
				bound = "exact" // the trace has no bounds: take the durations
			}
			var err error
			if req.Bound, err = simulate.ParseBound(bound, parseDuration); err != nil {
				return usagef("%v", err)
			}
			if until != "" {
				if req.Until, err = parseDuration(until); err != nil || req.Until <= 0 {
					return usagef("--until: want a positive duration like 30d or 12h, got %q", until)
				}
			}
			if tick != "" {
				if tick == "0" || tick == "none" {
					req.Tick = -1
				} else if req.Tick, err = parseDuration(tick); err != nil || req.Tick <= 0 {
					return usagef("--tick: want a duration like 1m, or none, got %q", tick)
				}
			}
			if capacity < 0 {
				return usagef("--capacity must be positive, got %d", capacity)
			}
			req.Capacity = capacity
			ra, rb, err := simulate.Simulate(req)
			if err != nil {
				return usagef("%v", err) // the input is wrong: the files, the trace or the flags
			}
			if html != "" {
				var page bytes.Buffer
				if err := simulate.WriteHTML(&page, "sagequeue "+strings.Join(os.Args[1:], " "), ra, rb); err != nil {
					return err
				}
				if err := os.WriteFile(html, page.Bytes(), 0o644); err != nil {
					return err
				}
			}
			switch {
			case asJSON || a.json():
				return simulate.WriteJSON(a.Stdout, ra, rb)
			case rb != nil:
				return simulate.WriteCompare(a.Stdout, ra, rb)
			}
			return simulate.WriteTable(a.Stdout, ra)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Config, "config", "", "configuration file (the format of sagequeue serve --config)")
	f.StringVar(&req.Trace, "trace", "", "trace of jobs (CSV)")
	f.StringVar(&req.Format, "format", simulate.FormatSagequeue, "trace format: sagequeue or openb")
	f.StringVar(&req.Queue, "queue", "", "queue of the jobs whose row names none (default: the first queue of the configuration)")
	f.StringVar(&until, "until", "", "stop this long after the start of the trace (like 30d; default: when every job has finished)")
	f.StringVar(&req.Compare, "compare", "", "a second configuration file to run the same trace in, and compare")
	f.BoolVar(&asJSON, "json", false, "print JSON (as --output json)")
	f.StringVar(&html, "html", "", "write a self-contained HTML report with charts to this file")
	f.Int64Var(&capacity, "capacity", 0, "replace every environment's capacity (instances)")
	f.StringVar(&bound, "runtime-bound", "", `runtime bound (MaxRuntimeInSeconds) of jobs whose row has none: "exact" (their duration), a multiple like "2x", or a duration like "24h" (default: SageMaker's 1 day; exact for --format openb)`)
	f.StringVar(&tick, "tick", "", "period of the scheduling passes while jobs wait (default 1m, the cloud deployment's tick; none for passes only on arrivals and completions)")
	return cmd
}
