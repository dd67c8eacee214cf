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

// TestRestartAfterSIGTERM and TestRestartAfterSIGKILL stop serve while two
// jobs run and three wait, start it again on the same data directory, and
// check that nothing is lost: every job succeeds, the interrupted ones
// after a CAPACITY attempt that did not count against their retry strategy
// (attempts=1), the waiting ones at the first try.
func TestRestartAfterSIGTERM(t *testing.T) {
	t.Parallel()
	testRestart(t, syscall.SIGTERM)
}

func TestRestartAfterSIGKILL(t *testing.T) {
	t.Parallel()
	testRestart(t, syscall.SIGKILL)
}

func testRestart(t *testing.T, sig syscall.Signal) {
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

	if sig == syscall.SIGTERM {
		s.Stop() // exits 0 once the running jobs are stopped
		for _, pid := range pids {
			waitGone(t, pid, want(pid), "after serve exited on SIGTERM")
		}
	} else {
		s.Kill()
		// The jobs outlive a killed server (they run in their own process
		// groups); the next server must find and end them.
		for _, pid := range pids {
			if processGone(pid, want(pid)) {
				t.Fatalf("process %d of an interrupted job died with the killed server; the orphan check would prove nothing", pid)
			}
		}
	}

	if err := os.WriteFile(gen, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if sig == syscall.SIGKILL {
		// The new server ends what the old one left running before it
		// serves: no waiting here.
		for _, pid := range pids {
			if !processGone(pid, want(pid)) {
				t.Errorf("process %d (%s) of a job of the killed server still runs after the restarted server answered", pid, want(pid))
			}
		}
	}

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
