package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// binary is the sagequeue binary TestMain built (the client; its serve runs
// the server binary beside it).
var binary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the go tool is needed to build sagequeue:", err)
		return 1
	}
	out, err := exec.Command(goTool, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		fmt.Fprintf(os.Stderr, "e2e: cannot find the module root (go env GOMOD = %q): %v\n", gomod, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "sagequeue-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// Both binaries: `sagequeue serve` runs sagequeue-server, found next to it.
	binary = filepath.Join(tmp, "sagequeue")
	build := exec.Command(goTool, "build", "-o", tmp+string(filepath.Separator), "./cmd/...")
	build.Dir = filepath.Dir(gomod)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building sagequeue:", err)
		return 1
	}
	return m.Run()
}

// Server is one `sagequeue serve` subprocess and what the test knows of it.
// It keeps its data directory and address across Kill/Stop and Restart.
type Server struct {
	t testing.TB
	// Work is the server's working directory, where training jobs run; tests
	// keep their scratch files here too.
	Work    string
	DataDir string
	Addr    string // host:port, the same for every generation
	URL     string
	// Batch is the SDK client of the current generation.
	Batch *batch.Client
	// Config is the file given to --config; a test may rewrite it before
	// a Restart.
	Config string

	opts    ServerOptions
	args    []string
	env     []string
	http    *http.Client
	stderr  *syncBuffer
	gen     int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// ServerOptions are the flags of `sagequeue serve` a test sets.
type ServerOptions struct {
	Tick          time.Duration // --tick (default 100ms: time limits and ticks act fast)
	StopGrace     time.Duration // --stop-grace (default 2s)
	InstanceLimit int           // --instance-limit
	PlanEndMargin time.Duration // --plan-end-margin (default: the server's, SageMaker's 30m)
	// Host is the address to listen on (127.0.0.1); the port is free.
	Host string
	// Args are more flags (--auth-file, --tls-cert, ...).
	Args []string
	// Key and Secret sign the harness's requests (anything goes without
	// --auth-file).
	Key, Secret string
	// CA, when set, is the certificate the harness's clients trust: the
	// server speaks HTTPS (--tls-cert in Args).
	CA *x509.Certificate
	// RunAs is --run-as. When the tests run as root and it is "", jobs run
	// as root too (--insecure-run-as-root), as the tests' scripts expect
	// to read and write their scratch files.
	RunAs string
	// KeepJobs leaves training jobs running when serve stops, for the
	// next generation to adopt (serve's default). Without it tests run
	// serve with --stop-jobs-on-exit, so that nothing outlives them.
	KeepJobs bool
	// Env are more environment variables of serve.
	Env []string
	// DataDir, if set, is the data directory (else a fresh one).
	DataDir string
}

// StartServer writes config (YAML) to a file and starts `sagequeue serve`
// with it on a free port and a fresh data directory. The server is stopped
// with SIGTERM when the test ends; its stderr goes to the test log if the
// test failed.
func StartServer(t testing.TB, config string, o ServerOptions) *Server {
	t.Helper()
	if o.Tick == 0 {
		o.Tick = 100 * time.Millisecond
	}
	if o.StopGrace == 0 {
		o.StopGrace = 2 * time.Second
	}
	root := t.TempDir()
	s := &Server{t: t, Work: filepath.Join(root, "work"), DataDir: filepath.Join(root, "data"), stderr: &syncBuffer{}, opts: o, env: o.Env}
	if o.DataDir != "" {
		s.DataDir = o.DataDir
	}
	for _, d := range []string{s.Work, s.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(root, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Config = cfg
	s.args = []string{"--data-dir", s.DataDir, "--config", cfg, "--tick", o.Tick.String(), "--stop-grace", o.StopGrace.String()}
	if o.InstanceLimit > 0 {
		s.args = append(s.args, "--instance-limit", strconv.Itoa(o.InstanceLimit))
	}
	if o.PlanEndMargin > 0 {
		s.args = append(s.args, "--plan-end-margin", o.PlanEndMargin.String())
	}
	if !o.KeepJobs {
		s.args = append(s.args, "--stop-jobs-on-exit")
	}
	switch {
	case o.RunAs != "":
		s.args = append(s.args, "--run-as", o.RunAs)
		// Confined jobs must get through the test's directories to theirs.
		for _, d := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	case os.Geteuid() == 0:
		s.args = append(s.args, "--insecure-run-as-root")
	}
	s.args = append(s.args, o.Args...)
	t.Cleanup(func() {
		if s.running() {
			s.stop(syscall.SIGTERM, 30*time.Second)
			if s.waitErr != nil {
				t.Errorf("sagequeue serve did not exit cleanly on SIGTERM: %v", s.waitErr)
			}
		}
		// Whatever a killed generation left running ends with the test.
		stopSupervisors(s.DataDir)
		if !t.Failed() {
			return
		}
		t.Logf("stderr of sagequeue serve (%s):\n%s", s.DataDir, s.stderr.String())
		if keep := os.Getenv("E2E_KEEP"); keep != "" {
			dst := filepath.Join(keep, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
			if out, err := exec.Command("cp", "-a", root, dst).CombinedOutput(); err != nil {
				t.Logf("E2E_KEEP: copying %s: %v %s", root, err, out)
			} else {
				t.Logf("E2E_KEEP: the server's directories are in %s", dst)
			}
		}
	})
	s.start()
	return s
}

var servingLine = regexp.MustCompile(`msg="sagequeue serving" addr=(\S+)`)

// start runs a new generation of the server and waits until it answers.
func (s *Server) start() {
	s.t.Helper()
	s.gen++
	listen := s.Addr
	if listen == "" {
		host := s.opts.Host
		if host == "" {
			host = "127.0.0.1"
		}
		listen = net.JoinHostPort(host, "0") // the server picks a free port and logs it
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := s.spawn(listen, deadline)
		if err == nil {
			s.Addr, s.URL = addr, "http://"+addr
			if s.opts.CA != nil {
				s.URL = "https://" + addr
			}
			break
		}
		// Restarting on the same port can race with a socket that briefly
		// holds it (another test's client connection): try again.
		if s.Addr != "" && strings.Contains(s.stderr.String(), "address already in use") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.t.Fatalf("starting sagequeue serve (generation %d): %v", s.gen, err)
	}
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 30 * time.Second}
	if s.opts.CA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(s.opts.CA)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	s.http = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	key, secret := s.opts.Key, s.opts.Secret
	if key == "" {
		key, secret = "e2e", "e2e"
	}
	s.Batch = s.Client(key, secret)
	// It logs "serving" once the configuration is applied; make sure the API
	// answers through the SDK too.
	if _, err := s.Batch.DescribeServiceEnvironments(context.Background(), &batch.DescribeServiceEnvironmentsInput{}); err != nil {
		s.t.Fatalf("sagequeue serve does not answer DescribeServiceEnvironments: %v", err)
	}
}

// Client is the SDK Batch client of the current generation, signing with
// key and secret; opts change it further.
func (s *Server) Client(key, secret string, opts ...func(*batch.Options)) *batch.Client {
	return batch.New(batch.Options{
		BaseEndpoint: aws.String(s.URL),
		Region:       "local",
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		HTTPClient:   s.http,
	}, opts...)
}

// HTTP is the server's HTTP client (it trusts the server's certificate).
func (s *Server) HTTP() *http.Client { return s.http }

// spawn starts the process and returns the address it serves on.
func (s *Server) spawn(listen string, deadline time.Time) (string, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(binary, append([]string{"serve", "--listen", listen}, s.args...)...)
	cmd.Dir = s.Work
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = pw, pw
	// If the test binary dies, the server shuts down (and stops its jobs).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return "", err
	}
	pw.Close()
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	ready := make(chan string, 1)
	prefix := fmt.Sprintf("[serve#%d pid %d] ", s.gen, cmd.Process.Pid)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.stderr.WriteLine(prefix + line)
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	select {
	case addr := <-ready:
		return addr, nil
	case <-exited:
		return "", fmt.Errorf("it exited before serving: %v", s.waitErr)
	case <-time.After(time.Until(deadline)):
		cmd.Process.Kill()
		<-exited
		return "", errors.New("it did not serve within 30s")
	}
}

func (s *Server) running() bool {
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Pid is the process id of the current generation.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (s *Server) Stop() {
	s.t.Helper()
	s.stop(syscall.SIGTERM, 30*time.Second)
	if s.waitErr != nil {
		s.t.Fatalf("sagequeue serve did not exit cleanly on SIGTERM: %v", s.waitErr)
	}
}

// Kill sends SIGKILL and waits until the process is gone.
func (s *Server) Kill() {
	s.t.Helper()
	s.stop(syscall.SIGKILL, 10*time.Second)
}

func (s *Server) stop(sig syscall.Signal, timeout time.Duration) {
	s.t.Helper()
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("sagequeue serve did not exit within %s of %v", timeout, sig)
	}
}

// Restart starts a new generation on the same data directory and address.
func (s *Server) Restart() {
	s.t.Helper()
	if s.running() {
		s.t.Fatal("Restart of a server that is still running")
	}
	s.start()
}

// Stderr is what every generation of the server wrote so far.
func (s *Server) Stderr() string { return s.stderr.String() }

// File is a path in the server's working directory.
func (s *Server) File(name string) string { return filepath.Join(s.Work, name) }

// ---- jobs through the SDK ----

const jobType = types.ServiceJobTypeSagemakerTraining

// Payload is a minimal CreateTrainingJob request that runs script with
// `sh -c` on the local endpoint and takes instances instances.
func Payload(script string, instances int) string {
	b, err := json.Marshal(map[string]any{
		"AlgorithmSpecification": map[string]any{"ContainerEntrypoint": []string{"sh", "-c"}, "ContainerArguments": []string{script}},
		"ResourceConfig":         map[string]any{"InstanceCount": instances},
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Submit submits a job and returns its id.
func (s *Server) Submit(queue, name, payload string, opts ...func(*batch.SubmitServiceJobInput)) string {
	s.t.Helper()
	in := &batch.SubmitServiceJobInput{
		JobName: aws.String(name), JobQueue: aws.String(queue), ServiceJobType: jobType,
		ServiceRequestPayload: aws.String(payload),
	}
	for _, o := range opts {
		o(in)
	}
	out, err := s.Batch.SubmitServiceJob(context.Background(), in)
	if err != nil {
		s.t.Fatalf("SubmitServiceJob %s: %v", name, err)
	}
	if aws.ToString(out.JobId) == "" {
		s.t.Fatalf("SubmitServiceJob %s returned no jobId", name)
	}
	return aws.ToString(out.JobId)
}

func withShare(share string, priority int32) func(*batch.SubmitServiceJobInput) {
	return func(in *batch.SubmitServiceJobInput) {
		in.ShareIdentifier, in.SchedulingPriority = aws.String(share), aws.Int32(priority)
	}
}

func withRetry(attempts int32, rules ...types.ServiceJobEvaluateOnExit) func(*batch.SubmitServiceJobInput) {
	return func(in *batch.SubmitServiceJobInput) {
		in.RetryStrategy = &types.ServiceJobRetryStrategy{Attempts: aws.Int32(attempts), EvaluateOnExit: rules}
	}
}

// Describe returns DescribeServiceJob of a job.
func (s *Server) Describe(id string) *batch.DescribeServiceJobOutput {
	s.t.Helper()
	out, err := s.Batch.DescribeServiceJob(context.Background(), &batch.DescribeServiceJobInput{JobId: aws.String(id)})
	if err != nil {
		s.t.Fatalf("DescribeServiceJob %s: %v", id, err)
	}
	return out
}

// WaitFor polls a job until cond holds, failing the test after timeout.
func (s *Server) WaitFor(id string, timeout time.Duration, what string, cond func(*batch.DescribeServiceJobOutput) bool) *batch.DescribeServiceJobOutput {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d := s.Describe(id)
		if cond(d) {
			return d
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s (%s) is not %s after %s: status %s, reason %q, %d attempts",
				id, aws.ToString(d.JobName), what, timeout, d.Status, aws.ToString(d.StatusReason), len(d.Attempts))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitStatus waits until a job has status st.
func (s *Server) WaitStatus(id string, st types.ServiceJobStatus, timeout time.Duration) *batch.DescribeServiceJobOutput {
	s.t.Helper()
	return s.WaitFor(id, timeout, string(st), func(d *batch.DescribeServiceJobOutput) bool { return d.Status == st })
}

// WaitDone waits until every job has ended and returns them in order.
func (s *Server) WaitDone(ids []string, timeout time.Duration) []*batch.DescribeServiceJobOutput {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	out := make([]*batch.DescribeServiceJobOutput, len(ids))
	for i, id := range ids {
		out[i] = s.WaitFor(id, time.Until(deadline), "finished", finished)
	}
	return out
}

func finished(d *batch.DescribeServiceJobOutput) bool {
	return d.Status == types.ServiceJobStatusSucceeded || d.Status == types.ServiceJobStatusFailed
}

// ListAll lists the jobs of a queue with a status through the SDK paginator.
func (s *Server) ListAll(queue string, st types.ServiceJobStatus) []types.ServiceJobSummary {
	s.t.Helper()
	in := &batch.ListServiceJobsInput{JobQueue: aws.String(queue), MaxResults: aws.Int32(100)}
	if st != "" {
		in.JobStatus = st
	} else {
		// Every status: Batch lists RUNNING jobs only when given no status.
		in.Filters = []types.KeyValuesPair{{Name: aws.String("AFTER_CREATED_AT"), Values: []string{"0"}}}
	}
	var all []types.ServiceJobSummary
	p := batch.NewListServiceJobsPaginator(s.Batch, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			s.t.Fatalf("ListServiceJobs %s %s: %v", queue, st, err)
		}
		all = append(all, page.JobSummaryList...)
	}
	return all
}

// ---- getservicejoblogs over plain HTTP ----

type logsRequest struct {
	JobID         string `json:"jobId"`
	Attempt       int32  `json:"attempt,omitempty"`
	StartFromHead bool   `json:"startFromHead,omitempty"`
	NextToken     string `json:"nextToken,omitempty"`
	Limit         int32  `json:"limit,omitempty"`
}

type logsResponse struct {
	JobID           string `json:"jobId"`
	Attempt         int32  `json:"attempt"`
	TrainingJobName string `json:"trainingJobName"`
	Status          string `json:"status"`
	Events          []struct {
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	} `json:"events"`
	NextToken string `json:"nextToken"`
	Done      bool   `json:"done"`
}

// Logs calls POST /v1/getservicejoblogs.
func (s *Server) Logs(req logsRequest) logsResponse {
	s.t.Helper()
	body, _ := json.Marshal(req)
	resp, err := s.http.Post(s.URL+"/v1/getservicejoblogs", "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("getservicejoblogs: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("getservicejoblogs %s: HTTP %d %s: %s", body, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), b)
	}
	var out logsResponse
	if err := json.Unmarshal(b, &out); err != nil {
		s.t.Fatalf("getservicejoblogs: %v: %s", err, b)
	}
	return out
}

// ---- processes ----

// processGone reports whether pid has exited: it does not exist, it is a
// zombie waiting for its new parent, or the pid now belongs to another
// program than want (a reuse).
func processGone(pid int, want string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	if state := b[i+2]; state == 'Z' || state == 'X' {
		return true
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return want != "" && !strings.Contains(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), want)
}

// supervisors lists the training jobs' supervisors of a data directory
// (their argv is "sagequeue-supervisor DATA_DIR/jobs/<name>").
func supervisors(dataDir string) []int {
	entries, _ := os.ReadDir("/proc")
	prefix := "sagequeue-supervisor " + filepath.Join(dataDir, "jobs") + "/"
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.HasPrefix(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), prefix) && !processGone(pid, "") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopSupervisors asks every supervisor of a data directory to stop its
// job (SIGTERM: its process group gets SIGTERM, then SIGKILL), and waits a
// little for them.
func stopSupervisors(dataDir string) {
	pids := supervisors(dataDir)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(supervisors(dataDir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// readPid reads a pid a job wrote to a file, waiting for it to appear.
func readPid(t testing.TB, path string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if s := strings.TrimSpace(string(b)); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s: not a pid: %q", path, b)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFile waits until a file exists.
func waitFile(t testing.TB, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func touch(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// shq quotes a string for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// blocker is a script that holds its instances until the file release
// exists.
func blocker(release string) string {
	return "while [ ! -e " + shq(release) + " ]; do sleep 0.05; done"
}

// syncBuffer collects lines from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) WriteLine(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
	b.buf.WriteByte('\n')
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
