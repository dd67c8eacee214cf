package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
)

// TestAcknowledgedSubmitsSurviveKill: 8 clients submit as fast as they can
// while serve is killed with SIGKILL; after a restart, every submission that
// was answered 200 is there. Group commit answers a write only after the
// commit that holds it is on disk.
func TestAcknowledgedSubmitsSurviveKill(t *testing.T) {
	t.Parallel()
	s := StartServer(t, `
environments:
  - {name: off, maxCapacity: 1, state: DISABLED}
queues:
  - {name: hold, priority: 1, environments: [off]}
`, ServerOptions{})
	payload := aws.String(Payload("true", 1))
	var mu sync.Mutex
	var acked []string
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for range 8 {
		c := newBenchClient(s.URL)
		wg.Go(func() {
			for {
				out, err := c.SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{
					JobName: aws.String("durable"), JobQueue: aws.String("hold"), ServiceJobType: jobType,
					ServiceRequestPayload: payload,
				}, func(o *batch.Options) { o.RetryMaxAttempts = 1 })
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, aws.ToString(out.JobId))
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(2 * time.Minute):
		t.Fatal("300 submissions took over two minutes")
	}
	s.Kill() // while the clients still submit
	wg.Wait()
	s.Restart()
	mu.Lock()
	defer mu.Unlock()
	missing := 0
	for _, id := range acked {
		if _, err := s.Batch.DescribeServiceJob(context.Background(), &batch.DescribeServiceJobInput{JobId: aws.String(id)}); err != nil {
			missing++
			if missing <= 5 {
				t.Errorf("job %s was acknowledged before the kill and is gone after it: %v", id, err)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged jobs lost", missing, len(acked))
	}
	t.Logf("%d acknowledged submissions, all there after SIGKILL and a restart", len(acked))
}
