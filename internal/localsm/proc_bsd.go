//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"errors"
	"syscall"
)

// Without /proc, a restarted server cannot prove that a recorded pid is
// still the job's, so it never kills one: processStartTime fails and no
// group is recognised. Jobs left running there must be stopped by hand.

var errNoProc = errors.New("process start times need /proc")

func processStartTime(pid int) (uint64, error) { return 0, errNoProc }

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

func groupCarries(pgid int, entry string) bool { return false }
