// Command submit is the Lambda function behind the API Gateway HTTP API: it
// adapts API Gateway (payload format 2.0) events to the internal/api handler.
//
// It is wired to the store, the event bus and lambda.Start by the cloud-path
// issue; until then it refuses to start rather than pretend to serve.
package main

import (
	"log/slog"
	"os"
)

func main() {
	slog.Error("functions/submit is not wired yet: the cloud path (DynamoDB store, EventBridge) comes in a later issue")
	os.Exit(1)
}
