package localsm

import (
	"bytes"
	"os"
	"strconv"

	"github.com/sagequeue/sagequeue/internal/supervisor"
)

// selfExecutable is the program the server runs its supervisors with: its
// own image, even when the file it started from has been replaced or
// deleted since (an upgrade while jobs run).
func selfExecutable() (string, error) { return "/proc/self/exe", nil }

// processAlive is true for a process that exists and has not exited (a
// zombie has).
func processAlive(pid int) bool {
	state, _, _, err := supervisor.ProcStat(pid)
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
		state, pgrp, _, err := supervisor.ProcStat(pid)
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
	state, _, start, err := supervisor.ProcStat(pid)
	return err == nil && state != 'Z' && state != 'X' && start == startTime && processCarries(pid, entry)
}
