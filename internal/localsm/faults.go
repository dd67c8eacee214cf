package localsm

import "github.com/sagequeue/sagequeue/internal/supervisor"

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

// The faults are named as a statusReason names them: those of the machine
// (supervisor.MachineFault: DISK_FULL, FILE_DESCRIPTORS_EXHAUSTED, ...),
// and faultSupervisorLost: the supervisor of a training process ended
// without saying how the process ended (it was killed).
const faultSupervisorLost = "SUPERVISOR_LOST"

// faultReason is the FailureReason of a job ended by a machine fault.
func faultReason(fault, detail string) string {
	return infrastructureError + ": " + fault + " - " + detail
}

// failureOf is the FailureReason for err, which kept the endpoint from
// doing what (e.g. "cannot prepare the job directory"): a machine fault,
// or else the job's own ClientError.
func failureOf(what string, err error) string {
	if fault := supervisor.MachineFault(err); fault != "" {
		return faultReason(fault, what+": "+err.Error())
	}
	return "ClientError: " + what + ": " + err.Error()
}
