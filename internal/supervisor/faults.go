package supervisor

import (
	"errors"
	"syscall"
)

// Machine faults are what this machine lacked, not what a training job did
// wrong, named as a statusReason names them (localsm turns them into
// "InfrastructureError: <FAULT> - ..." reasons).
const (
	FaultDiskFull        = "DISK_FULL"                  // ENOSPC, EDQUOT
	FaultFileDescriptors = "FILE_DESCRIPTORS_EXHAUSTED" // EMFILE, ENFILE
	FaultMemory          = "OUT_OF_MEMORY"              // ENOMEM
	FaultProcesses       = "PROCESS_LIMIT"              // EAGAIN from fork
	FaultIO              = "IO_ERROR"                   // EIO
	FaultReadOnly        = "READ_ONLY_FILESYSTEM"       // EROFS
)

// MachineFault names the machine fault behind err, or "" when err is not
// one (a missing file, a bad path: the job's own doing).
func MachineFault(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT:
		return FaultDiskFull
	case syscall.EMFILE, syscall.ENFILE:
		return FaultFileDescriptors
	case syscall.ENOMEM:
		return FaultMemory
	case syscall.EAGAIN:
		return FaultProcesses
	case syscall.EIO:
		return FaultIO
	case syscall.EROFS:
		return FaultReadOnly
	}
	return ""
}
