package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// The plan of TestTrainingPlanWindows: two instances, a window that opens
// 3s after the server starts and lasts 20s, and a second one a little
// later; with --plan-end-margin 2s the windows are usable for 18s and 24s.
const planConfig = `
trainingPlans:
  - name: demo
    instanceType: ml.p5.48xlarge
    instanceCount: 2
    windows:
      - {startsIn: 3s, duration: 20s}
      - {startsIn: 26s, duration: 26s}
environments:
  - name: gpus
    trainingPlan: {arn: "arn:aws:sagemaker:local:000000000000:training-plan/demo"}
queues:
  - {name: plan, priority: 10, environments: [gpus]}
  - {name: checkpointing, priority: 1, environments: [gpus], partialWindows: true}
`

const planTick = time.Second

type planWindowOut struct {
	StartTime   int64 `json:"startTime"`
	UsableUntil int64 `json:"usableUntil"`
	EndTime     int64 `json:"endTime"`
	Instances   int64 `json:"instances"`
}

type planOut struct {
	TrainingPlanName string          `json:"trainingPlanName"`
	Status           string          `json:"status"`
	Windows          []planWindowOut `json:"windows"`
	CapacityNow      int64           `json:"capacityNow"`
	InstancesInUse   int64           `json:"instancesInUse"`
	Jobs             []struct {
		JobID string `json:"jobId"`
	} `json:"jobs"`
}

// describePlans calls the extension operation describetrainingplans.
func (s *Server) describePlans() []planOut {
	s.t.Helper()
	resp, err := s.http.Post(s.URL+"/v1/describetrainingplans", "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		s.t.Fatalf("describetrainingplans: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		TrainingPlans []planOut `json:"trainingPlans"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		s.t.Fatalf("describetrainingplans: HTTP %d: %s", resp.StatusCode, b)
	}
	return out.TrainingPlans
}

// planPayload runs script on the plan's instances with a runtime bound of
// bound seconds; it names no instance type: sagequeue sets the plan's.
func planPayload(script string, bound int) string {
	b, _ := json.Marshal(map[string]any{
		"AlgorithmSpecification": map[string]any{"ContainerEntrypoint": []string{"sh", "-c"}, "ContainerArguments": []string{script}},
		"ResourceConfig":         map[string]any{"InstanceCount": 1},
		"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": bound},
	})
	return string(b)
}

// TestTrainingPlanWindows: jobs submitted before a plan's window opens wait
// with a reason naming the plan and start within a tick or two of the
// opening; a job whose runtime bound does not fit in what is left of the
// window waits for the next one that holds it; a job still running when
// the window ends (its queue allows partial windows) is stopped as
// SageMaker stops it and goes back to its queue without losing an attempt.
func TestTrainingPlanWindows(t *testing.T) {
	s := StartServer(t, planConfig, ServerOptions{Tick: planTick, PlanEndMargin: 2 * time.Second})
	plans := s.describePlans()
	if len(plans) != 1 || plans[0].TrainingPlanName != "demo" || len(plans[0].Windows) != 2 {
		t.Fatalf("plans %+v", plans)
	}
	w1, w2 := plans[0].Windows[0], plans[0].Windows[1]
	if time.Now().UnixMilli() >= w1.StartTime {
		t.Fatalf("the server took more than 3s to come up: the window opened before the test could submit")
	}
	if plans[0].Status != "Scheduled" || plans[0].CapacityNow != 0 {
		t.Errorf("before the window: %+v", plans[0])
	}

	// A payload of another instance type than the plan's could never run.
	bad := strings.Replace(planPayload("true", 5), `"InstanceCount":1`, `"InstanceCount":1,"InstanceType":"ml.g5.xlarge"`, 1)
	if _, err := s.Batch.SubmitServiceJob(context.Background(), &batch.SubmitServiceJobInput{
		JobName: aws.String("g5"), JobQueue: aws.String("plan"), ServiceJobType: jobType, ServiceRequestPayload: aws.String(bad),
	}); err == nil || !strings.Contains(err.Error(), "ml.g5.xlarge is not the instance type") || !strings.Contains(err.Error(), "demo reserves ml.p5.48xlarge") {
		t.Fatalf("a payload of another instance type: %v", err)
	}

	early := s.Submit("plan", "early", planPayload("echo on $SAGEMAKER_CURRENT_CAPACITY_BLOCK_EXPIRATION_TIMESTAMP", 5))
	long := s.Submit("plan", "long", planPayload("echo long", 20))
	stuck := s.Submit("checkpointing", "stuck", planPayload("echo started; sleep 120", 300), withRetry(1))

	// Before the window: every waiting job says why, naming the plan and
	// the opening.
	for _, id := range []string{early, long, stuck} {
		d := s.WaitFor(id, 3*planTick, "held for the plan", func(d *batch.DescribeServiceJobOutput) bool {
			return strings.HasPrefix(aws.ToString(d.StatusReason), "CAPACITY:TRAINING_PLAN_NOT_ACTIVE - Training plan demo is not in a window; its next window opens at ")
		})
		if d.Status != types.ServiceJobStatusRunnable {
			t.Fatalf("%s: %s before the window opened", id, d.Status)
		}
	}

	// The window opens: early and stuck start within a tick or two (the
	// plan has two instances); long does not fit in 18s and waits.
	slack := 2*planTick.Milliseconds() + 1000
	for _, id := range []string{early, stuck} {
		d := s.WaitFor(id, time.Until(time.UnixMilli(w1.StartTime))+10*time.Second, "started", func(d *batch.DescribeServiceJobOutput) bool {
			return d.ScheduledAt != nil
		})
		if at := aws.ToInt64(d.ScheduledAt); at < w1.StartTime || at > w1.StartTime+slack {
			t.Errorf("%s scheduled %dms after the window opened, want within %dms", aws.ToString(d.JobName), at-w1.StartTime, slack)
		}
	}
	d := s.WaitFor(long, 3*planTick, "held for the next window", func(d *batch.DescribeServiceJobOutput) bool {
		return strings.HasPrefix(aws.ToString(d.StatusReason), "CAPACITY:TRAINING_PLAN_WINDOW_TOO_SHORT - The job's runtime bound (20s) does not fit in the current window of training plan demo")
	})
	if !strings.Contains(aws.ToString(d.StatusReason), "it starts in the window that opens at "+time.UnixMilli(w2.StartTime).UTC().Format(time.RFC3339)) {
		t.Errorf("long's reason does not name the next window: %q", aws.ToString(d.StatusReason))
	}
	d = s.WaitStatus(early, types.ServiceJobStatusSucceeded, 20*time.Second)
	// The job learns when the reserved capacity ends (epoch ms), as
	// SageMaker tells training scripts.
	if logs := s.Logs(logsRequest{JobID: early, StartFromHead: true}); len(logs.Events) == 0 || logs.Events[0].Message != fmt.Sprintf("on %d", w1.EndTime) {
		t.Errorf("early's log: %+v, want \"on %d\"", logs.Events, w1.EndTime)
	}
	if p := s.describePlans()[0]; p.Status != "Active" || p.CapacityNow != 2 || p.InstancesInUse != 1 || len(p.Jobs) != 1 || p.Jobs[0].JobID != stuck {
		t.Errorf("plan during the window with stuck running: %+v", p)
	}

	// The window ends: SageMaker takes the instances back; stuck goes back
	// to its queue without using its one attempt.
	d = s.WaitFor(stuck, time.Until(time.UnixMilli(w1.UsableUntil))+10*time.Second, "back in its queue", func(d *batch.DescribeServiceJobOutput) bool {
		return d.Status == types.ServiceJobStatusRunnable && len(d.Attempts) == 1
	})
	reason := aws.ToString(d.StatusReason)
	if !strings.HasPrefix(reason, "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - ") || !strings.Contains(reason, "reserved capacity of training plan demo ended") {
		t.Errorf("stuck's reason after the window: %q", reason)
	}
	if a := d.Attempts[0]; aws.ToString(a.StatusReason) != reason || aws.ToInt64(a.StoppedAt) < w1.UsableUntil-1000 {
		t.Errorf("stuck's attempt: stopped at %d (window usable until %d), reason %q", aws.ToInt64(a.StoppedAt), w1.UsableUntil, aws.ToString(a.StatusReason))
	}

	// The next window: long starts in it, within a tick or two.
	d = s.WaitStatus(long, types.ServiceJobStatusSucceeded, time.Until(time.UnixMilli(w2.StartTime))+20*time.Second)
	if at := aws.ToInt64(d.ScheduledAt); at < w2.StartTime || at > w2.StartTime+slack {
		t.Errorf("long scheduled %dms after the second window opened, want within %dms", at-w2.StartTime, slack)
	}
	if len(d.Attempts) != 1 {
		t.Errorf("long ran %d attempts", len(d.Attempts))
	}
	if _, err := s.Batch.TerminateServiceJob(context.Background(), &batch.TerminateServiceJobInput{JobId: aws.String(stuck), Reason: aws.String("done testing")}); err != nil {
		t.Fatal(err)
	}
}

// TestServeRefusesAnUnknownPlan: a configuration naming a plan that does
// not exist stops serve with an error naming it.
func TestServeRefusesAnUnknownPlan(t *testing.T) {
	dir := t.TempDir()
	const arn = "arn:aws:sagemaker:local:000000000000:training-plan/nope"
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("environments:\n  - {name: gpus, maxCapacity: 1}\n  - {name: more, maxCapacity: 1, trainingPlanArn: "+arn+"}\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", cfg}
	if os.Geteuid() == 0 {
		args = append(args, "--insecure-run-as-root") // as the harness does
	}
	cmd := exec.CommandContext(ctx, binary, args...)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serve with an unknown plan: %v (timed out: %v)\n%s", err, ctx.Err() != nil, out)
	}
	if !strings.Contains(string(out), arn) || !strings.Contains(string(out), "does not exist") {
		t.Fatalf("serve's error does not name the plan:\n%s", out)
	}
}
