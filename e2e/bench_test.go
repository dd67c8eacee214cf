package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/benchutil"
)

// BenchmarkSubmit measures SubmitServiceJob throughput through the HTTP API
// of a running `sagequeue serve`, with 1 to 64 concurrent SDK clients. The
// environment is held full by one job, so submissions pile up RUNNABLE and
// nothing else runs: what is measured is the API, the store and the
// scheduling passes the submissions trigger (promotion to RUNNABLE).
//
//	go test -run '^$' -bench Submit$ ./e2e/
func BenchmarkSubmit(b *testing.B) {
	s := StartServer(b, `
environments:
  - {name: one, maxCapacity: 1}
queues:
  - {name: q, priority: 1, environments: [one]}
`, ServerOptions{Tick: time.Second})
	hold := s.Submit("q", "hold", Payload(blocker(s.File("never")), 1))
	s.WaitStatus(hold, types.ServiceJobStatusRunning, 30*time.Second)
	payload := aws.String(Payload("sleep 1", 1))

	for _, clients := range []int{1, 8, 32, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			cs := make([]*batch.Client, clients)
			for i := range cs {
				cs[i] = newBenchClient(s.URL)
			}
			var next atomic.Int64
			var failed atomic.Int64
			var firstErr error
			var once sync.Once
			var wg sync.WaitGroup
			serverCPU, clientCPU := benchutil.ProcessCPU(s.Pid()), benchutil.SelfCPU()
			b.ResetTimer()
			start := time.Now()
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						_, err := c.SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{
							JobName: aws.String("bench"), JobQueue: aws.String("q"), ServiceJobType: jobType,
							ServiceRequestPayload: payload,
						})
						if err != nil {
							failed.Add(1)
							once.Do(func() { firstErr = err })
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d submissions failed; the first: %v", n, b.N, firstErr)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
			// Both programs share the machine's cores: how much CPU each
			// spent per job says which one bounds the figure.
			b.ReportMetric(float64((benchutil.ProcessCPU(s.Pid())-serverCPU).Microseconds())/float64(b.N), "server-cpu-us/job")
			b.ReportMetric(float64((benchutil.SelfCPU()-clientCPU).Microseconds())/float64(b.N), "client-cpu-us/job")
		})
	}
}

// newBenchClient is one SDK client with its own connections, as a separate
// submitting program would have.
func newBenchClient(url string) *batch.Client {
	return batch.New(batch.Options{
		BaseEndpoint: aws.String(url),
		Region:       "local",
		Credentials:  credentials.NewStaticCredentialsProvider("e2e", "e2e", ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
	})
}

// BenchmarkSubmitToScheduled measures how long a job submitted to an idle
// environment takes to be SCHEDULED (admitted, CreateTrainingJob on its
// way), one job at a time. The primary figure is the job's own
// scheduledAt - createdAt (server clock, no polling delay, 1 ms
// resolution); the second is what the client sees: from sending
// SubmitServiceJob to the first DescribeServiceJob (polled every 1 ms) that
// shows SCHEDULED or later.
//
//	go test -run '^$' -bench SubmitToScheduled -benchtime 200x ./e2e/
func BenchmarkSubmitToScheduled(b *testing.B) {
	s := StartServer(b, `
environments:
  - {name: big, maxCapacity: 64}
queues:
  - {name: q, priority: 1, environments: [big]}
`, ServerOptions{Tick: time.Second})
	payload := Payload("true", 1)
	ctx := context.Background()
	server := make([]float64, 0, b.N)
	client := make([]float64, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		out, err := s.Batch.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
			JobName: aws.String("latency"), JobQueue: aws.String("q"), ServiceJobType: jobType,
			ServiceRequestPayload: aws.String(payload),
		})
		if err != nil {
			b.Fatal(err)
		}
		for {
			d, err := s.Batch.DescribeServiceJob(ctx, &batch.DescribeServiceJobInput{JobId: out.JobId})
			if err != nil {
				b.Fatal(err)
			}
			if d.Status != types.ServiceJobStatusSubmitted && d.Status != types.ServiceJobStatusRunnable {
				client = append(client, float64(time.Since(start).Microseconds())/1000)
				if d.ScheduledAt == nil {
					b.Fatalf("job %s is %s without scheduledAt", aws.ToString(out.JobId), d.Status)
				}
				server = append(server, float64(aws.ToInt64(d.ScheduledAt)-aws.ToInt64(d.CreatedAt)))
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("job %s still %s after 30s", aws.ToString(out.JobId), d.Status)
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(benchutil.Percentile(server, 50), "p50-ms")
	b.ReportMetric(benchutil.Percentile(server, 99), "p99-ms")
	b.ReportMetric(benchutil.Percentile(client, 50), "client-p50-ms")
	b.ReportMetric(benchutil.Percentile(client, 99), "client-p99-ms")
}
