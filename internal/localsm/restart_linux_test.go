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

// TestRestartAfterCrash needs /proc: only there can a restarted server tell
// its jobs' processes from strangers, so only there does it kill them.
func TestRestartAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), crashHelperEnv+"="+dir)
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
	// The crash: SIGKILL, no Shutdown.
	helper.Process.Kill()
	helper.Wait()

	read := func(name string) (rec record, child int) {
		b, err := os.ReadFile(filepath.Join(dir, name, stateFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		log, _ := os.ReadFile(filepath.Join(dir, name, logFile))
		return rec, pidFromLog(t, strings.Split(string(log), "\n"), "child")
	}
	crashed, crashedChild := read("crashed")
	leaderless, leaderlessChild := read("leaderless")
	for _, pid := range []int{crashed.Pid, crashedChild, leaderless.Pid, leaderlessChild} {
		if processGone(pid) {
			t.Fatalf("pid %d did not outlive the server", pid)
		}
	}
	// The leaderless job lost its entry point too; only its grandchild,
	// still in the group, is left.
	syscall.Kill(leaderless.Pid, syscall.SIGKILL)
	waitGone(t, "leaderless entry point", leaderless.Pid)

	// A job whose recorded pid now belongs to someone else: a stranger in
	// its own process group, which must survive.
	stranger := exec.Command("sleep", "60")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stranger.Process.Kill()
		stranger.Wait()
	}()
	startTime, err := processStartTime(stranger.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	reused := record{
		Name: "reused", Arn: "arn:aws:sagemaker:local:000000000000:training-job/reused",
		Status: events.TrainingInProgress, SecondaryStatus: secondaryTraining,
		CreationTime: time.Now().UTC(), LastModifiedTime: time.Now().UTC(),
		Transitions: []transition{{Status: secondaryTraining, StartTime: time.Now().UTC()}},
		Pid:         stranger.Process.Pid, PidStartTime: startTime - 1,
		Request: json.RawMessage(`{"TrainingJobName":"reused"}`),
	}
	b, _ := json.Marshal(reused)
	os.MkdirAll(filepath.Join(dir, "reused"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "reused", stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}

	// A long grace tells the two ways an orphan can die apart: of SIGTERM,
	// New returns in well under a second; of SIGKILL, only after the grace.
	// The margin is wide so that a loaded machine cannot blur it.
	const grace = 30 * time.Second
	began := time.Now()
	f := start(t, Config{Dir: dir, StopGrace: grace})
	if d := time.Since(began); d > grace/2 {
		t.Errorf("New took %s: the orphans did not die of SIGTERM", d)
	}
	for what, pid := range map[string]int{"crashed entry point": crashed.Pid, "crashed grandchild": crashedChild, "leaderless grandchild": leaderlessChild} {
		waitGone(t, what, pid)
	}
	if processGone(stranger.Process.Pid) {
		t.Error("a reused pid was killed")
	}
	for _, name := range []string{"crashed", "leaderless", "reused"} {
		out := f.describe(t, name)
		if out.TrainingJobStatus != types.TrainingJobStatusFailed || aws.ToString(out.FailureReason) != restartReason {
			t.Errorf("%s: %s %q", name, out.TrainingJobStatus, aws.ToString(out.FailureReason))
		}
		evs := f.rec.waitEvents(t, name)
		if len(evs) != 1 || evs[0].Detail.FailureReason != restartReason || evs[0].Detail.SecondaryStatus != "Failed" {
			t.Errorf("%s: events %v", name, statuses(evs))
		}
	}
	if out := f.describe(t, "finished"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("finished: %s", out.TrainingJobStatus)
	}
	page, err := f.srv.ReadLog(context.Background(), "finished", 0, 0)
	if err != nil || !page.Done || len(page.Lines) != 1 || page.Lines[0] != "finished" {
		t.Errorf("finished log: %+v %v", page, err)
	}
	lst, err := f.sm.ListTrainingJobs(context.Background(), &sagemaker.ListTrainingJobsInput{StatusEquals: types.TrainingJobStatusFailed})
	if err != nil || len(lst.TrainingJobSummaries) != 3 {
		t.Errorf("list after restart: %+v %v", lst, err)
	}
}
