//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package localsm

import (
	"os"
	"os/exec"
)

// Elsewhere (Windows, ...) there are no process groups to signal: a stop
// kills the entry point alone, and a restarted server kills nothing.

func lockDir(dir string) (func(), error) { return func() {}, nil }

func lockHeld(path string) bool { return false }

func detachProcess(cmd *exec.Cmd) {}

func isProcess(pid int, startTime uint64, entry string) bool { return false }

func selfExecutable() (string, error) { return os.Executable() }

func processAlive(pid int) bool { return false }

func groupAlive(pgid int) bool { return false }

func groupCarries(pgid int, entry string) bool { return false }
