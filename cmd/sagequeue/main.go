// Command sagequeue is the sagequeue command-line client: submit, list and
// inspect SageMaker training jobs, and manage the queues, service
// environments and scheduling policies that admit them. See docs/cli.md.
package main

import (
	"context"
	"os"

	"github.com/sagequeue/sagequeue/internal/cli"
	// Training jobs' supervisors run from this binary: its init takes over
	// a process started as one, before anything else runs (see the package).
	_ "github.com/sagequeue/sagequeue/internal/supervisor"
)

func main() {
	ctx, stop := cli.InterruptContext(context.Background(), cli.InterruptDelay)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
