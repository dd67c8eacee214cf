package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// TestJobsRunConfined runs serve as root, as on a shared GPU box: bob's and
// carol's jobs run as the accounts the auth file maps them to (numeric
// uids, no passwd entries needed), alice's as --run-as nobody. A job's
// process runs as its account, and cannot read another job's directory,
// list the jobs, or read the store.
func TestJobsRunConfined(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("TestJobsRunConfined needs root (CI runs the tests as root)")
		}
		t.Skip("confinement needs serve to run as root: run the tests as root to cover it")
	}
	s, _ := startShared(t, ServerOptions{RunAs: "nobody"}, map[string]string{"bob": "60917", "carol": "60918:60918"})
	release := s.File("release")
	if err := os.Chmod(s.Work, 0o755); err != nil {
		t.Fatal(err)
	}

	withEnv := func(script string, env map[string]string) string {
		b, _ := json.Marshal(map[string]any{
			"AlgorithmSpecification": map[string]any{"ContainerEntrypoint": []string{"sh", "-c"}, "ContainerArguments": []string{script}},
			"ResourceConfig":         map[string]any{"InstanceCount": 1},
			"Environment":            env,
		})
		return string(b)
	}
	submitAs := func(key, secret, name, payload string) string {
		out, err := s.Client(key, secret).SubmitServiceJob(t.Context(), &batch.SubmitServiceJobInput{JobName: aws.String(name),
			JobQueue: aws.String("research"), ServiceJobType: jobType, ServiceRequestPayload: aws.String(payload)})
		if err != nil {
			t.Fatalf("submit %s: %v", name, err)
		}
		return aws.ToString(out.JobId)
	}
	jobDir := func(id string) string { return filepath.Join(s.DataDir, "jobs", "sagequeue-"+id+"-1") }

	bobs := submitAs(bobKey, bobSecret, "bobs", withEnv(`echo "bob's weights" > $SM_MODEL_DIR/weights; echo $$ > $SM_OUTPUT_DATA_DIR/pid
		while [ ! -e "$RELEASE" ]; do sleep 0.05; done`, map[string]string{"RELEASE": release}))
	s.WaitStatus(bobs, types.ServiceJobStatusRunning, 30*time.Second)
	pid := readPid(t, filepath.Join(jobDir(bobs), "output", "data", "pid"), 30*time.Second)
	status, err := os.ReadFile("/proc/" + itoa(int32(pid)) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") && (f[1] != "60917" || f[2] != "60917" || f[3] != "60917") {
			t.Errorf("bob's job process %d: %s, want 60917 throughout", pid, l)
		}
	}

	carols := submitAs(carolKey, carolSecret, "carols", withEnv(`o=$SM_OUTPUT_DATA_DIR; id -u > $o/uid
		for f in "$BOB/model/weights" "$BOB/output.log" "$BOB/state.json" "$DATA/sagequeue.db"; do
			if cat "$f" > /dev/null 2>&1; then echo "read $f"; else echo "refused $f"; fi
		done > $o/reads
		for d in "$BOB/model" "$DATA/jobs" "$DATA"; do
			if ls "$d" > /dev/null 2>&1; then echo "listed $d"; else echo "refused $d"; fi
		done >> $o/reads`, map[string]string{"BOB": jobDir(bobs), "DATA": s.DataDir}))
	alices := s.Submit("research", "alices", Payload(`id -un > $SM_OUTPUT_DATA_DIR/user`, 1))
	s.WaitDone([]string{carols, alices}, 30*time.Second)
	for _, id := range []string{carols, alices} {
		if d := s.Describe(id); d.Status != types.ServiceJobStatusSucceeded {
			t.Fatalf("%s: %s %q", aws.ToString(d.JobName), d.Status, aws.ToString(d.StatusReason))
		}
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if uid := read(filepath.Join(jobDir(carols), "output", "data", "uid")); uid != "60918" {
		t.Errorf("carol's job ran as uid %s, want 60918", uid)
	}
	if user := read(filepath.Join(jobDir(alices), "output", "data", "user")); user != "nobody" {
		t.Errorf("alice's job ran as %s, want nobody (--run-as)", user)
	}
	reads := read(filepath.Join(jobDir(carols), "output", "data", "reads"))
	if strings.Contains(reads, "read ") || strings.Contains(reads, "listed ") || strings.Count(reads, "refused ") != 7 {
		t.Errorf("carol's job reached what is not hers:\n%s", reads)
	}
	touch(t, release)
	s.WaitStatus(bobs, types.ServiceJobStatusSucceeded, 30*time.Second)
	if w := read(filepath.Join(jobDir(bobs), "model", "weights")); w != "bob's weights" {
		t.Errorf("bob's model: %q", w)
	}
}
