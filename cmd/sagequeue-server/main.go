// Command sagequeue-server is the sagequeue CLI with the commands that run
// a server: serve (API, scheduler, local SageMaker endpoint and store in one
// process) and dashboard. `sagequeue serve` and `sagequeue dashboard` run
// it, so that the client binary, cmd/sagequeue, links none of the server
// and starts in a few milliseconds. Build both: go build -o bin/ ./cmd/...
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sagequeue/sagequeue/internal/cli"
	"github.com/sagequeue/sagequeue/internal/servercmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.ServerMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, servercmd.Parts())
	stop()
	os.Exit(code)
}
