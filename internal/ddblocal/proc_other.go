//go:build !linux

package ddblocal

import "os/exec"

// setProcAttr does nothing where the kernel cannot tie a child's life to
// its parent's: Main's Stop ends DynamoDB Local.
func setProcAttr(*exec.Cmd) {}
