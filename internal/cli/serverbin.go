package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sagequeue/sagequeue/internal/awsconf"
)

// ServerBinary is the name of the server binary (cmd/sagequeue-server): the
// whole CLI plus the commands that run a server. It is looked for next to
// the running executable, then on PATH; SAGEQUEUE_SERVER names it outright.
const ServerBinary = "sagequeue-server"

// ClientBinary is the name of the client binary (cmd/sagequeue), which the
// server binary beside it runs training jobs' supervisors with.
const ClientBinary = "sagequeue"

// ServerParts are what the server binary adds to the CLI. The client binary
// must not link them (see the package comment and TestClientDependencies).
type ServerParts struct {
	// Serve builds the serve command.
	Serve func(*App) *cobra.Command
	// Dashboard is the web dashboard's files, which `sagequeue dashboard`
	// serves beside its signing proxy.
	Dashboard DashboardFiles
	// Simulate builds the simulate command (internal/servercmd), whose
	// simulator the client does not link.
	Simulate func(*App) *cobra.Command
	// AWSConfig resolves the AWS configuration with the AWS SDK's own
	// loader (package awsconf/full), for what the client's cannot
	// (awsconfig.go).
	AWSConfig func(context.Context, awsconf.Request) (awsconf.Resolved, error)
}

// DashboardFiles serves the dashboard's files (internal/dashboard).
type DashboardFiles interface {
	http.Handler
	// CrossSite reports whether a request comes from a page of another
	// origin, which the proxy must not serve.
	CrossSite(r *http.Request) bool
}

func init() {
	register(groupServer, []string{"serve"}, newServeCmd)
	register(groupConfig, []string{"simulate"}, newSimulateCmd)
}

// SimulateShort is the one-line help of `sagequeue simulate`.
const SimulateShort = "Replay a trace of jobs through the scheduler under a configuration (what-if)"

// newSimulateCmd is the server binary's simulate command, or in the client
// a stand-in that runs the server binary with the same command line (its
// flags and help are the server binary's: sagequeue simulate --help).
func newSimulateCmd(a *App) *cobra.Command {
	if a.Server.Simulate != nil {
		return a.Server.Simulate(a)
	}
	return &cobra.Command{
		Use:   "simulate --config FILE --trace FILE [flags]",
		Short: SimulateShort,
		Long: `Replay a trace of jobs through the scheduler on a virtual clock, under a
configuration file, and report how the capacity was used and how long jobs
waited (docs/simulate.md).

simulate runs in the server binary, ` + ServerBinary + `, which is looked for next
to this one, then on PATH (or named by SAGEQUEUE_SERVER); build both with
go build -o bin/ ./cmd/... . Its flags: sagequeue simulate --help.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runServerBinary(cmd)
		},
	}
}

// newServeCmd is the server binary's serve command, or in the client a
// stand-in that runs the server binary with the same command line. The
// stand-in parses no flags: the server binary knows them, and shows them in
// `sagequeue serve --help`.
func newServeCmd(a *App) *cobra.Command {
	if a.Server.Serve != nil {
		return a.Server.Serve(a)
	}
	return &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run sagequeue on this machine: API, scheduler, local SageMaker, store",
		Long: `Run the whole of sagequeue in one process: the AWS Batch-compatible API, the
scheduler, a local SageMaker endpoint and an embedded store.

serve runs in the server binary, ` + ServerBinary + `, which is looked for next to
this one, then on PATH (or named by SAGEQUEUE_SERVER); build both with
go build -o bin/ ./cmd/... . Its flags: sagequeue serve --help.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runServerBinary(cmd)
		},
	}
}

// runServerBinary hands the whole command line to the server binary. With
// Exec (the real program) the server replaces this process, so it keeps the
// process id, the terminal and the signals a supervisor sends; otherwise it
// runs as a child with the App's streams.
func (a *App) runServerBinary(cmd *cobra.Command) error {
	path, err := a.findServerBinary(cmd.CommandPath() + " runs")
	if err != nil {
		return err
	}
	argv := append([]string{path}, a.args...)
	if a.Exec != nil {
		if err := a.Exec(path, argv, os.Environ()); err != nil {
			return usagef("running %s: %v", path, err)
		}
		return nil
	}
	child := exec.Command(path, a.args...)
	child.Stdin, child.Stdout, child.Stderr = a.Stdin, a.Stdout, a.Stderr
	err = child.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &silentExit{code: exit.ExitCode()}
	}
	if err != nil {
		return usagef("running %s: %v", path, err)
	}
	return nil
}

// findServerBinary returns the path of the server binary, or an error that
// says how to get one; what is what needs it ("sagequeue serve runs").
func (a *App) findServerBinary(what string) (string, error) {
	getenv := a.Getenv
	if getenv == nil { // an App made by a program, not Main, may have none
		getenv = os.Getenv
	}
	if p := getenv("SAGEQUEUE_SERVER"); p != "" {
		if !isExecutable(p) {
			return "", usagef("SAGEQUEUE_SERVER=%s is not an executable file", p)
		}
		return p, nil
	}
	var next string
	if self, err := os.Executable(); err == nil {
		next = filepath.Join(filepath.Dir(self), ServerBinary)
		if isExecutable(next) {
			return next, nil
		}
	}
	if p, err := exec.LookPath(ServerBinary); err == nil {
		return p, nil
	}
	where := "on PATH"
	if next != "" {
		where = fmt.Sprintf("at %s or on PATH", next)
	}
	return "", usagef("%s in the server binary %s, which is not %s: build both binaries with `go build -o bin/ ./cmd/...`, or name it with SAGEQUEUE_SERVER",
		what, ServerBinary, where)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}
