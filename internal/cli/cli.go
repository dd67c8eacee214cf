// Package cli is the sagequeue command-line client. Main runs one command
// in-process (cmd/sagequeue only calls it and exits with its code), so tests
// drive the CLI exactly as a user would.
//
// The client commands start in a few milliseconds because this package and
// cmd/sagequeue link nothing of the server: Go initialises every package a
// binary links before main, and the server's (the SageMaker SDK and its
// schemas, bbolt, the engine, the dashboard) cost more than a whole submit.
// The commands that run a server (serve, and dashboard, which serves the
// dashboard's files) come from the second binary, sagequeue-server
// (cmd/sagequeue-server), which is this CLI with ServerParts filled in; in
// the client they hand the command line over to it (serverbin.go).
//
// Every command talks to a sagequeue server (or to AWS Batch itself) through
// the real AWS SDK Batch client. Subcommands live in their own files and add
// themselves to the root command with register from an init function:
//
//	func init() { register(groupJobs, []string{"logs"}, newLogsCmd) }
//	func newLogsCmd(a *App) *cobra.Command { ... }
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() {
	// Persistent pre-runs of every level run, so a subcommand with its own
	// hook keeps the root's checks of the global flags.
	cobra.EnableTraverseRunHooks = true
}

// Exit codes. Scripts may rely on them; they are listed in the help of every
// command (see exitCodesHelp) and in docs/cli.md.
const (
	ExitOK          = 0 // success
	ExitRefused     = 1 // the service refused the request (ClientException, HTTP 4xx)
	ExitUsage       = 2 // bad flags or arguments, detected before any request
	ExitNotFound    = 3 // the job or resource named on the command line does not exist
	ExitUnavailable = 4 // the service failed (HTTP 5xx) or could not be reached
	ExitJobFailed   = 5 // a job waited for (--wait, logs --exit-status) ended FAILED
	ExitWaitEnded   = 6 // the wait ended before the job did (--wait-timeout, Ctrl-C); the job goes on
)

const exitCodesHelp = `
Exit codes:
  0  success
  1  the service refused the request (ClientException, HTTP 4xx)
  2  usage error: bad flags or arguments, detected before any request
  3  not found: the job or resource named on the command line does not exist
  4  the service failed (HTTP 5xx) or could not be reached (connection refused, timeout)
  5  a job waited for (submit --wait, logs --exit-status) ended FAILED
  6  the wait ended before the job did (--wait-timeout, Ctrl-C); the job goes on
`

// DefaultEndpoint is where `sagequeue serve` listens by default.
const DefaultEndpoint = "http://127.0.0.1:8642"

// EndpointAWS is the --endpoint value that means the real AWS Batch endpoint
// of the region.
const EndpointAWS = "aws"

// Command groups of the root help.
const (
	groupJobs   = "jobs"
	groupConfig = "config"
	groupServer = "server"
)

// A constructor builds one top-level command for an App.
type constructor struct {
	group string
	// names are the command's name and aliases, so that a command line
	// naming it builds it alone (TestConstructorNames keeps them true).
	names []string
	fn    func(*App) *cobra.Command
}

var constructors []constructor

// register adds a top-level command to every root command built after it.
// group is one of groupJobs, groupConfig or groupServer; names are the
// command's name and its aliases. Call it from init.
func register(group string, names []string, fn func(*App) *cobra.Command) {
	constructors = append(constructors, constructor{group, names, fn})
}

// invoked returns the constructor of the top-level command that args name,
// when it can tell: the first argument that is not a global flag or its
// value. Building that command alone spares a one-shot command (a scripted
// submit) the building of all the others and their flags: 5 % of its
// instructions and 70 page faults. With anything it cannot tell (help, completion requests, an unknown
// flag or command), it returns false, and the whole tree is built.
func invoked(root *cobra.Command, args []string) (constructor, bool) {
	flags := root.PersistentFlags()
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if strings.HasPrefix(arg, "-") {
			var f *pflag.Flag
			hasValue := false
			switch {
			case strings.HasPrefix(arg, "--") && len(arg) > 2:
				var name string
				name, _, hasValue = strings.Cut(arg[2:], "=")
				f = flags.Lookup(name)
			case len(arg) == 2 && arg != "--":
				f = flags.ShorthandLookup(arg[1:])
			}
			if f == nil {
				// "--", "-", -ojson, combined shorthands, unknown flags
				return constructor{}, false
			}
			if !hasValue && f.NoOptDefVal == "" {
				i++ // the flag's value
			}
			continue
		}
		for _, c := range constructors {
			for _, n := range c.names {
				if n == arg {
					return c, true
				}
			}
		}
		return constructor{}, false
	}
	return constructor{}, false
}

// App is the state of one CLI invocation: its streams, its global flags and
// the Batch client built from them on first use.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// Global flags.
	Endpoint string
	Region   string
	Profile  string
	Output   string
	Color    string // auto, always or never (see color.go)

	// SigningName overrides the SigV4 signing name (see signing.go).
	SigningName string
	// CABundle is a PEM file of certificates to trust for HTTPS, besides
	// the system's (a server with a self-signed certificate).
	CABundle string

	// Getenv reads the environment (os.Getenv unless a test replaces it).
	Getenv func(string) string
	// Now is the clock (relative times in flags, table times).
	Now func() time.Time
	// Location is the time zone of table times.
	Location *time.Location
	// IsTerminal reports whether a stream is a terminal (see term.go; tests
	// replace it to see what a terminal would).
	IsTerminal func(stream any) bool

	// Server holds the commands and files that only the server binary
	// links; empty in the client, whose serve and dashboard run the server
	// binary (serverbin.go).
	Server ServerParts
	// Exec replaces the process with another program (syscall.Exec in
	// Main); when nil, the program runs as a child with the App's streams.
	Exec func(path string, argv, env []string) error

	client *batch.Client
	args   []string // the command line Run was given
	// anonymous is true when the client signs with placeholder credentials
	// (none were configured).
	anonymous bool
}

// Main runs the sagequeue command line args (without the program name) and
// returns the process exit code. Errors are printed on stderr as one line,
// "sagequeue: <message>".
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newMainApp(stdin, stdout, stderr).Run(ctx, args)
}

// ServerMain is Main of the server binary: the same commands, with serve
// and the dashboard's files from parts.
func ServerMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, parts ServerParts) int {
	a := newMainApp(stdin, stdout, stderr)
	a.Server = parts
	return a.Run(ctx, args)
}

func newMainApp(stdin io.Reader, stdout, stderr io.Writer) *App {
	return &App{
		Stdin:    stdin,
		Stdout:   stdout,
		Stderr:   stderr,
		Getenv:   os.Getenv,
		Now:      time.Now,
		Location: time.Local,
		Exec:     syscall.Exec,
	}
}

// Run executes args with the App's streams and settings.
func (a *App) Run(ctx context.Context, args []string) int {
	if ctx == nil {
		ctx = context.Background()
	}
	a.args = args
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if cmd == nil {
		cmd = root
	}
	code, msg := a.classify(cmd, err)
	if msg != "" {
		a.errorLine(msg)
	}
	return code
}

// errorLine prints one error line on stderr.
func (a *App) errorLine(msg string) {
	fmt.Fprintf(a.Stderr, "sagequeue: %s\n", oneLine(msg))
}

func (a *App) rootCmd() *cobra.Command {
	endpoint := DefaultEndpoint
	if e := a.Getenv("SAGEQUEUE_ENDPOINT"); e != "" {
		endpoint = e
	}
	root := &cobra.Command{
		Use:   "sagequeue",
		Short: "A job queue for Amazon SageMaker training jobs, speaking the AWS Batch service-job API",
		Long: `sagequeue submits SageMaker training jobs to queues, lists and inspects them,
and manages the queues, service environments and scheduling policies that
admit them. It talks to a sagequeue server (sagequeue serve, or the cloud
deployment) or to AWS Batch itself (--endpoint aws) through the AWS SDK.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.checkGlobals()
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.Endpoint, "endpoint", endpoint,
		`sagequeue server URL, or "aws" for the AWS Batch endpoint of the region (env SAGEQUEUE_ENDPOINT)`)
	pf.StringVar(&a.Region, "region", "",
		`AWS region (default: from the AWS config and environment, else "local" for a sagequeue server, us-east-1 for aws)`)
	pf.StringVar(&a.Profile, "profile", "", "AWS shared config profile to take credentials and region from")
	pf.StringVar(&a.SigningName, "signing-name", "",
		`SigV4 signing name: "execute-api" for a deployed sagequeue behind a custom domain (default: execute-api for https://<id>.execute-api.<region>.amazonaws.com, else the Batch client's; env SAGEQUEUE_SIGNING_NAME)`)
	pf.StringVar(&a.CABundle, "ca-bundle", "",
		`PEM file of CA certificates to trust for an https:// endpoint, e.g. a server's self-signed certificate (the AWS SDK option; env AWS_CA_BUNDLE)`)
	pf.StringVarP(&a.Output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&a.Color, "color", "auto", "colors in tables and status lines: auto (on a terminal, unless NO_COLOR is set), always or never")

	used := map[string]bool{}
	for _, c := range constructors {
		used[c.group] = true
	}
	for _, g := range []*cobra.Group{
		{ID: groupJobs, Title: "Jobs:"},
		{ID: groupConfig, Title: "Queues, service environments and scheduling policies:"},
		{ID: groupServer, Title: "Server:"},
	} {
		if used[g.ID] {
			root.AddGroup(g)
		}
	}
	build := constructors
	if c, ok := invoked(root, a.args); ok {
		build = []constructor{c}
	}
	for _, c := range build {
		cmd := c.fn(a)
		cmd.GroupID = c.group
		root.AddCommand(cmd)
	}
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError(cmd, err)
	})
	// A usage function, not SetUsageTemplate: a template executed through
	// text/template reaches reflect's method lookup, which makes the linker
	// keep every exported method of every type in the binary (the whole
	// SDK client, net/http's server), and a bigger binary costs every
	// process more to start (docs/benchmarks.md).
	usage := root.UsageFunc()
	root.SetUsageFunc(func(c *cobra.Command) error {
		if err := usage(c); err != nil {
			return err
		}
		_, err := io.WriteString(c.OutOrStderr(), exitCodesHelp)
		return err
	})
	a.addCompletions(root)
	return root
}

// checkGlobals validates the global flags before any command runs.
func (a *App) checkGlobals() error {
	switch a.Output {
	case "table", "json":
	default:
		return usagef("--output must be table or json, got %q", a.Output)
	}
	switch a.Color {
	case "auto", "always", "never":
	default:
		return usagef("--color must be auto, always or never, got %q", a.Color)
	}
	if a.Endpoint != EndpointAWS {
		if err := checkEndpointURL(a.Endpoint); err != nil {
			return usagef("--endpoint: %v", err)
		}
	}
	return nil
}

// json reports whether --output json was asked for.
func (a *App) json() bool { return a.Output == "json" }

// exitError carries an exit code chosen by the command itself.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usagef is a usage error: exit code 2.
func usagef(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Usagef is a usage error (exit code 2), for commands the server binary
// adds (internal/servercmd).
func Usagef(format string, args ...any) error { return usagef(format, args...) }

// notFoundf is a not-found error: exit code 3.
func notFoundf(format string, args ...any) error {
	return &exitError{code: ExitNotFound, err: fmt.Errorf(format, args...)}
}

// refusedf is a refused request detected by the CLI: exit code 1.
func refusedf(format string, args ...any) error {
	return &exitError{code: ExitRefused, err: fmt.Errorf(format, args...)}
}

// silentExit ends a command with a code after it has printed its own errors.
type silentExit struct{ code int }

func (e *silentExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError turns an error of flag or argument parsing into a usage error
// that points at the command's help.
func usageError(cmd *cobra.Command, err error) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf("%s (see '%s --help')", firstLine(err.Error()), cmd.CommandPath())}
}

// annotationNotFound marks commands whose target (a job id, a resource name)
// is named on the command line: a ClientException saying "not found" is exit
// code 3 for them. For other commands (a queue that names a missing
// environment, say) it stays a refused request.
const annotationNotFound = "sagequeue/not-found-target"

func markNotFoundTarget(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotationNotFound] = "true"
	return cmd
}

// classify maps an error to an exit code and the message to print.
func (a *App) classify(cmd *cobra.Command, err error) (int, string) {
	var se *silentExit
	if errors.As(err, &se) {
		return se.code, ""
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.err.Error()
	}
	if code, msg, ok := a.classifyAPI(cmd, err); ok {
		return code, msg
	}
	// Anything else comes from cobra: unknown command, missing required flag,
	// wrong number of arguments.
	return ExitUsage, usageError(cmd, err).Error()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// oneLine collapses whitespace runs, newlines included, to single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
