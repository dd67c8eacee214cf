package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/sagequeue/sagequeue/internal/benchutil"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

// millionConfig is the configuration of the million-job store: 8 instances,
// a FIFO queue and a fair-share queue of ten shares over them.
const millionConfig = `
environments:
  - {name: cluster, maxCapacity: 8}
policies:
  - name: teams
    shares: [{shareIdentifier: team-0, weightFactor: 1}, {shareIdentifier: team-1, weightFactor: 0.5}]
queues:
  - {name: fifo, priority: 10, environments: [cluster]}
  - {name: fair, priority: 5, environments: [cluster], policy: teams}
`

// BenchmarkMillionJobs measures `sagequeue serve` over a store of a million
// jobs, AWS Batch's limit of jobs in SUBMITTED: 100,000 RUNNABLE (half in
// the FIFO queue, half over the ten shares of the fair-share queue) and
// 900,000 finished ones of the last 30 days. The store is seeded through
// the bolt store's API before serve starts (minutes; set
// SAGEQUEUE_MILLION_DIR to keep the seeded data directory there and reuse
// it, SAGEQUEUE_BENCH_JOBS for another size). Then, against the running
// server: the start-up until the API answers; 2,000 submissions from 8
// concurrent clients (latency percentiles); the first page of
// ListServiceJobs, 100 times for each of three queries; the scheduling
// passes the submissions caused (from /metrics); the server's resident
// memory (peak); the data file's size.
//
//	go test -run '^$' -bench MillionJobs -benchtime 1x -timeout 60m ./e2e/
func BenchmarkMillionJobs(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("SAGEQUEUE_BENCH_JOBS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("SAGEQUEUE_BENCH_JOBS=%q: want a number of at least 1000", v)
		}
	}
	dataDir := seededDataDir(b, n)

	start := time.Now()
	s := StartServer(b, millionConfig, ServerOptions{DataDir: dataDir, Tick: time.Second})
	startup := time.Since(start)
	// The first passes reconcile, admit and launch 8 jobs, which then hold
	// the capacity; the passes measured are those the submissions cause.
	for deadline := time.Now().Add(time.Minute); passHistogram(b, s).count == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("no scheduling pass within a minute of the start")
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		out, err := s.Batch.ListServiceJobs(context.Background(), &batch.ListServiceJobsInput{JobQueue: aws.String("fifo")})
		if err != nil {
			b.Fatal(err)
		}
		if len(out.JobSummaryList) == 8 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d jobs RUNNING a minute after the start, want 8", len(out.JobSummaryList))
		}
	}
	time.Sleep(2 * time.Second) // a tick's pass, launches settled
	passes0 := passHistogram(b, s)
	firstPasses := passes0.sum

	b.ResetTimer()
	var submit, list []float64
	for range b.N {
		submit = append(submit, submitLatencies(b, s, 2000, 8)...)
		for _, in := range []*batch.ListServiceJobsInput{
			{JobQueue: aws.String("fifo"), JobStatus: types.ServiceJobStatusRunnable},
			{JobQueue: aws.String("fair"), JobStatus: types.ServiceJobStatusSucceeded},
			{JobQueue: aws.String("fifo")}, // RUNNING, Batch's default
		} {
			list = append(list, listLatencies(b, s, in, 100)...)
		}
	}
	b.StopTimer()
	passes := passHistogram(b, s).minus(passes0)
	rss, peak := memoryOf(s.Pid())
	st, err := os.Stat(filepath.Join(dataDir, "sagequeue.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(startup.Seconds(), "startup-s")
	b.ReportMetric(firstPasses, "first-passes-s")
	b.ReportMetric(benchutil.Percentile(submit, 50), "submit-p50-ms")
	b.ReportMetric(benchutil.Percentile(submit, 99), "submit-p99-ms")
	b.ReportMetric(benchutil.Percentile(list, 50), "list-p50-ms")
	b.ReportMetric(benchutil.Percentile(list, 99), "list-p99-ms")
	b.ReportMetric(passes.mean()*1000, "pass-mean-ms")
	b.ReportMetric(passes.quantileBound(0.99)*1000, "pass-p99-bound-ms")
	b.ReportMetric(float64(passes.count), "passes")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "rss-peak-MiB")
	b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
	if sys, ok := st.Sys().(*syscall.Stat_t); ok { // bbolt grows its file ahead of its data
		b.ReportMetric(float64(sys.Blocks*512)/(1<<20), "disk-MiB")
	}
	b.ReportMetric(float64(n), "jobs")
}

// seededDataDir returns a data directory whose store holds n jobs.
func seededDataDir(b *testing.B, n int) string {
	b.Helper()
	dir := os.Getenv("SAGEQUEUE_MILLION_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	marker := filepath.Join(dir, fmt.Sprintf("seeded-%d", n))
	if _, err := os.Stat(marker); err == nil {
		b.Logf("reusing the store of %d jobs in %s", n, dir)
		return dir
	}
	start := time.Now()
	st, err := bolt.Open(filepath.Join(dir, "sagequeue.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	now := time.Now().UnixMilli()
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				if _, err := st.PutJob(context.Background(), seedJob(i, n, now)); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("seeding: %v", err)
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d jobs in %s (%s)", n, dir, time.Since(start).Round(time.Second))
	return dir
}

// seedJob is job i of n: one in ten RUNNABLE (created in the last day), the
// others finished in the last 30 days, one in ten of those FAILED.
func seedJob(i, n int, now int64) *model.ServiceJob {
	const day = 24 * 3600 * 1000
	id := fmt.Sprintf("0190%04x-%04x-7000-8000-%012d", i>>16, i&0xffff, i)
	queue, share := "fifo", ""
	if i%2 == 1 {
		queue, share = "fair", fmt.Sprintf("team-%d", i/2%10)
	}
	script := "sleep 3600"
	j := &model.ServiceJob{
		JobID: id, JobArn: model.LocalAccount.ARN(model.KindServiceJob, id), JobName: fmt.Sprintf("train-%d", i),
		JobQueue: model.LocalAccount.ARN(model.KindJobQueue, queue), ShareIdentifier: share,
		SchedulingPriority: int32(i % 7), ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		ServiceRequestPayload: Payload(script, 1), Instances: 1, Placements: 1,
	}
	if i%10 == 0 {
		j.Status = model.StatusRunnable
		j.CreatedAt = now - day + int64(i)*day/int64(n)
		j.UpdatedAt = j.CreatedAt
		return j
	}
	j.CreatedAt = now - 31*day + int64(i)*30*day/int64(n)
	j.StartedAt = j.CreatedAt + 60_000
	j.StoppedAt = j.StartedAt + 3_600_000
	j.UpdatedAt = j.StoppedAt
	j.Status, j.StatusReason = model.StatusSucceeded, "Received status from SageMaker: Completed"
	if i%10 == 5 {
		j.Status, j.StatusReason = model.StatusFailed, "Received status from SageMaker: AlgorithmError: exit status 1"
	}
	j.Launches = 1
	j.Attempts = []model.Attempt{{
		TrainingJobName: "sagequeue-" + id + "-1", ServiceEnvironment: model.LocalAccount.ARN(model.KindServiceEnvironment, "cluster"),
		StartedAt: j.StartedAt, StoppedAt: j.StoppedAt, StatusReason: j.StatusReason,
	}}
	return j
}

// submitLatencies submits n jobs to the FIFO queue from clients concurrent
// clients and returns each submission's latency in ms.
func submitLatencies(b *testing.B, s *Server, n, clients int) []float64 {
	b.Helper()
	payload := aws.String(Payload("sleep 3600", 1))
	lat := make([]float64, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		c := newBenchClient(s.URL)
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if _, err := c.SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{
					JobName: aws.String("million"), JobQueue: aws.String("fifo"), ServiceJobType: jobType, ServiceRequestPayload: payload,
				}); err != nil {
					b.Error(err)
					return
				}
				lat[i] = float64(time.Since(t).Microseconds()) / 1000
			}
		})
	}
	wg.Wait()
	return lat
}

// listLatencies asks for the first page of a list n times, one at a time.
func listLatencies(b *testing.B, s *Server, in *batch.ListServiceJobsInput, n int) []float64 {
	b.Helper()
	var lat []float64
	for range n {
		t := time.Now()
		out, err := s.Batch.ListServiceJobs(context.Background(), in)
		if err != nil {
			b.Fatalf("after %s: %v", time.Since(t), err)
		}
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
		if len(out.JobSummaryList) == 0 && in.JobStatus != types.ServiceJobStatusRunning {
			b.Fatalf("ListServiceJobs %s %s: no jobs", aws.ToString(in.JobQueue), in.JobStatus)
		}
	}
	return lat
}

// histogram is the pass duration histogram of /metrics.
type histogram struct {
	bounds []float64 // le of each bucket, seconds
	counts []int64   // cumulative
	count  int64
	sum    float64
}

func (h histogram) minus(o histogram) histogram {
	d := histogram{bounds: h.bounds, counts: make([]int64, len(h.counts)), count: h.count - o.count, sum: h.sum - o.sum}
	for i := range h.counts {
		d.counts[i] = h.counts[i]
		if i < len(o.counts) {
			d.counts[i] -= o.counts[i]
		}
	}
	return d
}

func (h histogram) mean() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / float64(h.count)
}

// quantileBound is the upper bound of the bucket holding quantile q.
func (h histogram) quantileBound(q float64) float64 {
	for i, c := range h.counts {
		if float64(c) >= q*float64(h.count) {
			return h.bounds[i]
		}
	}
	return 0
}

func passHistogram(b *testing.B, s *Server) histogram {
	b.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var h histogram
	const name = "sagequeue_scheduling_pass_duration_seconds"
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		switch {
		case strings.HasPrefix(line, name+"_bucket{le=\""):
			le := strings.TrimSuffix(strings.TrimPrefix(fields[0], name+"_bucket{le=\""), "\"}")
			bound, err := strconv.ParseFloat(le, 64)
			if err != nil {
				continue // +Inf
			}
			h.bounds, h.counts = append(h.bounds, bound), append(h.counts, int64(v))
		case fields[0] == name+"_sum":
			h.sum = v
		case fields[0] == name+"_count":
			h.count = int64(v)
		}
	}
	return h
}

// memoryOf returns a process's resident memory now and at its peak (VmRSS
// and VmHWM of /proc/<pid>/status), in bytes.
func memoryOf(pid int) (rss, peak int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}
