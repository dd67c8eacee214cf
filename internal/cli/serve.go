package cli

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	sqserver "github.com/sagequeue/sagequeue/internal/server"
)

func init() { register(groupServer, newServeCmd) }

func newServeCmd(a *App) *cobra.Command {
	var o sqserver.Options
	var verbose bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run sagequeue on this machine: API, scheduler, local SageMaker, store",
		Long: `Run the whole of sagequeue in one process: the AWS Batch-compatible API, the
scheduler, a local SageMaker endpoint that runs each training job's entry
point (AlgorithmSpecification.ContainerEntrypoint and ContainerArguments) as
a local process, and an embedded store in the data directory.

--config applies service environments, scheduling policies and queues at
start (YAML or JSON; see examples/local.yaml), and declares the training
plans the local SageMaker endpoint emulates (examples/local-plan.yaml,
docs/training-plans.md). Stop with Ctrl-C or SIGTERM:
running training jobs are stopped and go back to their queue at the next
start without using an attempt. Nothing else is lost, even on a kill -9.

Training jobs run in the server's working directory with the server's
environment plus the payload's Environment and SageMaker's SM_* variables;
their files (the /opt/ml layout, logs) are under DATA_DIR/jobs/<name>/.`,
		Example: `  sagequeue serve --config examples/local.yaml
  sagequeue serve --listen 0.0.0.0:8642 --data-dir /var/lib/sagequeue --instance-limit 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			o.Logger = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return sqserver.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8642", "address to serve the API on")
	f.StringVar(&o.DataDir, "data-dir", "sagequeue-data", "directory of the store and the training jobs' files")
	f.StringVar(&o.ConfigFile, "config", "", "environments, policies and queues to create or update at start (YAML or JSON)")
	f.DurationVar(&o.Tick, "tick", time.Second, "period of scheduling passes when nothing happens")
	f.DurationVar(&o.StopGrace, "stop-grace", 10*time.Second, "time a stopped training job gets between SIGTERM and SIGKILL")
	f.Int64Var(&o.InstanceLimit, "instance-limit", 0, "most instances the local endpoint runs at once, like an account quota (0: no limit)")
	f.DurationVar(&o.PlanEndMargin, "plan-end-margin", 30*time.Minute, "how long before a training plan's window ends its instances are taken back, as SageMaker does 30m before")
	f.DurationVar(&o.PlanPendingTimeout, "plan-pending-timeout", 48*time.Hour, "how long a job waits Pending for a local training plan's capacity before it fails with InsufficientCapacityError")
	f.BoolVarP(&verbose, "verbose", "v", false, "log debug messages")
	return cmd
}
