package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/server"
)

// TestStderrEscapesAreStripped: a failed training process's last stderr
// line becomes the job's statusReason without its escape sequences.
func TestStderrEscapesAreStripped(t *testing.T) {
	url := startServer(t, metricsConfig, server.Options{})
	c := batchClient(url)
	id := submit(t, c, "loud", 1, `printf '\033]0;pwned\007\033[2J\033[31mboom\033[0m \342\200\256evil\n' >&2; exit 3`)
	waitFor(t, "the job to fail", func() bool { return status(t, c, id) == types.ServiceJobStatusFailed })
	d, err := c.DescribeServiceJob(context.Background(), &batch.DescribeServiceJobInput{JobId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	reasons := []string{aws.ToString(d.StatusReason)}
	for _, a := range d.Attempts {
		reasons = append(reasons, aws.ToString(a.StatusReason))
	}
	for _, r := range reasons {
		if strings.ContainsAny(r, "\x1b\x07\u202e") || !strings.Contains(r, "boom evil") {
			t.Fatalf("statusReason %q: want the stderr line without escapes", r)
		}
	}
}
