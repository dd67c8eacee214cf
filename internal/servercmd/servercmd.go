// Package servercmd is what the server binary (cmd/sagequeue-server) adds to
// the sagequeue CLI: the serve command, the dashboard's files, the simulator
// and the AWS SDK's configuration loader. It is the one place where the CLI
// meets them, so that the client binary (cmd/sagequeue) links none of them.
package servercmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagequeue/sagequeue/internal/awsconf/full"
	"github.com/sagequeue/sagequeue/internal/cli"
	"github.com/sagequeue/sagequeue/internal/dashboard"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/runas"
	sqserver "github.com/sagequeue/sagequeue/internal/server"
)

// Parts are the server binary's parts of the CLI.
func Parts() cli.ServerParts {
	return cli.ServerParts{Serve: NewServeCmd, Dashboard: dashboard.Files{}, Simulate: NewSimulateCmd, AWSConfig: full.Load}
}

// NewServeCmd is `sagequeue serve`.
func NewServeCmd(a *cli.App) *cobra.Command {
	var o sqserver.Options
	var verbose, runAsRoot bool
	var runtime, runArgs string
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
running training jobs go on running, and the next serve on the same data
directory adopts them, follows their logs and records how they end, even
if they end while no server runs; the same after a kill -9. With
--stop-jobs-on-exit, stopping serve stops them instead, and they go back to
their queue at the next start without using an attempt.

Finished jobs (SUCCEEDED, FAILED) are deleted --job-retention after their
last change (90 days, as in the cloud), so that the store does not grow for
ever; a store file that is mostly free space after such deletions is
compacted at the next start.

Training jobs run in the server's working directory with the server's
environment plus the payload's Environment and SageMaker's SM_* variables;
their files (the /opt/ml layout, logs) are under DATA_DIR/jobs/<name>/.
With --container-runtime, a payload that names a TrainingImage runs in that
image as SageMaker runs it: /opt/ml mounted from DATA_DIR/jobs/<name>/, the
SM_* variables, "train" as the default command, SIGTERM to stop.

To share the machine, give --auth-file: every request must then be signed
(SigV4, as the CLI and AWS SDKs do) with a key the file lists, and the
dashboard asks for a login. serve refuses to listen on an address other
than loopback without one. When serve runs as root, training jobs run as
--run-as (or the submitting user's runAs) with a clean environment, each in
a directory of its own that other jobs cannot read. SIGHUP reads the auth
file and the TLS certificate again. See docs/security.md.`,
		Example: `  sagequeue serve --config examples/local.yaml
  sagequeue serve --listen 0.0.0.0:8642 --auth-file /etc/sagequeue/auth.yaml \
      --tls-cert /etc/sagequeue/cert.pem --tls-key /etc/sagequeue/key.pem \
      --data-dir /var/lib/sagequeue --instance-limit 8
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
				return cli.Usagef("--container-run-args needs --container-runtime")
			}
			runAsChanged := cmd.Flags().Changed("run-as")
			switch {
			case runAsRoot && runAsChanged:
				return cli.Usagef("--run-as and --insecure-run-as-root contradict each other: give one")
			case runAsRoot:
				o.RunAs = ""
			case os.Geteuid() != 0 && !runAsChanged:
				o.RunAs = "" // jobs run as serve's own user
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Reload = reloadSignals(ctx)
			o.Supervisor = supervisorProgram(ctx, o.Logger)
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
	o.JobRetention = model.DefaultJobRetention
	f.Var((*daysFlag)(&o.JobRetention), "job-retention", "how long a finished job is kept after its last change, like 2160h or 90d (0: for ever)")
	f.StringVar(&o.AuthFile, "auth-file", "", "users, access keys and roles (YAML, see docs/security.md): every request must be signed with one of its keys")
	f.BoolVar(&o.InsecureNoAuth, "insecure-no-auth", false, "serve a non-loopback --listen address without authentication: anyone who reaches it can run commands here")
	f.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; reloaded on SIGHUP")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.RunAs, "run-as", runas.Default, "when serve runs as root: the account training jobs run as (user name, uid or uid:gid), unless the auth file maps the submitter to another")
	f.BoolVar(&runAsRoot, "insecure-run-as-root", false, "when serve runs as root, run training jobs as root too: they can then read and change everything")
	f.BoolVar(&o.StopJobsOnExit, "stop-jobs-on-exit", false, "stop running training jobs when serve stops (by default they go on running and the next serve adopts them)")
	f.StringVar(&runtime, "container-runtime", "", `run payloads' TrainingImage with this container runtime: "podman" or "docker", with options of its own if needed ("podman --runtime runc")`)
	f.StringVar(&runArgs, "container-run-args", "", `options added to every container's run (e.g. "--gpus all")`)
	f.BoolVarP(&verbose, "verbose", "v", false, "log debug messages")
	return cmd
}

// reloadSignals turns SIGHUP into reload requests until ctx ends.
func reloadSignals(ctx context.Context) <-chan struct{} {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // one pending reload covers several signals
				}
			}
		}
	}()
	return reload
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
