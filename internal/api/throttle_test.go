package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// throttledStore is a store that DynamoDB keeps refusing for throughput.
type throttledStore struct{ store.Store }

func (throttledStore) PutJob(context.Context, *model.ServiceJob) (*model.ServiceJob, error) {
	return nil, fmt.Errorf("dynamo: put job: %w", store.ErrThrottled)
}

// TestThrottledStoreIsTooManyRequests: a submission the store could not
// write for throughput is a 429 the client may retry, not a 500.
func TestThrottledStoreIsTooManyRequests(t *testing.T) {
	h := newHarnessWith(t, func(c *api.Config) { c.Store = throttledStore{c.Store} })
	h.setup(2)
	body := `{"jobName":"x","jobQueue":"fifo","serviceJobType":"SAGEMAKER_TRAINING","serviceRequestPayload":"{}"}`
	resp, err := http.Post(h.srv.URL+"/v1/submitservicejob", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), raw)
	}
}
