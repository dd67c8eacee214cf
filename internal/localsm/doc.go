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
//   - The image is not pulled. AlgorithmSpecification.ContainerEntrypoint plus
//     ContainerArguments is the command; without an entry point the job fails
//     with a ClientError. The process runs in the server's working directory,
//     in its own process group, with the server's environment, the payload's
//     Environment, and the SM_* variables of the SageMaker training toolkit.
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
// survive a restart. A job that was running when the endpoint went away
// (shut down, or killed) cannot be resumed: its process group is killed and
// the job ends Failed with a reason starting "CapacityError", which the
// engine treats as "give the job back to the queue without using an
// attempt".
//
// With Config.RunAs, a job runs as an unprivileged account with its own
// 0700 directories and a clean environment (confine.go), so that jobs of
// different people cannot read each other's files.
//
// Requests are not authenticated here: `sagequeue serve` puts the endpoint
// behind the same door as its API (package auth), where only admins and
// serve itself may call it.
package localsm
