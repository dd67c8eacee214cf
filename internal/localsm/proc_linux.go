package localsm

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setParentDeathSignal makes the kernel kill a training process when its
// supervisor dies, however it dies: a process nobody follows any more must
// not go on holding an instance. (The signal follows the supervisor's
// thread, which the supervisor locks for its whole life.)
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// selfExecutable is the program the server runs its supervisors with: its
// own image, even when the file it started from has been replaced or
// deleted since (an upgrade while jobs run).
func selfExecutable() (string, error) { return "/proc/self/exe", nil }

// procStat reads the state, process group and start time (clock ticks
// after boot) of a process from /proc/<pid>/stat.
func procStat(pid int) (state byte, pgrp int, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself: the fields that follow start after the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22
	// (starttime).
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pgrp, err = strconv.Atoi(f[2])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return f[0][0], pgrp, start, nil
}

func processStartTime(pid int) (uint64, error) {
	_, _, start, err := procStat(pid)
	return start, err
}

// processAlive is true for a process that exists and has not exited (a
// zombie has).
func processAlive(pid int) bool {
	state, _, _, err := procStat(pid)
	return err == nil && state != 'Z' && state != 'X'
}

// groupMembers lists the live processes of a process group.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, _, err := procStat(pid)
		if err == nil && pgrp == pgid && state != 'Z' && state != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

func groupAlive(pgid int) bool { return len(groupMembers(pgid)) > 0 }

// groupCarries reports whether a live member of the group has entry (such
// as TRAINING_JOB_ARN=...) in its environment: proof that the group is
// still the job's when its leader is gone.
func groupCarries(pgid int, entry string) bool {
	for _, pid := range groupMembers(pgid) {
		if processCarries(pid, entry) {
			return true
		}
	}
	return false
}

// processCarries reports whether a process has entry in the environment it
// started with.
func processCarries(pid int, entry string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if string(kv) == entry {
			return true
		}
	}
	return false
}

// isProcess reports whether pid is the live process that started at
// startTime and carries entry in its environment: a pid that the kernel has
// since given to another program fails one test or the other.
func isProcess(pid int, startTime uint64, entry string) bool {
	if pid <= 0 {
		return false
	}
	state, _, start, err := procStat(pid)
	return err == nil && state != 'Z' && state != 'X' && start == startTime && processCarries(pid, entry)
}
