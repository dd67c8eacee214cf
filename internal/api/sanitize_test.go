package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/sagequeue/sagequeue/internal/model"
)

// TestTerminateReasonIsCleaned: a terminate reason becomes the job's
// statusReason, which terminals show; escape sequences and bidirectional
// overrides do not get in.
func TestTerminateReasonIsCleaned(t *testing.T) {
	h := newHarness(t)
	h.setup(8)
	waiting := h.submit("fifo", "waiting", "", 0)
	running := h.submit("fifo", "running", "", 0)
	h.set(running, model.StatusRunning, nil)

	reason := "\x1b]0;pwned\x07wrong \x1b[31mdataset\x1b[0m\u202e!"
	for _, id := range []string{waiting, running} {
		must[*batch.TerminateServiceJobOutput](t)(h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: aws.String(id), Reason: aws.String(reason)}))
	}
	d := must[*batch.DescribeServiceJobOutput](t)(h.client.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: &waiting}))
	if got := aws.ToString(d.StatusReason); got != "wrong dataset!" {
		t.Fatalf("statusReason %q, want %q", got, "wrong dataset!")
	}
	if j, _ := h.store.GetJob(ctx, running); j.TerminateReason != "wrong dataset!" {
		t.Fatalf("terminate reason kept for the engine: %q", j.TerminateReason)
	}
	_, err := h.client.TerminateServiceJob(ctx, &batch.TerminateServiceJobInput{JobId: aws.String(running), Reason: aws.String("\x1b[2J\x1b[H")})
	clientError(t, err, "reason: must contain printable text")
}
