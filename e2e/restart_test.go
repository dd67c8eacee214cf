package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// TestAdoptAfterSIGKILL and TestAdoptAfterSIGTERM stop serve while three
// jobs run and two wait. The running jobs' processes go on running while no
// server runs; the next server adopts them; every job ends SUCCEEDED on its
// first attempt, and the adopted jobs' logs hold every line they wrote,
// before, during and after the restart.
func TestAdoptAfterSIGKILL(t *testing.T) {
	t.Parallel()
	testAdopt(t, syscall.SIGKILL)
}

func TestAdoptAfterSIGTERM(t *testing.T) {
	t.Parallel()
	testAdopt(t, syscall.SIGTERM)
}

const threeInstances = `
environments:
  - {name: env, maxCapacity: 3}
queues:
  - {name: q, priority: 1, environments: [env]}
`

func testAdopt(t *testing.T, sig syscall.Signal) {
	s := StartServer(t, threeInstances, ServerOptions{KeepJobs: true})
	release := s.File("release")
	// Each job counts lines until it is released: its log must hold them
	// all, in order, whoever was there to see them written.
	script := func(i int) string {
		return fmt.Sprintf(`echo $$ > %s; n=0; while [ ! -e %s ]; do n=$((n+1)); echo "line $n"; sleep 0.05; done; echo "finished after $n lines"`,
			shq(s.File(fmt.Sprintf("pid-%d", i))), shq(release))
	}
	const n = 5
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.Submit("q", fmt.Sprintf("adopt-%d", i), Payload(script(i), 1), withRetry(1))
	}
	// FIFO on 3 instances: jobs 0..2 run, 3 and 4 wait.
	var pids []int
	for i := range 3 {
		s.WaitStatus(ids[i], types.ServiceJobStatusRunning, 30*time.Second)
		pids = append(pids, readPid(t, s.File(fmt.Sprintf("pid-%d", i)), 10*time.Second))
	}
	log0 := s.DataDir + "/jobs/" + trainingJobName(s, ids[0]) + "/output.log"
	if sig == syscall.SIGTERM {
		s.Stop()
	} else {
		s.Kill()
	}
	// The processes go on with no server at all.
	for _, pid := range pids {
		if processGone(pid, "sh") {
			t.Fatalf("process %d of a running job died with the server (%v)", pid, sig)
		}
	}
	logged := func() int {
		b, _ := os.ReadFile(log0)
		return strings.Count(string(b), "\nline ")
	}
	before := logged()
	time.Sleep(300 * time.Millisecond)
	if after := logged(); after <= before {
		t.Fatalf("job 0 wrote nothing to its log while no server ran (%d lines, then %d)", before, after)
	}

	s.Restart()
	for i := range 3 {
		if d := s.Describe(ids[i]); d.Status != types.ServiceJobStatusRunning || len(d.Attempts) != 1 {
			t.Errorf("adopted job %d: %s with %d attempts, want RUNNING on its first", i, d.Status, len(d.Attempts))
		}
	}
	touch(t, release)
	done := s.WaitDone(ids, 60*time.Second)
	for i, d := range done {
		if d.Status != types.ServiceJobStatusSucceeded || len(d.Attempts) != 1 {
			t.Errorf("job %d: %s (%q) after %d attempts, want SUCCEEDED on the first", i, d.Status, aws.ToString(d.StatusReason), len(d.Attempts))
			continue
		}
		var lines []string
		for page := (logsResponse{}); ; {
			page = s.Logs(logsRequest{JobID: ids[i], StartFromHead: true, NextToken: page.NextToken})
			for _, ev := range page.Events {
				lines = append(lines, ev.Message)
			}
			if page.Done || page.NextToken == "" {
				break
			}
		}
		checkCountedLog(t, i, lines)
		if i < 3 && len(lines) < 2 {
			t.Errorf("adopted job %d logged %d lines", i, len(lines))
		}
	}
	for _, pid := range pids {
		if !processGone(pid, "sh") {
			t.Errorf("process %d still runs after its job ended", pid)
		}
	}
}

// checkCountedLog checks the log of a job that counted lines: "line 1" to
// "line n" with none missing, then "finished after n lines".
func checkCountedLog(t *testing.T, job int, lines []string) {
	t.Helper()
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "sagequeue local endpoint: ") {
			continue
		}
		if l == fmt.Sprintf("finished after %d lines", n) {
			return
		}
		n++
		if l != fmt.Sprintf("line %d", n) {
			t.Errorf("job %d: log line %q where %q belongs", job, l, fmt.Sprintf("line %d", n))
			return
		}
	}
	t.Errorf("job %d: the log does not end with \"finished after %d lines\": %q", job, n, lines)
}

// trainingJobName is the training job of a job's latest attempt.
func trainingJobName(s *Server, id string) string {
	s.t.Helper()
	d := s.Describe(id)
	if len(d.Attempts) == 0 || d.Attempts[len(d.Attempts)-1].ServiceResourceId == nil {
		s.t.Fatalf("job %s has no training job", id)
	}
	arn := aws.ToString(d.Attempts[len(d.Attempts)-1].ServiceResourceId.Value)
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

// TestStopJobsOnExit: with --stop-jobs-on-exit, SIGTERM stops the running
// jobs' processes before serve exits, and the next server runs them again
// after a CAPACITY attempt that does not count against their retry
// strategy (attempts=1); the waiting ones run at their first try.
func TestStopJobsOnExit(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	gen := s.File("generation")
	if err := os.WriteFile(gen, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Under the first server a job runs long (it must still be running when
	// the server goes); under the second it takes ~0.3s. Each run records
	// the pids of its shell and of the shell's child.
	script := func(i int) string {
		p := func(f string) string { return shq(s.File(fmt.Sprintf("%s-%d", f, i))) }
		return fmt.Sprintf(`g=$(cat %s); echo "$g" >> %s; if [ "$g" = 1 ]; then echo $$ > %s; sleep 60 & echo $! > %s; wait; else sleep 0.3; fi`,
			shq(gen), p("runs"), p("sh"), p("child"))
	}
	const n = 5
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.Submit("q", fmt.Sprintf("restart-%d", i), Payload(script(i), 1), withRetry(1))
	}
	// FIFO on 2 instances: jobs 0 and 1 run, 2..4 wait.
	var pids []int
	for i := range 2 {
		s.WaitStatus(ids[i], types.ServiceJobStatusRunning, 30*time.Second)
		pids = append(pids, readPid(t, s.File(fmt.Sprintf("sh-%d", i)), 10*time.Second), readPid(t, s.File(fmt.Sprintf("child-%d", i)), 10*time.Second))
	}
	for i := 2; i < n; i++ {
		if d := s.Describe(ids[i]); d.Status != types.ServiceJobStatusRunnable {
			t.Fatalf("job %d is %s, want RUNNABLE behind the two running ones", i, d.Status)
		}
	}
	want := func(pid int) string {
		if pid == pids[0] || pid == pids[2] {
			return "sh"
		}
		return "sleep"
	}
	s.Stop() // exits 0 once the running jobs are stopped
	for _, pid := range pids {
		waitGone(t, pid, want(pid), "after serve exited on SIGTERM")
	}

	if err := os.WriteFile(gen, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	// The new server is the only one on this data directory (the store and
	// the job directory are locked): it must take over at once, not after
	// some timeout of the server that went away. Five jobs of 0.3s on two
	// instances take about a second.
	restarted := time.Now()
	done := s.WaitDone(ids, 20*time.Second)
	t.Logf("all jobs done %s after the restart", time.Since(restarted).Round(time.Millisecond))
	for i, d := range done {
		if d.Status != types.ServiceJobStatusSucceeded {
			t.Errorf("job %d: %s (%q), want SUCCEEDED", i, d.Status, aws.ToString(d.StatusReason))
			continue
		}
		if rs := d.RetryStrategy; rs == nil || aws.ToInt32(rs.Attempts) != 1 {
			t.Errorf("job %d: retryStrategy %+v, want attempts 1", i, rs)
		}
		runs, _ := os.ReadFile(s.File(fmt.Sprintf("runs-%d", i)))
		if i < 2 {
			if len(d.Attempts) != 2 {
				t.Errorf("interrupted job %d: %d attempts, want 2 (the interrupted one and the one that succeeded)", i, len(d.Attempts))
				continue
			}
			if r := aws.ToString(d.Attempts[0].StatusReason); !strings.HasPrefix(r, "CAPACITY:") {
				t.Errorf("interrupted job %d: first attempt's reason %q, want a CAPACITY reason", i, r)
			}
			if string(runs) != "1\n2\n" {
				t.Errorf("interrupted job %d ran under generations %q, want once under each", i, runs)
			}
		} else {
			if len(d.Attempts) != 1 {
				t.Errorf("waiting job %d: %d attempts, want 1", i, len(d.Attempts))
			}
			if string(runs) != "2\n" {
				t.Errorf("waiting job %d ran under generations %q, want once under the second", i, runs)
			}
		}
	}
}

func waitGone(t *testing.T, pid int, want, when string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !processGone(pid, want) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d (%s) of an interrupted job still runs %s", pid, want, when)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
