//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

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
// end; since supervisors, the supervisor's start too), one job at a time.
func BenchmarkJobLifecycle(b *testing.B) {
	done := make(chan string, 16)
	srv, err := New(Config{Dir: b.TempDir(), Logger: quiet, Emit: func(_ context.Context, ev events.TrainingJobStateChange) {
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
