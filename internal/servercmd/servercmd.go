// Package servercmd is what the server binary (cmd/sagequeue-server) adds to
// the sagequeue CLI: the serve command and the dashboard's files. It is the
// one place where the CLI meets the server packages, so that the client
// binary (cmd/sagequeue) links none of them.
package servercmd

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagequeue/sagequeue/internal/cli"
	"github.com/sagequeue/sagequeue/internal/dashboard"
	"github.com/sagequeue/sagequeue/internal/model"
	sqserver "github.com/sagequeue/sagequeue/internal/server"
)

// Parts are the server binary's parts of the CLI.
func Parts() cli.ServerParts {
	return cli.ServerParts{Serve: NewServeCmd, Dashboard: dashboard.Files{}}
}

// NewServeCmd is `sagequeue serve`.
func NewServeCmd(a *cli.App) *cobra.Command {
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
start (YAML or JSON; see examples/local.yaml). Stop with Ctrl-C or SIGTERM:
running training jobs are stopped and go back to their queue at the next
start without using an attempt. Nothing else is lost, even on a kill -9.

Finished jobs (SUCCEEDED, FAILED) are deleted --job-retention after their
last change (90 days, as in the cloud), so that the store does not grow for
ever; a store file that is mostly free space after such deletions is
compacted at the next start.

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
	o.JobRetention = model.DefaultJobRetention
	f.Var((*daysFlag)(&o.JobRetention), "job-retention", "how long a finished job is kept after its last change, like 2160h or 90d (0: for ever)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log debug messages")
	return cmd
}

// daysFlag is a duration flag that also takes whole days ("90d").
type daysFlag time.Duration

func (d *daysFlag) String() string {
	v := time.Duration(*d)
	if v > 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *daysFlag) Set(s string) error {
	v, err := model.ParseDays(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration like 2160h or 90d", s)
	}
	*d = daysFlag(v)
	return nil
}

func (d *daysFlag) Type() string { return "duration" }
