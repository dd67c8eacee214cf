package ddblocal

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill DynamoDB Local when the test binary dies
// without running Stop (a panic, a timeout, a SIGKILL).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
