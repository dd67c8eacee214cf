//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// setProcessGroup gives a training process a process group of its own, so
// that a stop reaches every process the job started, and only those.
func setProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// detachProcess puts a supervisor in a session of its own: a Ctrl-C at the
// server's terminal, or a signal to the server's process group, does not
// reach it, and it outlives the server.
func detachProcess(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// signalGroup sends SIGTERM (or SIGKILL) to every process of a group; a
// group that is gone already is no error.
func signalGroup(pgid int, kill bool) error {
	if pgid <= 0 {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// exitDescription says how a process ended, "" for success.
func exitDescription(ps *os.ProcessState, waitErr error) string {
	if ps == nil {
		if waitErr != nil {
			return "cannot wait for the process: " + waitErr.Error()
		}
		return ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + signalName(ws.Signal())
	}
	if code := ps.ExitCode(); code != 0 {
		return fmt.Sprintf("exit code %d", code)
	}
	return ""
}

// signaled reports whether a process was ended by a signal.
func signaled(ps *os.ProcessState) bool {
	if ps == nil {
		return false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
}

func signalName(sig syscall.Signal) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	return fmt.Sprintf("%d", int(sig))
}

// lockDir takes an exclusive lock on the job directory for the life of the
// server: a second server over the same directory would take the first
// one's running jobs for its own.
func lockDir(dir string) (func(), error) { return lockFile(filepath.Join(dir, ".lock"), false) }

// lockFile takes an exclusive lock on path (created if missing) until the
// returned function is called; with wait, it waits for a holder to let go
// (a server looking whether the lock is held holds it for an instant). The
// kernel drops the lock when the process dies, however it dies; the
// descriptor is close-on-exec, so processes the holder starts do not
// inherit it. 0600: a job that could open a lock could hold it, and keep a
// restarted server out or pass for a live supervisor.
func lockFile(path string, wait bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
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
