package supervisor

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

// ProcStat reads the state, process group and start time (clock ticks
// after boot) of a process from /proc/<pid>/stat.
func ProcStat(pid int) (state byte, pgrp int, start uint64, err error) {
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

// ProcessStartTime is when a process started, in clock ticks after boot:
// with its pid, an identity that pid reuse cannot fake.
func ProcessStartTime(pid int) (uint64, error) {
	_, _, start, err := ProcStat(pid)
	return start, err
}
