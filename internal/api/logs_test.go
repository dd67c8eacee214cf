package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/joblogs"
	"github.com/sagequeue/sagequeue/internal/model"
)

// TestLogPagesFitALambdaResponse reads 10,000 lines of 1 KB (quotes and
// all) a page of 10,000 at a time: every page must fit in a Lambda
// function's response (6 MB, for a JSON body inside the JSON answer), and
// the pages together hold every line once, in order.
func TestLogPagesFitALambdaResponse(t *testing.T) {
	dir := t.TempDir()
	var want []string
	var b strings.Builder
	for i := range 10_000 {
		line := fmt.Sprintf(`%05d {"loss": "%s"}`, i, strings.Repeat(`"q"`, 330))
		want = append(want, line)
		b.WriteString(line + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "tj.log"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *api.Config) {
		c.Logs = joblogs.Files{Path: func(string) (string, error) { return filepath.Join(dir, "tj.log"), nil }}
	})
	j := &model.ServiceJob{
		JobID: "logs-1", JobName: "logs", JobQueue: arn(model.KindJobQueue, "q"), ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		Status: model.StatusSucceeded, CreatedAt: 1, UpdatedAt: 1, Instances: 1,
		Attempts: []model.Attempt{{TrainingJobName: "tj", StartedAt: 1, StoppedAt: 2}},
	}
	if _, err := h.store.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	var got []string
	token := ""
	pages := 0
	for ; pages < 10; pages++ {
		req := map[string]any{"jobId": "logs-1", "startFromHead": true, "limit": 10000}
		if token != "" {
			req["nextToken"] = token
		}
		body, _ := json.Marshal(req)
		resp, err := http.Post(h.srv.URL+"/v1/getservicejoblogs", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d: %s", resp.StatusCode, raw[:min(len(raw), 500)])
		}
		// As the body of a Lambda answer: a JSON string.
		if wrapped, _ := json.Marshal(string(raw)); len(wrapped) > 6_000_000 {
			t.Fatalf("page %d is %d bytes as a Lambda response body, over 6 MB", pages, len(wrapped))
		}
		var out struct {
			Events    []struct{ Message string }
			NextToken string
			Done      bool
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			got = append(got, e.Message)
		}
		token = out.NextToken
		if out.Done {
			break
		}
	}
	if pages < 1 {
		t.Fatalf("10 MB of lines came back in one page")
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines in %d pages, want %d", len(got), pages+1, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: %.40q, want %.40q", i, got[i], want[i])
		}
	}
}
