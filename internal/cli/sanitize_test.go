package cli

import (
	"strings"
	"testing"
)

// hostile is text a server may hand back unchanged (AWS Batch passes a
// training job's failure reason through): a window title, a screen clear,
// colour, a bidirectional override and a bell.
const hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[31mboom\x1b[0m \u202eevil\x07"

// TestPrintsNoEscapesFromTheServer: describe, list and the error of a
// refused request show what the server said without its escape sequences.
func TestPrintsNoEscapesFromTheServer(t *testing.T) {
	rec := newRecorder(t)
	job := map[string]any{
		"jobId": "j1", "jobName": "train", "jobArn": "arn:aws:batch:local:000000000000:service-job/j1",
		"jobQueue": "arn:aws:batch:local:000000000000:job-queue/q", "status": "FAILED", "serviceJobType": "SAGEMAKER_TRAINING",
		"statusReason": "Received status from SageMaker: AlgorithmError: " + hostile, "createdAt": 1_800_000_000_000,
		"tags":     map[string]any{"team" + hostile: "x" + hostile},
		"attempts": []any{map[string]any{"statusReason": hostile, "startedAt": 1_800_000_000_000, "stoppedAt": 1_800_000_001_000}},
	}
	rec.reply = func(op string, _ map[string]any) (int, string, any) {
		switch op {
		case "describeservicejob":
			return 200, "", job
		case "listservicejobs":
			return 200, "", map[string]any{"jobSummaryList": []any{job}}
		case "terminateservicejob":
			return 400, "ClientException", map[string]any{"message": "reason: " + hostile}
		}
		return 200, "", map[string]any{}
	}
	check := func(what, s string) {
		t.Helper()
		for _, bad := range []string{"\x1b", "\a", "\u202e"} {
			if strings.Contains(s, bad) {
				t.Fatalf("%s prints %q:\n%q", what, bad, s)
			}
		}
		if !strings.Contains(s, "boom") {
			t.Fatalf("%s lost the text around the escapes:\n%q", what, s)
		}
	}
	r := runCLI(t, rec.URL(), "", "describe", "j1")
	wantCode(t, r, 0)
	check("describe", r.stdout)
	r = runCLI(t, rec.URL(), "", "list", "-q", "q")
	wantCode(t, r, 0)
	check("list", r.stdout)
	r = runCLI(t, rec.URL(), "", "terminate", "j1", "--reason", "x")
	check("an error", r.stderr)
}
