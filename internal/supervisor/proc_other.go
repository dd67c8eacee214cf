//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// Elsewhere (Windows, ...) there are no process groups to signal: a stop
// kills the entry point alone, and there is no other account to run as.

// SetProcessGroup does nothing here.
func SetProcessGroup(cmd *exec.Cmd) {}

// RunAs does nothing here: localsm refuses accounts on such systems.
func RunAs(*exec.Cmd, *runas.Account) {}

// SignalGroup kills the process alone.
func SignalGroup(pid int, kill bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	return p.Kill()
}

// ExitDescription says how a process ended, "" for success.
func ExitDescription(ps *os.ProcessState, waitErr error) string {
	if ps == nil {
		if waitErr != nil {
			return "cannot wait for the process: " + waitErr.Error()
		}
		return ""
	}
	if code := ps.ExitCode(); code != 0 {
		return fmt.Sprintf("exit code %d", code)
	}
	return ""
}

func signaled(ps *os.ProcessState) bool { return false }

// LockPath cannot lock here: without flock a supervisor's lock cannot be
// seen from another process, and a restarted server finds every
// supervisor gone and settles its job from the files it left.
func LockPath(path string, wait bool) (func(), error) { return func() {}, nil }

// ProcessStartTime is unknown here.
func ProcessStartTime(pid int) (uint64, error) { return 0, errors.New("unsupported") }
