//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package supervisor

import (
	"errors"
	"syscall"
)

// ErrNoProc: without /proc, a process's start time is unknown, so a
// restarted server cannot prove that a recorded pid is still the job's.
var ErrNoProc = errors.New("process start times need /proc")

// ProcessStartTime fails here (see ErrNoProc).
func ProcessStartTime(pid int) (uint64, error) { return 0, ErrNoProc }

// No parent-death signal here: a training process whose supervisor was
// killed goes on alone until its process group is killed.
func setParentDeathSignal(attr *syscall.SysProcAttr) {}
