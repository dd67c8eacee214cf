package cli

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	sqserver "github.com/sagequeue/sagequeue/internal/server"
)

func init() { register(groupServer, newServeCmd) }

func newServeCmd(a *App) *cobra.Command {
	var o sqserver.Options
	var verbose bool
	var runtime, runArgs string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run sagequeue on this machine: API, scheduler, local SageMaker, store",
		Long: `Run the whole of sagequeue in one process: the AWS Batch-compatible API, the
scheduler, a local SageMaker endpoint that runs each training job's entry
point (AlgorithmSpecification.ContainerEntrypoint and ContainerArguments) as
a local process, and an embedded store in the data directory.

--config applies service environments, scheduling policies and queues at
start (YAML or JSON; see examples/local.yaml). Stop with Ctrl-C or SIGTERM:
running training jobs go on running, and the next serve on the same data
directory adopts them, follows their logs and records how they end, even
if they end while no server runs; the same after a kill -9. With
--stop-jobs-on-exit, stopping serve stops them instead, and they go back to
their queue at the next start without using an attempt.

Training jobs run in the server's working directory with the server's
environment plus the payload's Environment and SageMaker's SM_* variables;
their files (the /opt/ml layout, logs) are under DATA_DIR/jobs/<name>/.
With --container-runtime, a payload that names a TrainingImage runs in that
image as SageMaker runs it: /opt/ml mounted from DATA_DIR/jobs/<name>/, the
SM_* variables, "train" as the default command, SIGTERM to stop.`,
		Example: `  sagequeue serve --config examples/local.yaml
  sagequeue serve --listen 0.0.0.0:8642 --data-dir /var/lib/sagequeue --instance-limit 8
  sagequeue serve --config examples/local.yaml --container-runtime podman
  sagequeue serve --container-runtime docker --container-run-args "--gpus all"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			o.Logger = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
			o.ContainerRuntime, o.ContainerRunArgs = strings.Fields(runtime), strings.Fields(runArgs)
			if len(o.ContainerRunArgs) > 0 && len(o.ContainerRuntime) == 0 {
				return usageError(cmd, errors.New("--container-run-args needs --container-runtime"))
			}
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
	f.BoolVar(&o.StopJobsOnExit, "stop-jobs-on-exit", false, "stop running training jobs when serve stops (by default they go on running and the next serve adopts them)")
	f.StringVar(&runtime, "container-runtime", "", `run payloads' TrainingImage with this container runtime: "podman" or "docker", with options of its own if needed ("podman --runtime runc")`)
	f.StringVar(&runArgs, "container-run-args", "", `options added to every container's run (e.g. "--gpus all")`)
	f.BoolVarP(&verbose, "verbose", "v", false, "log debug messages")
	return cmd
}
