package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqserver "github.com/sagequeue/sagequeue/internal/server"
	"github.com/sagequeue/sagequeue/internal/server/servertest"
)

// liveServer is `sagequeue serve` run in-process (server.Run) on a free
// port with a temporary data directory: API, engine and local SageMaker,
// so that jobs really run and end.
type liveServer struct {
	url  string
	work string
}

const liveConfig = `
environments:
  - {name: box, maxCapacity: 4}
policies:
  - name: teams
    shares:
      - {shareIdentifier: a, weightFactor: 1}
queues:
  - {name: q, priority: 10, environments: [box]}
  - {name: fair, priority: 5, environments: [box], policy: teams}
`

func startLive(t *testing.T) *liveServer {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(liveConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := servertest.Run(t, sqserver.Options{DataDir: filepath.Join(dir, "data"), ConfigFile: cfg})
	return &liveServer{url: "http://" + addr, work: dir}
}

// runOpts are what a test changes of a CLI run besides its arguments.
type runOpts struct {
	stdin    string
	terminal bool              // stdout and stderr are terminals
	env      map[string]string // NO_COLOR, COLUMNS, ...
	timeout  time.Duration
}

// runWith runs the CLI in-process like runCLI, as if on a terminal when
// o.terminal is set.
func runWith(t *testing.T, endpoint string, o runOpts, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{
		Stdin: strings.NewReader(o.stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "SAGEQUEUE_ENDPOINT" {
				return endpoint
			}
			return o.env[k]
		},
		Now: time.Now, Location: time.UTC,
		IsTerminal: func(stream any) bool {
			return o.terminal && (stream == &out || stream == &errb)
		},
	}
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	code := a.Run(ctx, args)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	t.Logf("sagequeue %s -> %d\n%s%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// noANSI fails when s holds an escape sequence.
func noANSI(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, "\x1b") {
		t.Fatalf("%s has ANSI escape sequences: %q", what, s)
	}
}
