// Package localsm is a local SageMaker endpoint: a net/http handler that
// speaks the SageMaker JSON protocol (awsJson1_1) for CreateTrainingJob,
// DescribeTrainingJob, StopTrainingJob and ListTrainingJobs, and runs each
// training job's entry point as a local process.
//
// It exists so that `sagequeue serve` runs the whole system on one machine
// with the same engine code as the cloud: the engine talks to it through the
// real aws-sdk-go-v2 SageMaker client, and it emits the same "SageMaker
// Training Job State Change" events that EventBridge delivers in the cloud.
// Nothing in the engine knows whether SageMaker is real.
//
// What it does with a job, in SageMaker's terms:
//
//   - Without a container runtime the image is not pulled:
//     AlgorithmSpecification.ContainerEntrypoint plus ContainerArguments is
//     the command; without an entry point the job fails with a ClientError.
//     The process runs in the server's working directory, in its own process
//     group, with the server's environment, the payload's Environment, and
//     the SM_* variables of the SageMaker training toolkit.
//   - With a container runtime (Config.ContainerRuntime: podman or docker),
//     a job that names a TrainingImage runs in it as SageMaker runs it (see
//     containerCommand): /opt/ml mounted from the job directory, SM_*
//     variables with /opt/ml paths, `train` as the default command.
//   - <Dir>/<name>/ stands in for /opt/ml: input/config/*.json,
//     input/data/<channel>/, model/, output/data/, output/failure. A channel
//     whose S3Uri is a file:// URI (or whose FileSystemDataSource directory
//     exists here) is linked in; other data is not downloaded.
//   - stdout and stderr go, line by line, to <Dir>/<name>/output.log (see
//     Server.ReadLog); the last stderr line, or output/failure when the
//     algorithm wrote one, becomes the FailureReason.
//   - Stopping sends SIGTERM to the process group and SIGKILL after a grace.
//     When the entry point exits, whatever is left of its process group is
//     killed, as a container's would be.
//   - StoppingCondition.MaxRuntimeInSeconds ends the job Stopped with
//     secondary status MaxRuntimeExceeded.
//   - Instance counts are a capacity unit only (Config.InstanceLimit).
//
// Every job's state lives in <Dir>/<name>/state.json, so Describe and List
// survive a restart. Training processes outlive the server: each runs under
// a supervisor of its own (supervisor.go) that records how it ended, and a
// restarted server (after a Shutdown with KeepRunning, or a kill -9) adopts
// the jobs still running, ends the ones that ended meanwhile as their
// supervisors recorded, and starts the ones whose process never started. No
// training process starts before its supervisor's identity is saved, so
// none runs that a restart cannot find.
//
// A fault of the machine (disk full, no file descriptors left, ...) ends a
// job with a FailureReason starting "InfrastructureError" (faults.go), and
// Shutdown without KeepRunning ends running jobs with one starting
// "CapacityError": the engine gives such a job back to its queue without
// using an attempt.
//
// With Config.RunAs, a job runs as an unprivileged account with its own
// 0700 directories and a clean environment (confine.go), so that jobs of
// different people cannot read each other's files.
//
// Requests are not authenticated, and a request runs the command it names:
// the endpoint must be reachable by the engine alone. `sagequeue serve`
// calls it in process (package inproc) and serves it on no socket.
package localsm
