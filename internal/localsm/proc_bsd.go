//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"errors"
	"os"
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

// Without /proc a supervisor's identity rests on the lock it holds (see
// adoptable); a pid alone is all there is to check here.
func isProcess(pid int, startTime uint64, entry string) bool { return pid > 0 && processAlive(pid) }

// No parent-death signal here: a training process whose supervisor was
// killed goes on alone until its process group is killed.
func setParentDeathSignal(attr *syscall.SysProcAttr) {}

func selfExecutable() (string, error) { return os.Executable() }
