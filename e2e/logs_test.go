package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

func messages(r logsResponse) []string {
	out := []string{}
	for _, e := range r.Events {
		out = append(out, e.Message)
	}
	return out
}

// TestLogsOfFinishedJob: getservicejoblogs returns a finished job's lines in
// order, from the head, page by page with nextToken, or as a tail.
func TestLogsOfFinishedJob(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	id := s.Submit("q", "printer", Payload(`i=1; while [ $i -le 25 ]; do echo "line $i"; i=$((i+1)); done`, 1))
	if d := s.WaitDone([]string{id}, 30*time.Second)[0]; d.Status != types.ServiceJobStatusSucceeded {
		t.Fatalf("%s (%q)", d.Status, aws.ToString(d.StatusReason))
	}
	want := numbered("line", 1, 25)

	all := s.Logs(logsRequest{JobID: id, StartFromHead: true, Limit: 1000})
	if got := messages(all); !slices.Equal(got, want) {
		t.Errorf("all lines from the head:\n%q\nwant\n%q", got, want)
	}
	if !all.Done || all.Attempt != 1 || all.Status != "SUCCEEDED" {
		t.Errorf("done %v, attempt %d, status %s; want true, 1, SUCCEEDED", all.Done, all.Attempt, all.Status)
	}

	var got []string
	var sizes []int
	req := logsRequest{JobID: id, StartFromHead: true, Limit: 10}
	for range 10 {
		page := s.Logs(req)
		got = append(got, messages(page)...)
		sizes = append(sizes, len(page.Events))
		if page.Done {
			break
		}
		req.NextToken = page.NextToken
	}
	if !slices.Equal(got, want) || !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("pages of 10: sizes %v, lines\n%q\nwant sizes [10 10 5] and\n%q", sizes, got, want)
	}

	if tail := messages(s.Logs(logsRequest{JobID: id, Limit: 5})); !slices.Equal(tail, want[20:]) {
		t.Errorf("tail of 5: %q, want %q", tail, want[20:])
	}
}

// TestLogsFollow: a follower that passes nextToken sees the lines a running
// job appends, and ends with done: true once the job has finished.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	goOn := s.File("go-on")
	script := fmt.Sprintf(`for i in 1 2 3 4 5; do echo "tick $i"; done; while [ ! -e %s ]; do sleep 0.02; done; for i in 6 7 8 9 10; do echo "tick $i"; sleep 0.05; done`, shq(goOn))
	id := s.Submit("q", "ticker", Payload(script, 1))

	var got []string
	req := logsRequest{JobID: id, StartFromHead: true}
	released := false
	deadline := time.Now().Add(30 * time.Second)
	polls := 0
	for {
		r := s.Logs(req)
		polls++
		got = append(got, messages(r)...)
		if r.NextToken != "" {
			req.NextToken = r.NextToken
		}
		if r.Done {
			if !released {
				t.Fatalf("done before the job was let go on, after %q", got)
			}
			break
		}
		if !released && len(got) >= 5 {
			// The first five lines arrived while the job is blocked
			// waiting for go-on: it has not finished. (Its status may
			// still say SCHEDULED or STARTING: the process's state change
			// reaches the job a few milliseconds after its first output.)
			switch r.Status {
			case "SCHEDULED", "STARTING", "RUNNING":
			default:
				t.Errorf("first lines read with the job %s, want it in flight", r.Status)
			}
			if !slices.Equal(got, numbered("tick", 1, 5)) {
				t.Fatalf("while running: %q, want ticks 1..5", got)
			}
			touch(t, goOn)
			released = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower did not reach done within 30s; got %q", got)
		}
		if len(r.Events) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if want := numbered("tick", 1, 10); !slices.Equal(got, want) {
		t.Errorf("followed lines %q, want %q (each once, in order)", got, want)
	}
	if d := s.Describe(id); d.Status != types.ServiceJobStatusSucceeded {
		t.Errorf("job %s after done, want SUCCEEDED", d.Status)
	}
	t.Logf("followed in %d requests", polls)
}

// TestCLI: the built binary submits a job to serve and follows its log.
func TestCLI(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	cli := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		// Only the endpoint and dummy credentials: no AWS configuration of
		// the machine running the tests leaks in.
		env := []string{"SAGEQUEUE_ENDPOINT=" + s.URL, "AWS_ACCESS_KEY_ID=e2e", "AWS_SECRET_ACCESS_KEY=e2e",
			"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "SAGEQUEUE_") {
				env = append(env, kv)
			}
		}
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("sagequeue %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	id := strings.TrimSpace(cli("submit", "-q", "q", "-n", "hello", "--", "sh", "-c", "echo hello"))
	d := s.Describe(id) // the id printed is a job the server knows
	if aws.ToString(d.JobName) != "hello" {
		t.Fatalf("submit printed %q, a job named %q", id, aws.ToString(d.JobName))
	}
	if out := cli("logs", "-f", "--interval", "100ms", id); out != "hello\n" {
		t.Errorf("sagequeue logs -f printed %q, want %q", out, "hello\n")
	}
	if d := s.Describe(id); d.Status != types.ServiceJobStatusSucceeded {
		t.Errorf("after logs -f returned the job is %s, want SUCCEEDED", d.Status)
	}
}

// TestLogsOfJobNeverLaunched: a job whose CreateTrainingJob the endpoint
// refused has an attempt without a training job; its log is empty and done,
// not a server error.
func TestLogsOfJobNeverLaunched(t *testing.T) {
	t.Parallel()
	s := StartServer(t, oneQueue, ServerOptions{})
	// A channel without its required DataSource: the SageMaker client
	// refuses the CreateTrainingJob request, while SubmitServiceJob does not
	// look that deep into the payload.
	id := s.Submit("q", "refused", `{"AlgorithmSpecification":{"ContainerEntrypoint":["true"]},"InputDataConfig":[{"ChannelName":"train"}]}`)
	d := s.WaitDone([]string{id}, 30*time.Second)[0]
	if d.Status != types.ServiceJobStatusFailed || len(d.Attempts) != 1 {
		t.Fatalf("%s with %d attempts (%q), want FAILED after 1", d.Status, len(d.Attempts), aws.ToString(d.StatusReason))
	}
	t.Logf("statusReason %q", aws.ToString(d.StatusReason))
	r := s.Logs(logsRequest{JobID: id, StartFromHead: true})
	if len(r.Events) != 0 || !r.Done {
		t.Errorf("events %q, done %v; want none, done", messages(r), r.Done)
	}
}
