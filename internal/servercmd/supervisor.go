package servercmd

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/sagequeue/sagequeue/internal/cli"
	"github.com/sagequeue/sagequeue/internal/supervisor"
)

// supervisorProgram is the program that runs training jobs' supervisors:
// the client binary beside this one, whose start costs a fraction of this
// binary's (package supervisor), or "" (this binary) when there is none or
// it cannot supervise (one built before supervisors moved there).
func supervisorProgram(ctx context.Context, log *slog.Logger) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), cli.ClientBinary)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return ""
	}
	if me, err := os.Stat(self); err == nil && os.SameFile(st, me) {
		return ""
	}
	if !canSupervise(ctx, p) {
		log.Warn("training jobs are supervised by the server binary: the client binary beside it cannot supervise them (rebuild both: go build -o bin/ ./cmd/...)", "client", p)
		return ""
	}
	return p
}

// canSupervise runs program as a supervisor that is never released: one
// reads end-of-file for its launch spec and exits with code 3 at once,
// having started nothing.
func canSupervise(ctx context.Context, program string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, program)
	cmd.Args[0] = supervisor.ProcessName
	cmd.Env = append(os.Environ(), supervisor.Env+"=probe")
	var exit *exec.ExitError
	return errors.As(cmd.Run(), &exit) && exit.ExitCode() == 3
}
