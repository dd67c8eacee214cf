package localsm

import (
	"errors"
	"syscall"
)

// Machine faults are what this machine lacked, not what a training job did
// wrong: a job that meets one ends Failed with a FailureReason
//
//	InfrastructureError: <FAULT> - <what could not be done>
//
// and CreateTrainingJob refuses a job it cannot even record with the error
// code InfrastructureError and the message "<FAULT> - ...". The engine
// gives such a job back to its queue without using an attempt, after a
// backoff, as it does for a lack of capacity.
const infrastructureError = "InfrastructureError"

// The faults, named as a statusReason names them.
const (
	faultDiskFull        = "DISK_FULL"                  // ENOSPC, EDQUOT
	faultFileDescriptors = "FILE_DESCRIPTORS_EXHAUSTED" // EMFILE, ENFILE
	faultMemory          = "OUT_OF_MEMORY"              // ENOMEM
	faultProcesses       = "PROCESS_LIMIT"              // EAGAIN from fork
	faultIO              = "IO_ERROR"                   // EIO
	faultReadOnly        = "READ_ONLY_FILESYSTEM"       // EROFS
	// faultSupervisorLost: the supervisor of a training process ended
	// without saying how the process ended (it was killed).
	faultSupervisorLost = "SUPERVISOR_LOST"
)

// machineFault names the machine fault behind err, or "" when err is not
// one (a missing file, a bad path: the job's own doing).
func machineFault(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case syscall.ENOSPC, syscall.EDQUOT:
		return faultDiskFull
	case syscall.EMFILE, syscall.ENFILE:
		return faultFileDescriptors
	case syscall.ENOMEM:
		return faultMemory
	case syscall.EAGAIN:
		return faultProcesses
	case syscall.EIO:
		return faultIO
	case syscall.EROFS:
		return faultReadOnly
	}
	return ""
}

// faultReason is the FailureReason of a job ended by a machine fault.
func faultReason(fault, detail string) string {
	return infrastructureError + ": " + fault + " - " + detail
}

// failureOf is the FailureReason for err, which kept the endpoint from
// doing what (e.g. "cannot prepare the job directory"): a machine fault,
// or else the job's own ClientError.
func failureOf(what string, err error) string {
	if fault := machineFault(err); fault != "" {
		return faultReason(fault, what+": "+err.Error())
	}
	return "ClientError: " + what + ": " + err.Error()
}
