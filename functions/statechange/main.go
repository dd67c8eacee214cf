// Command statechange is the Lambda function that applies "SageMaker Training
// Job State Change" events to service jobs (engine.ApplyTrainingJobEvent).
//
// It is wired to the store, the event bus and lambda.Start by the cloud-path
// issue; until then it refuses to start rather than pretend to apply events.
package main

import (
	"log/slog"
	"os"
)

func main() {
	slog.Error("functions/statechange is not wired yet: the cloud path (DynamoDB store, EventBridge) comes in a later issue")
	os.Exit(1)
}
