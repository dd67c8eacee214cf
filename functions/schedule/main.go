// Command schedule is the Lambda function that runs scheduling passes
// (engine.Schedule) on enqueue events, forwarded SageMaker state changes and
// the one-minute tick.
//
// It is wired to the store, SageMaker and lambda.Start by the cloud-path
// issue; until then it refuses to start rather than pretend to schedule.
package main

import (
	"log/slog"
	"os"
)

func main() {
	slog.Error("functions/schedule is not wired yet: the cloud path (DynamoDB store, EventBridge) comes in a later issue")
	os.Exit(1)
}
