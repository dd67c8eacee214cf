package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// sagequeue is a `sagequeue serve` of this run.
type sagequeue struct {
	bin    string
	url    string
	server *daemon
}

// benchConfig mirrors the Slurm cluster: an environment as large as the
// Slurm partition can hold jobs (the latency measure), and a DISABLED one
// that queues jobs and never starts them (the throughput measure).
const benchConfig = `
environments:
  - {name: idle, maxCapacity: 64}
  - {name: off, maxCapacity: 1, state: DISABLED}
queues:
  - {name: run, priority: 1, environments: [idle]}
  - {name: hold, priority: 1, environments: [off]}
`

var servingLine = regexp.MustCompile(`msg="sagequeue serving" addr=(\S+)`)

func startSagequeue(ctx context.Context, bin, dir string) (*sagequeue, error) {
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(benchConfig), 0o644); err != nil {
		return nil, err
	}
	log := filepath.Join(dir, "serve.log")
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--config", config}
	if os.Geteuid() == 0 {
		// As Slurm's jobs do here: the jobs write their start time into
		// this run's private directory.
		args = append(args, "--insecure-run-as-root")
	}
	d, err := startDaemon("sagequeue serve", log, os.Environ(), work, append([]string{filepath.Join(bin, "sagequeue")}, args...)...)
	if err != nil {
		return nil, err
	}
	s := &sagequeue{bin: filepath.Join(bin, "sagequeue"), server: d}
	var addr string
	waitFor(30*time.Second, func() bool {
		if ctx.Err() != nil || !d.running() {
			return true
		}
		f, err := os.Open(log)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				addr = m[1]
				return true
			}
		}
		return false
	})
	if addr == "" {
		d.stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sagequeue serve did not start: %s", d.tail())
	}
	s.url = "http://" + addr
	return s, nil
}

func (s *sagequeue) stop() { s.server.stop() }

func (s *sagequeue) cli(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"--endpoint", s.url}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	return cmd
}

func (s *sagequeue) cliSubmitter() submitter {
	return submitter{
		name:      "sagequeue (sagequeue submit)",
		goal:      1,
		serverPid: s.server.pid,
		command: func(ctx context.Context, _ int) *exec.Cmd {
			return s.cli(ctx, "submit", "-q", "hold", "-n", "bench", "--", "true")
		},
	}
}

// submitBody is SubmitServiceJob as the CLI sends it for `submit -q hold -n
// bench -- true`.
const submitBody = `{"jobName":"bench","jobQueue":"hold","serviceJobType":"SAGEMAKER_TRAINING",` +
	`"serviceRequestPayload":"{\"AlgorithmSpecification\":{\"ContainerEntrypoint\":[\"true\"]}}"}`

// httpSubmitter makes the CLI's request as raw HTTP from this process, each
// on a new connection, as a one-shot client would: the server's capacity for
// one-shot clients, without the cost of starting a process per job.
func (s *sagequeue) httpSubmitter() submitter {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	return submitter{
		name:      "sagequeue (raw HTTP POST)",
		goal:      2,
		serverPid: s.server.pid,
		request: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/submitservicejob", strings.NewReader(submitBody))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
			}
			return nil
		},
	}
}

// curlSubmitter is the same request from curl, a process per job.
func (s *sagequeue) curlSubmitter() submitter {
	return submitter{
		name:      "sagequeue (curl POST)",
		serverPid: s.server.pid,
		needs:     "curl",
		command: func(ctx context.Context, _ int) *exec.Cmd {
			return exec.CommandContext(ctx, "curl", "-sSf", "-o", "/dev/null", "-X", "POST",
				"-H", "Content-Type: application/json", "--data-binary", submitBody, s.url+"/v1/submitservicejob")
		},
	}
}

func (s *sagequeue) latencyProbe(tmp string) latencyProbe {
	return latencyProbe{
		name: "sagequeue",
		submit: func(ctx context.Context, stamp string) (string, error) {
			out, err := s.cli(ctx, "submit", "-q", "run", "-n", "latency", "--", "sh", "-c", "date +%s%N > "+stamp).Output()
			return strings.TrimSpace(string(out)), err
		},
		state: func(ctx context.Context, id string) (jobState, error) {
			out, err := s.cli(ctx, "describe", id, "-o", "json").Output()
			if err != nil {
				return waiting, err
			}
			var j struct{ Status string }
			if err := json.Unmarshal(out, &j); err != nil {
				return waiting, err
			}
			switch j.Status {
			case "SUBMITTED", "RUNNABLE", "SCHEDULED", "STARTING":
				return waiting, nil
			case "RUNNING":
				return running, nil
			case "SUCCEEDED":
				return finished, nil
			default:
				return waiting, fmt.Errorf("job %s is %s", id, j.Status)
			}
		},
		stampDir: tmp,
	}
}
