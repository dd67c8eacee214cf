//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package localsm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Elsewhere (Windows, ...) there are no process groups to signal: a stop
// kills the entry point alone, and a restarted server kills nothing.

func setProcessGroup(cmd *exec.Cmd) {}

func signalGroup(pid int, kill bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	return p.Kill()
}

func exitDescription(ps *os.ProcessState, waitErr error) string {
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

func lockDir(dir string) (func(), error) { return func() {}, nil }

// Without flock a supervisor's lock cannot be seen from another process: a
// restarted server finds every supervisor gone and settles its job from the
// files it left.
func lockFile(path string, wait bool) (func(), error) { return func() {}, nil }

func lockHeld(path string) bool { return false }

func detachProcess(cmd *exec.Cmd) {}

func isProcess(pid int, startTime uint64, entry string) bool { return false }

func selfExecutable() (string, error) { return os.Executable() }

func processStartTime(pid int) (uint64, error) { return 0, errors.New("unsupported") }

func processAlive(pid int) bool { return false }

func groupAlive(pgid int) bool { return false }

func groupCarries(pgid int, entry string) bool { return false }

func signaled(ps *os.ProcessState) bool { return false }
