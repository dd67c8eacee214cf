//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// SetProcessGroup gives a training process a process group of its own, so
// that a stop reaches every process the job started, and only those; and
// a parent-death signal, where the system has one.
func SetProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr)
}

// RunAs makes cmd start as the account, with exactly its groups (none of
// the server's); a nil account changes nothing.
func RunAs(cmd *exec.Cmd, a *runas.Account) {
	if a == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: append([]uint32{}, a.Groups...)}
}

// SignalGroup sends SIGTERM (or SIGKILL) to every process of a group; a
// group that is gone already is no error.
func SignalGroup(pgid int, kill bool) error {
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

// ExitDescription says how a process ended, "" for success.
func ExitDescription(ps *os.ProcessState, waitErr error) string {
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

// LockPath takes an exclusive lock on path (created if missing) until the
// returned function is called; with wait, it waits for a holder to let go
// (a server looking whether the lock is held holds it for an instant). The
// kernel drops the lock when the process dies, however it dies; the
// descriptor is close-on-exec, so processes the holder starts do not
// inherit it. 0600: a job that could open a lock could hold it, and keep a
// restarted server out or pass for a live supervisor.
func LockPath(path string, wait bool) (func(), error) {
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
