package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

const oneQueue = `
environments:
  - {name: env, maxCapacity: 2}
queues:
  - {name: q, priority: 1, environments: [env]}
`

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestRetry: a job with two attempts fails the first time and succeeds the
// second; the first attempt carries SageMaker's reason with the exit code and
// the last stderr line.
func TestRetry(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	marker, runs := s.File("failed-once"), s.File("runs")
	script := "echo run >> " + shq(runs) + "; if [ -e " + shq(marker) + " ]; then echo fine; exit 0; fi; touch " + shq(marker) +
		"; echo 'some output'; echo 'warming up' >&2; echo 'CUDA out of memory' >&2; exit 3"
	id := s.Submit("q", "retry", Payload(script, 1), withRetry(2))
	d := s.WaitDone([]string{id}, 60*time.Second)[0]
	if d.Status != types.ServiceJobStatusSucceeded {
		t.Fatalf("status %s (%q), want SUCCEEDED", d.Status, aws.ToString(d.StatusReason))
	}
	if len(d.Attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(d.Attempts))
	}
	const want = "Received status from SageMaker: AlgorithmError: exit code 3: CUDA out of memory"
	if got := aws.ToString(d.Attempts[0].StatusReason); got != want {
		t.Errorf("first attempt's statusReason %q, want %q", got, want)
	}
	a1, a2 := d.Attempts[0], d.Attempts[1]
	if aws.ToInt64(a1.StoppedAt) == 0 || aws.ToInt64(a2.StartedAt) < aws.ToInt64(a1.StoppedAt) {
		t.Errorf("attempt 2 started at %d, before attempt 1 stopped at %d", aws.ToInt64(a2.StartedAt), aws.ToInt64(a1.StoppedAt))
	}
	if a1.ServiceResourceId == nil || a2.ServiceResourceId == nil || aws.ToString(a1.ServiceResourceId.Value) == aws.ToString(a2.ServiceResourceId.Value) {
		t.Errorf("each attempt should have its own training job: %+v, %+v", a1.ServiceResourceId, a2.ServiceResourceId)
	}
	if n := countLines(t, runs); n != 2 {
		t.Errorf("the entry point ran %d times, want 2", n)
	}
}

// TestExitRule: an evaluateOnExit EXIT rule matching the attempt's reason
// ends the job after one attempt although attempts=5; the same job without
// the rule uses its attempts.
func TestExitRule(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	script := func(runs string) string {
		return "echo run >> " + shq(runs) + "; echo 'bad hyperparameter' >&2; exit 3"
	}
	exitRuns, retryRuns := s.File("exit-runs"), s.File("retry-runs")
	exit := s.Submit("q", "exit", Payload(script(exitRuns), 1), withRetry(5,
		types.ServiceJobEvaluateOnExit{Action: types.ServiceJobRetryActionExit, OnStatusReason: aws.String("Received status from SageMaker: AlgorithmError: exit code 3*")},
		types.ServiceJobEvaluateOnExit{Action: types.ServiceJobRetryActionRetry, OnStatusReason: aws.String("*")},
	))
	retry := s.Submit("q", "retry", Payload(script(retryRuns), 1), withRetry(3))
	done := s.WaitDone([]string{exit, retry}, 60*time.Second)

	const reason = "Received status from SageMaker: AlgorithmError: exit code 3: bad hyperparameter"
	d := done[0]
	if d.Status != types.ServiceJobStatusFailed || len(d.Attempts) != 1 || aws.ToString(d.StatusReason) != reason {
		t.Errorf("with the EXIT rule: %s after %d attempts, reason %q; want FAILED after 1 attempt with %q",
			d.Status, len(d.Attempts), aws.ToString(d.StatusReason), reason)
	}
	if n := countLines(t, exitRuns); n != 1 {
		t.Errorf("with the EXIT rule the entry point ran %d times, want 1", n)
	}
	d = done[1]
	if d.Status != types.ServiceJobStatusFailed || len(d.Attempts) != 3 {
		t.Errorf("without rules: %s after %d attempts, want FAILED after 3", d.Status, len(d.Attempts))
	}
	if n := countLines(t, retryRuns); n != 3 {
		t.Errorf("without rules the entry point ran %d times, want 3", n)
	}
}

// TestTerminate: terminating a RUNNING job stops its whole process group
// (a background grandchild included) and ends it FAILED with the caller's
// reason; a terminated RUNNABLE job never runs.
func TestTerminate(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	pidfile, release, ranX := s.File("grandchild.pid"), s.File("release"), s.File("x-ran")
	running := s.Submit("q", "running", Payload("sleep 600 & echo $! > "+shq(pidfile)+"; wait", 1))
	hold := s.Submit("q", "hold", Payload(blocker(release), 1))
	s.WaitStatus(running, types.ServiceJobStatusRunning, 30*time.Second)
	s.WaitStatus(hold, types.ServiceJobStatusRunning, 30*time.Second)
	grandchild := readPid(t, pidfile, 10*time.Second)
	if processGone(grandchild, "sleep") {
		t.Fatalf("the job's grandchild %d is not running", grandchild)
	}

	// The environment is full: x waits, and is terminated while it waits.
	x := s.Submit("q", "x", Payload("touch "+shq(ranX), 1))
	s.WaitStatus(x, types.ServiceJobStatusRunnable, 30*time.Second)
	terminate := func(id, reason string) {
		if _, err := s.Batch.TerminateServiceJob(context.Background(), &batch.TerminateServiceJobInput{JobId: aws.String(id), Reason: aws.String(reason)}); err != nil {
			t.Fatalf("TerminateServiceJob %s: %v", id, err)
		}
	}
	terminate(x, "e2e: not needed after all")
	terminate(running, "e2e: wrong dataset")

	for _, c := range []struct{ id, reason string }{{x, "e2e: not needed after all"}, {running, "e2e: wrong dataset"}} {
		d := s.WaitDone([]string{c.id}, 30*time.Second)[0]
		if d.Status != types.ServiceJobStatusFailed || !aws.ToBool(d.IsTerminated) || aws.ToString(d.StatusReason) != c.reason {
			t.Errorf("%s: %s, isTerminated %v, reason %q; want FAILED, true, %q",
				aws.ToString(d.JobName), d.Status, aws.ToBool(d.IsTerminated), aws.ToString(d.StatusReason), c.reason)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(grandchild, "sleep") {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d (sleep 600) of the terminated job still runs: its process group was not killed", grandchild)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// y is submitted after x to the same FIFO queue: once y has run, the
	// scheduler has gone past x.
	y := s.Submit("q", "y", Payload("true", 1))
	touch(t, release)
	for _, d := range s.WaitDone([]string{y, hold}, 30*time.Second) {
		if d.Status != types.ServiceJobStatusSucceeded {
			t.Errorf("%s: %s (%q)", aws.ToString(d.JobName), d.Status, aws.ToString(d.StatusReason))
		}
	}
	d := s.Describe(x)
	if d.Status != types.ServiceJobStatusFailed || len(d.Attempts) != 0 || d.StartedAt != nil {
		t.Errorf("terminated RUNNABLE job: %s with %d attempts, startedAt %v; want FAILED, never started", d.Status, len(d.Attempts), d.StartedAt)
	}
	if _, err := os.Stat(ranX); err == nil {
		t.Errorf("the terminated RUNNABLE job ran")
	}
}

// TestTimeLimit: the head of a FIFO queue needs more instances than the
// environment has; it is marked MISCONFIGURATION, blocks the job behind it,
// and is ended by the queue's job state time limit action after 2s, which
// lets the job behind it run. One queue TERMINATEs, the other CANCELs.
func TestTimeLimit(t *testing.T) {
	t.Parallel()
	s := StartServer(t, `
environments:
  - {name: env, maxCapacity: 2}
queues:
  - name: tq
    priority: 2
    environments: [env]
    timeLimits:
      - {reason: "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE", maxTimeSeconds: 2, action: TERMINATE}
  - name: cq
    priority: 1
    environments: [env]
    timeLimits:
      - {reason: "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE", maxTimeSeconds: 2, action: CANCEL}
`, ServerOptions{})
	type line struct{ queue, verb, big, small string }
	lines := []*line{{queue: "tq", verb: "Terminated"}, {queue: "cq", verb: "Canceled"}}
	for _, l := range lines {
		l.big = s.Submit(l.queue, l.queue+"-big", Payload("true", 3))
		l.small = s.Submit(l.queue, l.queue+"-small", Payload("true", 1))
	}
	const misconfig = "MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE"
	for _, l := range lines {
		d := s.WaitFor(l.big, 10*time.Second, "RUNNABLE with "+misconfig, func(d *batch.DescribeServiceJobOutput) bool {
			return strings.HasPrefix(aws.ToString(d.StatusReason), misconfig+" - ")
		})
		if d.Status != types.ServiceJobStatusRunnable {
			t.Errorf("%s: %s with reason %q, want RUNNABLE", l.queue, d.Status, aws.ToString(d.StatusReason))
		}
	}
	for _, l := range lines {
		big := s.WaitDone([]string{l.big}, 20*time.Second)[0]
		want := l.verb + " by JobStateTimeLimit action due to reason: " + misconfig
		if big.Status != types.ServiceJobStatusFailed || aws.ToString(big.StatusReason) != want || len(big.Attempts) != 0 {
			t.Errorf("%s head: %s, %q, %d attempts; want FAILED, %q, none", l.queue, big.Status, aws.ToString(big.StatusReason), len(big.Attempts), want)
		}
		waited := aws.ToInt64(big.StoppedAt) - aws.ToInt64(big.CreatedAt)
		if waited < 2000 || waited > 10000 {
			t.Errorf("%s head ended %d ms after its submission, want after the 2 s limit (and soon after)", l.queue, waited)
		}
		small := s.WaitDone([]string{l.small}, 20*time.Second)[0]
		if small.Status != types.ServiceJobStatusSucceeded {
			t.Errorf("%s: the job behind the head: %s (%q), want SUCCEEDED", l.queue, small.Status, aws.ToString(small.StatusReason))
		}
		if aws.ToInt64(small.ScheduledAt) < aws.ToInt64(big.StoppedAt) {
			t.Errorf("%s: the job behind the head was scheduled at %d, before the head was ended at %d: a FIFO head must block its queue",
				l.queue, aws.ToInt64(small.ScheduledAt), aws.ToInt64(big.StoppedAt))
		}
	}
}

// TestPagination: 120 RUNNABLE jobs listed 50 at a time through the SDK
// paginator come in 3 pages, all distinct, newest first.
func TestPagination(t *testing.T) {
	t.Parallel()
	s := StartServer(t, `
environments:
  - {name: one, maxCapacity: 1}
queues:
  - {name: q, priority: 1, environments: [one]}
`, ServerOptions{})
	hold := s.Submit("q", "hold", Payload(blocker(s.File("never")), 1))
	s.WaitStatus(hold, types.ServiceJobStatusRunning, 30*time.Second)
	const n = 120
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.Submit("q", "page", Payload("true", 1))
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(s.ListAll("q", types.ServiceJobStatusRunnable)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the %d jobs are not all RUNNABLE after 30s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	p := batch.NewListServiceJobsPaginator(s.Batch, &batch.ListServiceJobsInput{
		JobQueue: aws.String("q"), JobStatus: types.ServiceJobStatusRunnable, MaxResults: aws.Int32(50),
	})
	var sizes []int
	var got []types.ServiceJobSummary
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", len(sizes)+1, err)
		}
		sizes = append(sizes, len(page.JobSummaryList))
		got = append(got, page.JobSummaryList...)
		if len(sizes) > 10 {
			t.Fatal("the paginator does not end")
		}
	}
	if len(sizes) != 3 || sizes[0] != 50 || sizes[1] != 50 || sizes[2] != 20 {
		t.Errorf("page sizes %v, want [50 50 20]", sizes)
	}
	seen := map[string]bool{}
	for i, j := range got {
		id := aws.ToString(j.JobId)
		if seen[id] {
			t.Errorf("job %s listed twice", id)
		}
		seen[id] = true
		if j.Status != types.ServiceJobStatusRunnable {
			t.Errorf("job %s listed as RUNNABLE is %s", id, j.Status)
		}
		if i < n && id != ids[n-1-i] {
			t.Errorf("position %d: job %s, want %s (newest first)", i, id, ids[n-1-i])
		}
		if i > 0 && aws.ToInt64(j.CreatedAt) > aws.ToInt64(got[i-1].CreatedAt) {
			t.Errorf("position %d: createdAt %d after the previous job's %d: not newest first", i, aws.ToInt64(j.CreatedAt), aws.ToInt64(got[i-1].CreatedAt))
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct jobs listed, want %d", len(seen), n)
	}
}
