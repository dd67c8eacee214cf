package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// dashboardOut is where TestDashboardInBrowser leaves its screenshots
// (git-ignored), relative to this package.
const dashboardOut = "out/dashboard"

const dashboardConfig = `
environments:
  - {name: gpu, maxCapacity: 3}
policies:
  - name: teams
    shares:
      - {shareIdentifier: research, weightFactor: 1}
      - {shareIdentifier: prod, weightFactor: 0.25}
queues:
  - {name: default, priority: 10, environments: [gpu]}
  - {name: shared, priority: 1, environments: [gpu], policy: teams}
`

// browserTools finds Node.js (20 or later, with playwright-core installed
// by npm install) and Chromium. Without them the test is skipped, except
// in CI, where it fails.
func browserTools(t *testing.T) (node string) {
	t.Helper()
	missing := t.Skipf
	if os.Getenv("CI") != "" {
		missing = t.Fatalf
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing("the dashboard's browser test needs Chromium at %s (apt-get install chromium; .ci/run does): %v", chromiumPath, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("the dashboard's browser test needs Node.js 20 or later: %v", err)
	}
	out, err := exec.Command(node, "-e", `process.stdout.write(process.versions.node + " " + require.resolve("playwright-core"))`).CombinedOutput()
	if err != nil {
		missing("the dashboard's browser test needs playwright-core (npm install in the repository root): %v: %s", err, out)
	}
	major, _, _ := strings.Cut(string(out), ".")
	if v, _ := strconv.Atoi(major); v < 20 {
		missing("the dashboard's browser test needs Node.js 20 or later, found %s", strings.Fields(string(out))[0])
	}
	return node
}

// TestDashboardInBrowser fills a real `sagequeue serve` with jobs in every
// interesting state — succeeded, failed after two attempts, running with
// log output, waiting behind a full environment, a fair-share queue with two
// shares — and has headless Chromium click through the dashboard and check
// what it shows (dashboard_browser.mjs), then watch the queues drain. The
// screenshots are left in e2e/out/dashboard.
func TestDashboardInBrowser(t *testing.T) {
	node := browserTools(t)
	started := time.Now()
	s := StartServer(t, dashboardConfig, ServerOptions{})
	release := s.File("release")

	hello := s.Submit("default", "hello", Payload(`echo "hello from $TRAINING_JOB_NAME"`, 1))
	broken := s.Submit("default", "broken", Payload(`echo "loading data"; echo "error: out of memory" >&2; exit 3`, 1), withRetry(2))
	s.WaitDone([]string{hello, broken}, 30*time.Second)
	if d := s.Describe(broken); d.Status != types.ServiceJobStatusFailed || len(d.Attempts) != 2 {
		t.Fatalf("broken: %s with %d attempts, want FAILED after 2", d.Status, len(d.Attempts))
	}
	trainer := s.Submit("default", "trainer", Payload(`i=0; while [ ! -e `+shq(release)+` ]; do echo "step $i loss 2.$((9999 - i))"; i=$((i+1)); sleep 0.1; done; echo "training done"`, 1))
	s.WaitStatus(trainer, types.ServiceJobStatusRunning, 30*time.Second)
	running := []string{
		s.Submit("shared", "sweep-r1", Payload(blocker(release), 1), withShare("research", 0)),
		s.Submit("shared", "sweep-p1", Payload(blocker(release), 1), withShare("prod", 0)),
	}
	for _, id := range running {
		s.WaitStatus(id, types.ServiceJobStatusRunning, 30*time.Second)
	}
	// The environment is full: these wait.
	waiting := []string{s.Submit("default", "waiting", Payload(`echo "finally my turn"; sleep 2`, 1))}
	for i := 2; i <= 4; i++ {
		for _, share := range []string{"research", "prod"} {
			name := fmt.Sprintf("sweep-%c%d", share[0], i)
			waiting = append(waiting, s.Submit("shared", name, Payload(`sleep 2`, 1), withShare(share, 0)))
		}
	}
	for _, id := range waiting {
		s.WaitStatus(id, types.ServiceJobStatusRunnable, 30*time.Second)
	}
	t.Logf("jobs in place after %s", time.Since(started).Round(time.Millisecond))

	out, err := filepath.Abs(dashboardOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(map[string]string{
		"url": s.URL + "/", "out": out, "release": release, "chromium": chromiumPath, "userDataDir": t.TempDir(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard_browser.mjs")
	cmd.Env = append(os.Environ(), "DASHBOARD_TEST="+string(input))
	browserStart := time.Now()
	output, err := cmd.CombinedOutput()
	t.Logf("dashboard_browser.mjs (%s):\n%s", time.Since(browserStart).Round(time.Millisecond), output)
	t.Logf("screenshots of the dashboard are in %s", out)
	if err != nil {
		t.Fatalf("the browser test failed: %v (see the output above and %s)", err, filepath.Join(out, "failure.png"))
	}
	// What the browser saw drain is what the API says.
	for _, id := range append(append([]string{trainer}, running...), waiting...) {
		if d := s.Describe(id); d.Status != types.ServiceJobStatusSucceeded {
			t.Errorf("%s: %s (%q)", aws.ToString(d.JobName), d.Status, aws.ToString(d.StatusReason))
		}
	}
	t.Logf("TestDashboardInBrowser took %s", time.Since(started).Round(time.Millisecond))
}

// TestDashboardPlanTimeline has headless Chromium check the overview's
// training plan card (dashboard_plans.mjs): the plan's status and use now,
// its windows and its use over time on the timeline.
func TestDashboardPlanTimeline(t *testing.T) {
	node := browserTools(t)
	s := StartServer(t, `
trainingPlans:
  - name: demo
    instanceType: ml.p5.48xlarge
    instanceCount: 2
    windows:
      - {startsIn: 0s, duration: 2h}
      - {startsIn: 150m, duration: 2h}
environments:
  - name: gpus
    trainingPlan: {arn: "arn:aws:sagemaker:local:000000000000:training-plan/demo"}
queues:
  # the job names no MaxRuntimeInSeconds: SageMaker's default of a day
  # does not fit in the 2h window, so the queue lets it start anyway
  - {name: plan, priority: 1, environments: [gpus], partialWindows: true}
`, ServerOptions{})
	release := s.File("release")
	id := s.Submit("plan", "trainer", Payload(blocker(release), 1))
	s.WaitStatus(id, types.ServiceJobStatusRunning, 30*time.Second)
	defer touch(t, release)

	out, err := filepath.Abs(dashboardOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(map[string]string{"url": s.URL + "/", "out": out, "chromium": chromiumPath, "userDataDir": t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard_plans.mjs")
	cmd.Env = append(os.Environ(), "DASHBOARD_TEST="+string(input))
	output, err := cmd.CombinedOutput()
	t.Logf("dashboard_plans.mjs:\n%s", output)
	if err != nil {
		t.Fatalf("the browser test of the plan timeline failed: %v (see %s)", err, filepath.Join(out, "failure.png"))
	}
}
