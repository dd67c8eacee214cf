package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/server"
)

// TestSageMakerEndpointNotOnAPIPort: a SageMaker request sent to the API's
// port runs nothing. The local endpoint runs whatever command a request
// names, past the scheduler and its capacity; only the engine may reach it.
func TestSageMakerEndpointNotOnAPIPort(t *testing.T) {
	url := startServer(t, metricsConfig, server.Options{})
	marker := filepath.Join(t.TempDir(), "ran")
	body := fmt.Sprintf(`{"TrainingJobName":"direct","AlgorithmSpecification":{"TrainingInputMode":"File","ContainerEntrypoint":["touch",%q]},`+
		`"RoleArn":"arn:aws:iam::000000000000:role/x","OutputDataConfig":{"S3OutputPath":"s3://b/o"},`+
		`"ResourceConfig":{"InstanceType":"ml.m5.xlarge","InstanceCount":50,"VolumeSizeInGB":1},"StoppingCondition":{"MaxRuntimeInSeconds":60}}`, marker)
	for _, target := range []string{"SageMaker.CreateTrainingJob", "SageMaker.ListTrainingJobs"} {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || strings.Contains(string(answer), "TrainingJob") {
			t.Errorf("%s on the API port: HTTP %d %s", target, resp.StatusCode, answer)
		}
	}
	// The engine still reaches the endpoint: a submitted job runs.
	c := batchClient(url)
	id := submit(t, c, "through-the-queue", 1, "touch "+marker+".queued")
	waitFor(t, "the queued job to succeed", func() bool { return status(t, c, id) == types.ServiceJobStatusSucceeded })
	if _, err := os.Stat(marker + ".queued"); err != nil {
		t.Fatalf("the job through the queue did not run: %v", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the request to the API port ran a command (stat: %v)", err)
	}
}

// TestIdleConnectionsAreClosed: a keep-alive connection that stays idle is
// closed by the server, so idle clients cannot hold its file descriptors.
func TestIdleConnectionsAreClosed(t *testing.T) {
	url := startServer(t, metricsConfig, server.Options{Limits: server.Limits{IdleTimeout: 300 * time.Millisecond}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/describejobqueues HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("HTTP %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	// Now idle: the server must hang up (generously bounded: the machine
	// may be loaded).
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("reading the idle connection: %v %v, want EOF (closed by the server)", n, err)
	}
}

// TestConnectionCap: past MaxConnections a connection waits to be served
// until another closes.
func TestConnectionCap(t *testing.T) {
	url := startServer(t, metricsConfig, server.Options{Limits: server.Limits{MaxConnections: 2}})
	addr := strings.TrimPrefix(url, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A first byte, so each is surely accepted and served (not just
		// queued by the kernel).
		fmt.Fprintf(c, "P")
		held = append(held, c)
	}
	answered := make(chan error, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Post(url+"/v1/describejobqueues", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a third connection was served while two held the cap (err %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting connection was not served after a slot freed")
	}
}

// TestNoAnswerBeforeConfigApplied: clients that connect while the server
// starts never hear that a queue of its configuration does not exist; they
// wait until it is applied.
func TestNoAnswerBeforeConfigApplied(t *testing.T) {
	// A configuration long enough to take a while to apply.
	var cfg strings.Builder
	cfg.WriteString("environments:\n  - {name: box, maxCapacity: 4}\nqueues:\n")
	for i := range 40 {
		fmt.Fprintf(&cfg, "  - {name: q%d, priority: %d, environments: [box]}\n", i, i)
	}
	cfg.WriteString("  - {name: last, priority: 1, environments: [box]}\n")
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(cfg.String()), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	var refused, answered atomic.Int64
	var firstBad atomic.Value
	c := batchClient("http://" + addr)
	for range 8 {
		clients.Go(func() {
			for ctx.Err() == nil {
				_, err := c.SubmitServiceJob(ctx, &batch.SubmitServiceJobInput{
					JobName: aws.String("early"), JobQueue: aws.String("last"), ServiceJobType: types.ServiceJobTypeSagemakerTraining,
					ServiceRequestPayload: aws.String(`{"AlgorithmSpecification":{"ContainerEntrypoint":["true"]}}`),
				})
				var ae smithy.APIError
				switch {
				case err == nil:
					answered.Add(1)
				case errors.As(err, &ae):
					firstBad.CompareAndSwap(nil, err.Error())
					answered.Add(1)
				default:
					refused.Add(1) // not listening yet, or shutting down
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- server.Run(ctx, server.Options{Listen: addr, DataDir: filepath.Join(dir, "data"), ConfigFile: path,
			Tick: 50 * time.Millisecond, StopGrace: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			// The jobs the clients submit start; none may outlive the
			// test and write into its directory as it is removed.
			StopJobsOnExit: true,
			Ready:          func(string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not start in 60s")
	}
	deadline := time.Now().Add(30 * time.Second)
	for answered.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	clients.Wait()
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	if bad := firstBad.Load(); bad != nil {
		t.Fatalf("a client got an error answer while the server started: %s", bad)
	}
	if answered.Load() == 0 {
		t.Fatal("no submit was answered")
	}
	t.Logf("%d answered, %d connection attempts before the server listened", answered.Load(), refused.Load())
}
