//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/sagequeue/sagequeue/internal/supervisor"
)

// detachProcess puts a supervisor in a session of its own: a Ctrl-C at the
// server's terminal, or a signal to the server's process group, does not
// reach it, and it outlives the server.
func detachProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// lockDir takes an exclusive lock on the job directory for the life of the
// server: a second server over the same directory would take the first
// one's running jobs for its own.
func lockDir(dir string) (func(), error) {
	return supervisor.LockPath(filepath.Join(dir, ".lock"), false)
}

// lockHeld reports whether a live process holds the lock on path. When it
// cannot tell (no file descriptor to look with), it says yes: a supervisor
// taken for dead would have its training process killed.
func lockHeld(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
}
