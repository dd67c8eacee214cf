package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"golang.org/x/sys/unix"
)

// The fault suite: serve is killed at random instants of launch storms, and
// runs out of disk and of file descriptors. Whatever happens, every job
// that was acknowledged ends SUCCEEDED without using an attempt it did not
// fail (they have one), no training job runs twice at once, and an
// environment never runs more instances than it has. docs/reliability.md
// says which guarantee each test checks.

// TestFaultKillStorm kills serve (SIGKILL) at a random instant after each
// of 30 bursts of submissions, while the scheduler is launching them, and
// starts it again. A watcher samples the live training processes all along.
func TestFaultKillStorm(t *testing.T) {
	t.Parallel()
	const capacity, cycles, burst = 4, 30, 6
	s := StartServer(t, fmt.Sprintf(`
environments:
  - {name: env, maxCapacity: %d}
queues:
  - {name: q, priority: 1, environments: [env]}
`, capacity), ServerOptions{KeepJobs: true, Tick: 50 * time.Millisecond})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	w := watchTraining(t, s.DataDir, capacity)

	var ids []string
	for c := range cycles {
		for i := range burst {
			ids = append(ids, s.Submit("q", fmt.Sprintf("storm-%d-%d", c, i), Payload("sleep 0.2", 1), withRetry(1)))
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		s.Kill()
		s.Restart()
		checkNoOrphans(t, s, w, c)
	}
	done := s.WaitDone(ids, 3*time.Minute)
	w.stop()
	for i, d := range done {
		if d.Status != types.ServiceJobStatusSucceeded || len(d.Attempts) != 1 {
			var reasons []string
			for _, a := range d.Attempts {
				reasons = append(reasons, aws.ToString(a.StatusReason))
			}
			t.Errorf("job %d (%s): %s (%q) after attempts %q, want SUCCEEDED on its only attempt", i, aws.ToString(d.JobId), d.Status, aws.ToString(d.StatusReason), reasons)
		}
	}
	w.report(t)
	if live := w.sample(); len(live) > 0 {
		t.Errorf("training processes still run after every job ended: %v", live)
	}
}

// checkNoOrphans checks, after a restart, that every training process that
// runs is the current attempt of a job that holds capacity: no orphan.
func checkNoOrphans(t *testing.T, s *Server, w *trainingWatch, cycle int) {
	t.Helper()
	for name := range w.sample() {
		id := jobOf(name)
		d := s.Describe(id)
		var current string
		if n := len(d.Attempts); n > 0 && d.Attempts[n-1].ServiceResourceId != nil {
			arn := aws.ToString(d.Attempts[n-1].ServiceResourceId.Value)
			current = arn[strings.LastIndexByte(arn, '/')+1:]
		}
		holds := d.Status == types.ServiceJobStatusScheduled || d.Status == types.ServiceJobStatusStarting || d.Status == types.ServiceJobStatusRunning
		if current == name && holds {
			continue
		}
		// It may have just ended: an orphan is one that goes on.
		time.Sleep(time.Second)
		if _, live := w.sample()[name]; live {
			t.Errorf("cycle %d: training job %s runs, but its job is %s with current attempt %q", cycle, name, d.Status, current)
		}
	}
}

// jobOf is the job id in a training job name (sagequeue-<job id>-<n>).
func jobOf(trainingJob string) string {
	rest := strings.TrimPrefix(trainingJob, "sagequeue-")
	return rest[:strings.LastIndexByte(rest, '-')]
}

// trainingWatch samples the training processes of a data directory (the
// processes whose SM_MODEL_DIR lies under it) and remembers every moment
// that broke a rule: more training jobs live than instances, or two
// training jobs of one job live at once.
type trainingWatch struct {
	prefix   string
	capacity int
	done     chan struct{}
	wg       sync.WaitGroup

	mu         sync.Mutex
	samples    int
	violations []string
}

func watchTraining(t *testing.T, dataDir string, capacity int) *trainingWatch {
	w := &trainingWatch{prefix: "SM_MODEL_DIR=" + filepath.Join(dataDir, "jobs") + "/", capacity: capacity, done: make(chan struct{})}
	w.wg.Go(func() {
		for {
			select {
			case <-w.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			// A run is a training job's process group: two groups of one
			// training job are the same attempt run twice.
			live := w.sample()
			perJob := map[string][]string{}
			runs := 0
			for name, groups := range live {
				for _, g := range groups {
					perJob[jobOf(name)] = append(perJob[jobOf(name)], fmt.Sprintf("%s (process group %d)", name, g))
					runs++
				}
			}
			w.mu.Lock()
			w.samples++
			if runs > w.capacity {
				w.violations = append(w.violations, fmt.Sprintf("%d training runs live on %d instances: %v", runs, w.capacity, slices.Sorted(maps.Keys(live))))
			}
			for id, names := range perJob {
				if len(names) > 1 {
					sort.Strings(names)
					w.violations = append(w.violations, fmt.Sprintf("job %s has %d training runs live: %v", id, len(names), names))
				}
			}
			w.mu.Unlock()
		}
	})
	t.Cleanup(w.stop)
	return w
}

func (w *trainingWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
}

// sample returns the training jobs that have a live process, with the
// process groups they run in.
func (w *trainingWatch) sample() map[string][]int {
	live := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, []byte(w.prefix)) {
			continue
		}
		pgrp := processGroup(e.Name())
		for _, kv := range bytes.Split(env, []byte{0}) {
			if name, ok := bytes.CutPrefix(kv, []byte("TRAINING_JOB_NAME=")); ok && pgrp > 0 && !slices.Contains(live[string(name)], pgrp) {
				live[string(name)] = append(live[string(name)], pgrp)
			}
		}
	}
	return live
}

// processGroup reads a live process's group from /proc/<pid>/stat (0 when
// it has exited).
func processGroup(pid string) int {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
		return 0
	}
	pgrp, _ := strconv.Atoi(f[2])
	return pgrp
}

func (w *trainingWatch) report(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("%d samples of the live training processes", w.samples)
	for _, v := range w.violations {
		t.Error(v)
	}
}

// TestFaultDiskFull runs serve with its job directory on a small tmpfs that
// is full: the jobs go back to their queue (INFRASTRUCTURE:DISK_FULL),
// without using an attempt, until there is room; then they all succeed.
func TestFaultDiskFull(t *testing.T) {
	t.Parallel()
	needRoot(t, "mounting a tmpfs")
	data := filepath.Join(t.TempDir(), "data")
	jobs := filepath.Join(data, "jobs")
	if err := os.MkdirAll(jobs, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", jobs).CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot mount a tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", jobs).Run() })
	filler := filepath.Join(jobs, "filler")
	fill(t, filler)

	s := StartServer(t, oneQueue, ServerOptions{DataDir: data})
	ids := submitFaultJobs(s, "disk", 3)
	waitFault(t, s, ids, "DISK_FULL")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, s, ids, "DISK_FULL")
}

// TestFaultFileDescriptors lowers serve's file descriptor limit (prlimit,
// the soft limit, which anyone may raise again up to the hard one) to what
// it has open: the jobs go back to their queue
// (INFRASTRUCTURE:FILE_DESCRIPTORS_EXHAUSTED) without using an attempt
// until the limit is raised again; then they all succeed.
func TestFaultFileDescriptors(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	// A job first, so that the connections serve needs are open already
	// (the API's, and the engine's to the local endpoint): the fault is
	// then in what a launch opens.
	warm := s.Submit("q", "warm-up", Payload("true", 1))
	s.WaitStatus(warm, types.ServiceJobStatusSucceeded, 30*time.Second)

	pid := s.Pid()
	var orig unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &orig); err != nil {
		t.Fatal(err)
	}
	// One more descriptor may open: enough for the state file of a launch,
	// not for the pipes of its supervisor.
	limit := freeFD(t, pid, 2)
	clamp := unix.Rlimit{Cur: limit, Max: orig.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &clamp, nil); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &orig, nil); err != nil {
				t.Errorf("restoring the file descriptor limit: %v", err)
			}
		}
	}
	defer restore()
	ids := submitFaultJobs(s, "fds", 3)
	waitFault(t, s, ids, "FILE_DESCRIPTORS_EXHAUSTED")
	restore()
	checkRecovered(t, s, ids, "FILE_DESCRIPTORS_EXHAUSTED")
}

// freeFD returns the n-th lowest file descriptor number that process pid
// has free: a limit of that number lets n-1 more descriptors open.
func freeFD(t *testing.T, pid, n int) uint64 {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	open := map[int]bool{}
	for _, e := range entries {
		fd, _ := strconv.Atoi(e.Name())
		open[fd] = true
	}
	for fd := 0; ; fd++ {
		if !open[fd] {
			if n--; n == 0 {
				return uint64(fd)
			}
		}
	}
}

func submitFaultJobs(s *Server, prefix string, n int) []string {
	ids := make([]string, n)
	for i := range n {
		ids[i] = s.Submit("q", fmt.Sprintf("%s-%d", prefix, i), Payload(fmt.Sprintf("echo job %d ran", i), 1), withRetry(1))
	}
	return ids
}

// waitFault waits until a fault has sent a job back to its queue, and
// checks that neither a job failed nor a job lost its place for it.
func waitFault(t *testing.T, s *Server, ids []string, fault string) {
	t.Helper()
	want := "INFRASTRUCTURE:" + fault + " - "
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, id := range ids {
			d := s.Describe(id)
			if d.Status == types.ServiceJobStatusFailed || d.Status == types.ServiceJobStatusSucceeded {
				t.Fatalf("job %s is %s (%q) while the machine is at fault", id, d.Status, aws.ToString(d.StatusReason))
			}
			for _, a := range d.Attempts {
				if strings.HasPrefix(aws.ToString(a.StatusReason), want) {
					t.Logf("job %s went back to its queue: %s", id, aws.ToString(a.StatusReason))
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job went back to its queue with %q within 30s", want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRecovered waits for every job to succeed once the fault is gone, on
// the one attempt its retry strategy allows, and finds the fault in
// /metrics and in serve's log.
func checkRecovered(t *testing.T, s *Server, ids []string, fault string) {
	t.Helper()
	for i, d := range s.WaitDone(ids, 90*time.Second) {
		if d.Status != types.ServiceJobStatusSucceeded {
			t.Errorf("job %d: %s (%q), want SUCCEEDED", i, d.Status, aws.ToString(d.StatusReason))
		}
		if rs := d.RetryStrategy; rs == nil || aws.ToInt32(rs.Attempts) != 1 {
			t.Errorf("job %d: retryStrategy %+v, want attempts 1", i, rs)
		}
		for _, a := range d.Attempts[:len(d.Attempts)-1] {
			if r := aws.ToString(a.StatusReason); !strings.HasPrefix(r, "INFRASTRUCTURE:") {
				t.Errorf("job %d: an earlier attempt ended %q", i, r)
			}
		}
	}
	resp, err := s.http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metric := fmt.Sprintf(`sagequeue_infrastructure_faults_total{queue="q",fault=%q} `, fault)
	if !strings.Contains(string(body), metric) {
		t.Errorf("/metrics lacks %s", metric)
	}
	if !strings.Contains(s.Stderr(), "a fault of the machine ended a training job") || !strings.Contains(s.Stderr(), "fault="+fault) {
		t.Errorf("serve's log does not tell of the fault %s", fault)
	}
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// needRoot skips a test that needs root, outside CI, with the reason.
func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, what+" needs root")
	}
}

// skipOrFail fails in CI and skips elsewhere, with the reason.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}
