//go:build linux

package localsm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/events"
)

// BenchmarkJobLifecycle is one training job from CreateTrainingJob to its
// Completed event, for an entry point that does nothing (`true`): the
// endpoint's own cost per job (directory, state saves, process start and
// end, and the supervisor's start), one job at a time. The supervisor is
// this test binary, which links the SageMaker SDK as the server binary
// does, or the light client binary, as `sagequeue serve` runs it.
func BenchmarkJobLifecycle(b *testing.B) {
	b.Run("supervisor=server-like", func(b *testing.B) { benchJobLifecycle(b, "") })
	b.Run("supervisor=client", func(b *testing.B) { benchJobLifecycle(b, needClientBinary(b)) })
}

func benchJobLifecycle(b *testing.B, supervisor string) {
	done := make(chan string, 16)
	srv, err := New(Config{Dir: b.TempDir(), Logger: quiet, Supervisor: supervisor, Emit: func(_ context.Context, ev events.TrainingJobStateChange) {
		if terminal(ev.Detail.TrainingJobStatus) {
			done <- ev.Detail.TrainingJobName + " " + ev.Detail.TrainingJobStatus
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	n := 0
	for b.Loop() {
		n++
		name := fmt.Sprintf("bench-%d", n)
		body := fmt.Sprintf(`{"TrainingJobName":%q,"AlgorithmSpecification":{"TrainingInputMode":"File","ContainerEntrypoint":["true"]}}`, name)
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "SageMaker.CreateTrainingJob")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Body.String())
		}
		if got := <-done; got != name+" Completed" {
			b.Fatalf("%s", got)
		}
	}
}
