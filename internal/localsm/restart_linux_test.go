package localsm

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagequeue/sagequeue/internal/events"
)

// TestRestartAfterCrash kills a server (SIGKILL, no Shutdown) with jobs in
// every state a crash can find them in, lets some of them end while no
// server runs, and checks what the next server makes of each. It needs
// /proc: only there can a server prove that a pid is still its
// supervisor's.
func TestRestartAfterCrash(t *testing.T) {
	t.Parallel()
	dir, scratch := t.TempDir(), t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), crashHelperEnv+"="+dir, crashScratchEnv+"="+scratch)
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "READY" {
		helper.Process.Kill()
		helper.Wait()
		t.Fatalf("helper: %q", line)
	}
	helper.Process.Kill()
	helper.Wait()

	read := func(name string) (rec record, lines []string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name, stateFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		log, _ := os.ReadFile(filepath.Join(dir, name, logFile))
		return rec, strings.Split(string(log), "\n")
	}
	// Every running job outlived the server, supervisor and process.
	recs := map[string]record{}
	for _, name := range []string{"adopted", "ended", "killed", "orphaned"} {
		rec, _ := read(name)
		recs[name] = rec
		if rec.Supervisor == nil || processGone(rec.Supervisor.Pid) || rec.Pid == 0 || processGone(rec.Pid) {
			t.Fatalf("%s did not outlive the server: %+v", name, rec)
		}
	}
	_, killedLog := read("killed")
	_, orphanedLog := read("orphaned")
	killedChild, orphanedChild := pidFromLog(t, killedLog, "child"), pidFromLog(t, orphanedLog, "child")

	// While no server runs: one job ends on its own, one is killed, and
	// one loses its supervisor (its entry point dies with it; its
	// grandchild, still in the job's process group, does not).
	touch(t, filepath.Join(scratch, "ended"))
	syscall.Kill(recs["killed"].Pid, syscall.SIGKILL)
	for _, name := range []string{"ended", "killed"} {
		waitFile(t, filepath.Join(dir, name, exitFile))
	}
	waitGone(t, "killed grandchild", killedChild)
	syscall.Kill(recs["orphaned"].Supervisor.Pid, syscall.SIGKILL)
	waitGone(t, "orphaned supervisor", recs["orphaned"].Supervisor.Pid)
	waitGone(t, "orphaned entry point", recs["orphaned"].Pid)
	if processGone(orphanedChild) {
		t.Fatal("the orphaned job's grandchild died with its supervisor; the test would prove nothing")
	}
	// The held job's supervisor was never released: it exits by itself.
	held, _ := read("held")
	if held.Supervisor == nil {
		t.Fatal("the held job's supervisor was not recorded")
	}
	waitGone(t, "held supervisor", held.Supervisor.Pid)

	// A job of a server from before supervisors, still running, and two
	// records whose pids now belong to a stranger, who must survive.
	legacy := exec.Command("sh", "-c", "sleep 60 & wait")
	legacy.Env = append(os.Environ(), "TRAINING_JOB_ARN=arn:aws:sagemaker:local:000000000000:training-job/legacy")
	legacy.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stranger := exec.Command("sleep", "60")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, c := range []*exec.Cmd{legacy, stranger} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			c.Process.Kill()
			c.Wait()
		}()
	}
	legacyStart, _ := processStartTime(legacy.Process.Pid)
	strangerStart, _ := processStartTime(stranger.Process.Pid)
	writeRecord(t, dir, record{Name: "legacy", Pid: legacy.Process.Pid, PidStartTime: legacyStart})
	writeRecord(t, dir, record{Name: "reused", Pid: stranger.Process.Pid, PidStartTime: strangerStart - 1})
	writeRecord(t, dir, record{Name: "reused-supervisor", Supervisor: &supervisorRef{Pid: stranger.Process.Pid, StartTime: strangerStart, Token: "not-the-strangers"}})
	if err := writeJSONAtomic(filepath.Join(dir, "reused-supervisor", startedFile), startedRecord{Pid: stranger.Process.Pid}); err != nil {
		t.Fatal(err)
	}

	f := start(t, Config{Dir: dir, StopGrace: 2 * time.Second})
	// The adopted job is still running, and runs to its end.
	if out := f.describe(t, "adopted"); out.TrainingJobStatus != types.TrainingJobStatusInProgress || out.SecondaryStatus != types.SecondaryStatusTraining {
		t.Fatalf("adopted: %s/%s", out.TrainingJobStatus, out.SecondaryStatus)
	}
	touch(t, filepath.Join(scratch, "adopted"))
	if out := f.wait(t, "adopted"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("adopted: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	if page, err := f.srv.ReadLog(context.Background(), "adopted", 0, 0); err != nil || !page.Done || strings.Join(page.Lines, "|") != "before|after" {
		t.Errorf("adopted log: %+v %v", page, err)
	}
	if out := f.wait(t, "held"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("held: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	if b, _ := os.ReadFile(filepath.Join(scratch, "held-runs")); string(b) != "ran\n" {
		t.Errorf("the held job ran %q, want once", b)
	}

	const lost = "InfrastructureError: SUPERVISOR_LOST - "
	for name, want := range map[string]string{
		"ended":             "AlgorithmError: exit code 3: last words",
		"killed":            "AlgorithmError: killed by signal SIGKILL",
		"orphaned":          lost,
		"legacy":            restartReason,
		"reused":            restartReason,
		"reused-supervisor": lost,
	} {
		out := f.wait(t, name)
		if reason := aws.ToString(out.FailureReason); out.TrainingJobStatus != types.TrainingJobStatusFailed || reason != want && !(want == lost && strings.HasPrefix(reason, lost)) {
			t.Errorf("%s: %s %q, want Failed %q", name, out.TrainingJobStatus, reason, want)
		}
		if evs := f.rec.waitEvents(t, name); len(evs) != 1 || evs[0].Detail.SecondaryStatus != "Failed" {
			t.Errorf("%s: events %v, want one Failed", name, statuses(evs))
		}
	}
	waitGone(t, "orphaned grandchild", orphanedChild)
	waitGone(t, "legacy process", legacy.Process.Pid)
	if processGone(stranger.Process.Pid) {
		t.Error("a reused pid was killed")
	}
	if out := f.describe(t, "finished"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("finished: %s", out.TrainingJobStatus)
	}
	if evs := f.rec.forJob("finished"); len(evs) != 0 {
		t.Errorf("finished: re-emitted %v", statuses(evs))
	}
}

// writeRecord writes a running job's state.json as a previous server
// would have left it.
func writeRecord(t *testing.T, dir string, rec record) {
	t.Helper()
	now := time.Now().UTC()
	rec.Arn = "arn:aws:sagemaker:local:000000000000:training-job/" + rec.Name
	rec.Status, rec.SecondaryStatus = events.TrainingInProgress, secondaryTraining
	rec.CreationTime, rec.LastModifiedTime, rec.TrainingStartTime = now, now, now
	rec.Transitions = []transition{{Status: secondaryTraining, StartTime: now}}
	rec.Request = json.RawMessage(`{"TrainingJobName":"` + rec.Name + `"}`)
	b, _ := json.Marshal(rec)
	if err := os.MkdirAll(filepath.Join(dir, rec.Name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rec.Name, stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fileExists(path) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShutdownKeepsJobsRunning: with KeepRunning, Shutdown lets go of the
// running jobs at once; the next server adopts them, follows their logs,
// stops one when asked, and ends another that ran past its
// MaxRuntimeInSeconds while no server ran.
func TestShutdownKeepsJobsRunning(t *testing.T) {
	t.Parallel()
	dir, scratch := t.TempDir(), t.TempDir()
	first := start(t, Config{Dir: dir, KeepRunning: true, StopGrace: 5 * time.Second})
	first.create(t, payload("long", sh(`echo one; while [ ! -e `+filepath.Join(scratch, "go")+` ]; do sleep 0.02; done; echo two`)...))
	first.create(t, payload("stopped", sh(`trap 'echo got TERM; exit 0' TERM; sleep 60 & echo "child $!"; wait`)...))
	short := payload("short-lived", sh(`sleep 60 & echo "child $!"; wait`)...)
	short.StoppingCondition.MaxRuntimeInSeconds = aws.Int32(2)
	first.create(t, short)
	first.waitLog(t, "long", "one")
	child := pidFromLog(t, first.waitLog(t, "stopped", "child "), "child")
	shortChild := pidFromLog(t, first.waitLog(t, "short-lived", "child "), "child")
	for _, name := range []string{"long", "stopped", "short-lived"} {
		first.waitEvent(t, name, "InProgress/Training")
	}

	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("Shutdown took %s: it waited for the jobs", d)
	}
	for _, name := range []string{"long", "stopped", "short-lived"} {
		if out := first.describe(t, name); out.TrainingJobStatus != types.TrainingJobStatusInProgress {
			t.Errorf("%s after Shutdown: %s", name, out.TrainingJobStatus)
		}
		if evs := first.rec.forJob(name); terminal(evs[len(evs)-1].Detail.TrainingJobStatus) {
			t.Errorf("%s: Shutdown ended it: %v", name, statuses(evs))
		}
	}
	if processGone(child) || processGone(shortChild) {
		t.Fatal("Shutdown with KeepRunning killed a training process")
	}
	// Past its MaxRuntimeInSeconds while no server runs.
	time.Sleep(time.Until(began.Add(2 * time.Second)))

	second := start(t, Config{Dir: dir})
	if out := second.wait(t, "short-lived"); out.TrainingJobStatus != types.TrainingJobStatusStopped || out.SecondaryStatus != types.SecondaryStatusMaxRuntimeExceeded {
		t.Errorf("short-lived: %s/%s", out.TrainingJobStatus, out.SecondaryStatus)
	}
	waitGone(t, "short-lived grandchild", shortChild)
	if _, err := second.sm.StopTrainingJob(context.Background(), &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String("stopped")}); err != nil {
		t.Fatal(err)
	}
	if out := second.wait(t, "stopped"); out.TrainingJobStatus != types.TrainingJobStatusStopped {
		t.Errorf("stopped: %s", out.TrainingJobStatus)
	}
	waitGone(t, "stopped grandchild", child)
	second.waitLog(t, "stopped", "got TERM")
	touch(t, filepath.Join(scratch, "go"))
	if out := second.wait(t, "long"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("long: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	page, err := second.srv.ReadLog(context.Background(), "long", 0, 0)
	if err != nil || !page.Done || strings.Join(page.Lines, "|") != "one|two" {
		t.Errorf("long log: %+v %v", page, err)
	}
	want := map[string]string{
		"long":        "Completed/Completed",
		"stopped":     "Stopping/Stopping Stopped/Stopped",
		"short-lived": "Stopping/Stopping Stopped/MaxRuntimeExceeded",
	}
	for name, w := range want {
		if got := strings.Join(statuses(second.rec.waitEvents(t, name)), " "); got != w {
			t.Errorf("%s: events after adoption %q, want %q", name, got, w)
		}
	}
}
