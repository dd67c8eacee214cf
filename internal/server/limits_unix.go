//go:build unix

package server

import "syscall"

// openFileLimit is the process's limit on open files (its soft limit, which
// the Go runtime raises to the hard one at start).
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<20 {
		return 1 << 20
	}
	return int(r.Cur)
}
