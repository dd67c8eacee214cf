package main

import (
	"os/exec"
	"syscall"
)

// dieWithUs has the kernel stop a daemon when this program dies without
// stopping it (a panic, a SIGKILL).
func dieWithUs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
