//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/events"
)

// crashHelperEnv makes the test binary act as a server that is then killed
// (see TestRestartAfterCrash).
const (
	crashHelperEnv  = "LOCALSM_TEST_CRASH_HELPER_DIR"
	crashScratchEnv = "LOCALSM_TEST_CRASH_SCRATCH"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashHelperEnv); dir != "" {
		crashHelper(dir)
		return
	}
	os.Exit(m.Run())
}

var quiet = slog.New(slog.DiscardHandler)

// recorder collects emitted events and notices concurrent calls for one
// job, and events that went out before the state they tell of was saved
// (in dir, when set).
type recorder struct {
	mu       sync.Mutex
	evs      []events.TrainingJobStateChange
	inflight map[string]int
	overlap  bool
	dir      string
	unsaved  []string
}

func newRecorder() *recorder { return &recorder{inflight: map[string]int{}} }

func (r *recorder) emit(ctx context.Context, ev events.TrainingJobStateChange) {
	name := ev.Detail.TrainingJobName
	r.mu.Lock()
	r.inflight[name]++
	if r.inflight[name] > 1 {
		r.overlap = true
	}
	dir := r.dir
	r.mu.Unlock()
	if dir != "" {
		var rec record
		b, err := os.ReadFile(filepath.Join(dir, name, stateFile))
		if err == nil {
			err = json.Unmarshal(b, &rec)
		}
		if err != nil || rec.LastModifiedTime.Before(ev.Time) {
			r.mu.Lock()
			r.unsaved = append(r.unsaved, fmt.Sprintf("%s %s/%s (saved: %s/%s, %v)", name, ev.Detail.TrainingJobStatus, ev.Detail.SecondaryStatus, rec.Status, rec.SecondaryStatus, err))
			r.mu.Unlock()
		}
	}
	time.Sleep(time.Millisecond) // widen the window for overlapping calls
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.inflight[name]--
	r.mu.Unlock()
}

func (r *recorder) forJob(name string) []events.TrainingJobStateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.TrainingJobStateChange
	for _, ev := range r.evs {
		if ev.Detail.TrainingJobName == name {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvents waits until the job's events reach a terminal status.
func (r *recorder) waitEvents(t *testing.T, name string) []events.TrainingJobStateChange {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		evs := r.forJob(name)
		if n := len(evs); n > 0 && terminal(evs[n-1].Detail.TrainingJobStatus) {
			return evs
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no terminal event for %s; got %v", name, statuses(r.forJob(name)))
	return nil
}

// waitEvent waits until the job's events include status ("Status/Secondary").
func (f *fixture) waitEvent(t *testing.T, name, status string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !slices.Contains(statuses(f.rec.forJob(name)), status) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s event; got %v", name, status, statuses(f.rec.forJob(name)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statuses(evs []events.TrainingJobStateChange) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Detail.TrainingJobStatus+"/"+ev.Detail.SecondaryStatus)
	}
	return out
}

type fixture struct {
	srv *Server
	sm  *sagemaker.Client
	rec *recorder
	dir string
}

func start(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{rec: newRecorder()}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	f.dir = cfg.Dir
	f.rec.dir = cfg.Dir
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 5 * time.Second
	}
	cfg.Emit = f.rec.emit
	cfg.Logger = quiet
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		if f.rec.overlap {
			t.Error("Emit was called concurrently for one job")
		}
		for _, u := range f.rec.unsaved {
			t.Errorf("an event went out before its state was saved: %s", u)
		}
	})
	f.sm = client(hs.URL)
	return f
}

func client(url string) *sagemaker.Client {
	return sagemaker.New(sagemaker.Options{
		BaseEndpoint:     aws.String(url),
		Region:           "local",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func payload(name string, argv ...string) *sagemaker.CreateTrainingJobInput {
	return &sagemaker.CreateTrainingJobInput{
		TrainingJobName: aws.String(name),
		RoleArn:         aws.String("arn:aws:iam::000000000000:role/local"),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingInputMode:   types.TrainingInputModeFile,
			TrainingImage:       aws.String("local/not-pulled:latest"),
			ContainerEntrypoint: argv,
		},
		OutputDataConfig:  &types.OutputDataConfig{S3OutputPath: aws.String("s3://bucket/output")},
		ResourceConfig:    &types.ResourceConfig{InstanceType: types.TrainingInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1), VolumeSizeInGB: aws.Int32(10)},
		StoppingCondition: &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(3600)},
	}
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func (f *fixture) create(t *testing.T, in *sagemaker.CreateTrainingJobInput) {
	t.Helper()
	out, err := f.sm.CreateTrainingJob(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateTrainingJob %s: %v", *in.TrainingJobName, err)
	}
	if want := "arn:aws:sagemaker:local:000000000000:training-job/" + strings.ToLower(*in.TrainingJobName); aws.ToString(out.TrainingJobArn) != want {
		t.Fatalf("TrainingJobArn = %s, want %s", aws.ToString(out.TrainingJobArn), want)
	}
}

func (f *fixture) describe(t *testing.T, name string) *sagemaker.DescribeTrainingJobOutput {
	t.Helper()
	out, err := f.sm.DescribeTrainingJob(context.Background(), &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeTrainingJob %s: %v", name, err)
	}
	return out
}

// wait describes the job until it has ended.
func (f *fixture) wait(t *testing.T, name string) *sagemaker.DescribeTrainingJobOutput {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := f.describe(t, name)
		if terminal(string(out.TrainingJobStatus)) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s/%s", name, out.TrainingJobStatus, out.SecondaryStatus)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog reads the job's log until a line contains substr.
func (f *fixture) waitLog(t *testing.T, name, substr string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		page, err := f.srv.ReadLog(context.Background(), name, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page.Lines {
			if strings.Contains(l, substr) {
				return page.Lines
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log of %s never showed %q", name, substr)
	return nil
}

// logValue finds "KEY=value" in log lines.
func logValue(lines []string, key string) (string, bool) {
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

func pidFromLog(t *testing.T, lines []string, key string) int {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("no %q line in %q", key, lines)
	return 0
}

func TestCompletesWithEventsAndSageMakerEnvironment(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "data.csv"), []byte("1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := payload("ok-job", sh(`
env | grep -E '^(SM_|TRAINING_JOB_|FOO=)' | sort
printf 'HPFILE=%s\n' "$(cat "$SM_INPUT_CONFIG_DIR/hyperparameters.json")"
printf 'RCFILE=%s\n' "$(cat "$SM_INPUT_CONFIG_DIR/resourceconfig.json")"
printf 'IDCFILE=%s\n' "$(cat "$SM_INPUT_CONFIG_DIR/inputdataconfig.json")"
ls "$SM_CHANNEL_LOCAL" | sed 's/^/LOCALFILE=/'
echo "PWD=$(pwd)"
echo trained > "$SM_MODEL_DIR/model.txt"
echo to-stderr >&2
`)...)
	in.HyperParameters = map[string]string{"epochs": "10", "lr": "0.1", "name": "abc"}
	in.Environment = map[string]string{"FOO": "bar baz", "SM_MODEL_DIR": "/not/ours"}
	in.Tags = []types.Tag{{Key: aws.String("sagequeue:jobId"), Value: aws.String("j-1")}}
	in.InputDataConfig = []types.Channel{
		{ChannelName: aws.String("train"), DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("s3://bucket/train")}}},
		{ChannelName: aws.String("local"), DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{S3DataType: types.S3DataTypeS3Prefix, S3Uri: aws.String("file://" + data)}}},
	}
	f.create(t, in)
	out := f.wait(t, "ok-job")
	if out.TrainingJobStatus != types.TrainingJobStatusCompleted || out.SecondaryStatus != types.SecondaryStatusCompleted {
		t.Fatalf("status %s/%s (%s)", out.TrainingJobStatus, out.SecondaryStatus, aws.ToString(out.FailureReason))
	}

	// Events: the exact sequence, the envelope, and times in ms that
	// agree with Describe.
	evs := f.rec.waitEvents(t, "ok-job")
	want := []string{"InProgress/Pending", "InProgress/Downloading", "InProgress/Training", "Completed/Completed"}
	if got := statuses(evs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", got, want)
	}
	arn := "arn:aws:sagemaker:local:000000000000:training-job/ok-job"
	ids := map[string]bool{}
	for _, ev := range evs {
		if ev.Version != "0" || ev.Source != "aws.sagemaker" || ev.DetailType != "SageMaker Training Job State Change" ||
			ev.Account != "000000000000" || ev.Region != "local" || len(ev.Resources) != 1 || ev.Resources[0] != arn ||
			ev.Detail.TrainingJobArn != arn || ev.Detail.Tags["sagequeue:jobId"] != "j-1" || ev.ID == "" || ids[ev.ID] {
			t.Fatalf("bad envelope %+v", ev)
		}
		ids[ev.ID] = true
		if ev.Time.UnixMilli() != int64(ev.Detail.LastModifiedTime) {
			t.Errorf("event time %v vs LastModifiedTime %d", ev.Time, ev.Detail.LastModifiedTime)
		}
	}
	last := evs[len(evs)-1].Detail
	if int64(last.CreationTime) != out.CreationTime.UnixMilli() ||
		int64(last.TrainingStartTime) != out.TrainingStartTime.UnixMilli() ||
		int64(last.TrainingEndTime) != out.TrainingEndTime.UnixMilli() ||
		int64(last.LastModifiedTime) != out.LastModifiedTime.UnixMilli() {
		t.Errorf("event times %+v differ from Describe %v %v %v %v", last, out.CreationTime, out.TrainingStartTime, out.TrainingEndTime, out.LastModifiedTime)
	}
	if ms := int64(last.CreationTime); ms < time.Now().Add(-time.Minute).UnixMilli() || ms > time.Now().UnixMilli() {
		t.Errorf("CreationTime %d is not epoch milliseconds of now", ms)
	}
	// Transitions in events and Describe: each one ends where the next
	// starts.
	if len(last.SecondaryStatusTransitions) != 4 || len(out.SecondaryStatusTransitions) != 4 {
		t.Fatalf("transitions %+v / %+v", last.SecondaryStatusTransitions, out.SecondaryStatusTransitions)
	}
	for i, tr := range out.SecondaryStatusTransitions {
		ev := last.SecondaryStatusTransitions[i]
		if string(tr.Status) != ev.Status || tr.StartTime.UnixMilli() != int64(ev.StartTime) || tr.EndTime == nil || tr.EndTime.UnixMilli() != int64(ev.EndTime) {
			t.Errorf("transition %d: %+v vs event %+v", i, tr, ev)
		}
		if i > 0 && !out.SecondaryStatusTransitions[i-1].EndTime.Equal(*tr.StartTime) {
			t.Errorf("transition %d starts at %v, previous ended %v", i, tr.StartTime, out.SecondaryStatusTransitions[i-1].EndTime)
		}
	}

	// Describe echoes the request.
	if out.AlgorithmSpecification == nil || out.AlgorithmSpecification.ContainerEntrypoint[0] != "sh" || aws.ToString(out.AlgorithmSpecification.TrainingImage) != "local/not-pulled:latest" ||
		out.HyperParameters["epochs"] != "10" || aws.ToString(out.RoleArn) != "arn:aws:iam::000000000000:role/local" ||
		out.ResourceConfig == nil || aws.ToInt32(out.ResourceConfig.InstanceCount) != 1 || out.StoppingCondition == nil ||
		aws.ToInt32(out.StoppingCondition.MaxRuntimeInSeconds) != 3600 || aws.ToString(out.OutputDataConfig.S3OutputPath) != "s3://bucket/output" ||
		len(out.InputDataConfig) != 2 || out.Environment["FOO"] != "bar baz" {
		t.Errorf("Describe does not echo the request: %+v", out)
	}
	jobDir := filepath.Join(f.dir, "ok-job")
	if got, want := aws.ToString(out.ModelArtifacts.S3ModelArtifacts), "file://"+filepath.Join(jobDir, "model")+"/"; got != want {
		t.Errorf("S3ModelArtifacts %s, want %s", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(jobDir, "model", "model.txt")); err != nil || string(b) != "trained\n" {
		t.Errorf("model/model.txt: %q %v", b, err)
	}

	// What the process saw.
	page, err := f.srv.ReadLog(context.Background(), "ok-job", 0, 0)
	if err != nil || !page.Done {
		t.Fatalf("ReadLog: %+v %v", page, err)
	}
	lines := page.Lines
	cwd, _ := os.Getwd()
	wantEnv := map[string]string{
		"SM_MODEL_DIR":        filepath.Join(jobDir, "model"),
		"SM_OUTPUT_DIR":       filepath.Join(jobDir, "output"),
		"SM_OUTPUT_DATA_DIR":  filepath.Join(jobDir, "output", "data"),
		"SM_INPUT_DIR":        filepath.Join(jobDir, "input"),
		"SM_INPUT_CONFIG_DIR": filepath.Join(jobDir, "input", "config"),
		"SM_CHANNELS":         `["local","train"]`,
		"SM_CHANNEL_TRAIN":    filepath.Join(jobDir, "input", "data", "train"),
		"SM_CHANNEL_LOCAL":    filepath.Join(jobDir, "input", "data", "local"),
		"SM_HP_EPOCHS":        "10",
		"SM_HP_LR":            "0.1",
		"SM_HP_NAME":          "abc",
		"SM_CURRENT_HOST":     "algo-1",
		"SM_HOSTS":            `["algo-1"]`,
		"SM_NUM_CPUS":         strconv.Itoa(runtime.NumCPU()),
		"SM_NUM_GPUS":         strconv.Itoa(countGPUs()),
		"TRAINING_JOB_NAME":   "ok-job",
		"TRAINING_JOB_ARN":    arn,
		"FOO":                 "bar baz",
		"LOCALFILE":           "data.csv",
		"PWD":                 cwd,
	}
	for k, v := range wantEnv {
		if got, ok := logValue(lines, k); !ok || got != v {
			t.Errorf("%s = %q (%v), want %q", k, got, ok, v)
		}
	}
	var hps map[string]any
	if v, _ := logValue(lines, "SM_HPS"); json.Unmarshal([]byte(v), &hps) != nil || hps["epochs"] != 10.0 || hps["lr"] != 0.1 || hps["name"] != "abc" {
		t.Errorf("SM_HPS = %q", v)
	}
	var hpFile map[string]string
	if v, _ := logValue(lines, "HPFILE"); json.Unmarshal([]byte(v), &hpFile) != nil || len(hpFile) != 3 || hpFile["epochs"] != "10" || hpFile["name"] != "abc" {
		t.Errorf("hyperparameters.json = %q", v)
	}
	var rc struct {
		CurrentHost  string   `json:"current_host"`
		Hosts        []string `json:"hosts"`
		Iface        string   `json:"network_interface_name"`
		InstanceType string   `json:"current_instance_type"`
	}
	if v, _ := logValue(lines, "RCFILE"); json.Unmarshal([]byte(v), &rc) != nil || rc.CurrentHost != "algo-1" || len(rc.Hosts) != 1 || rc.Iface != "eth0" || rc.InstanceType != "ml.m5.xlarge" {
		t.Errorf("resourceconfig.json = %q", v)
	}
	var idc map[string]map[string]any
	if v, _ := logValue(lines, "IDCFILE"); json.Unmarshal([]byte(v), &idc) != nil || idc["train"]["TrainingInputMode"] != "File" || idc["local"] == nil {
		t.Errorf("inputdataconfig.json = %q", v)
	}
	var te map[string]any
	if v, _ := logValue(lines, "SM_TRAINING_ENV"); json.Unmarshal([]byte(v), &te) != nil || te["job_name"] != "ok-job" || te["model_dir"] != wantEnv["SM_MODEL_DIR"] {
		t.Errorf("SM_TRAINING_ENV = %q", v)
	}
	var stderr, note bool
	for _, l := range lines {
		stderr = stderr || l == "to-stderr"
		note = note || strings.Contains(l, "s3://bucket/train is not downloaded")
	}
	if !stderr || !note {
		t.Errorf("log lacks stderr (%v) or the channel note (%v): %q", stderr, note, lines)
	}
	if p, err := f.srv.LogPath("ok-job"); err != nil || p != filepath.Join(jobDir, "output.log") {
		t.Errorf("LogPath = %s, %v", p, err)
	}
	if _, err := f.srv.LogPath("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LogPath(unknown) = %v", err)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	cases := []struct {
		name, reason string
		argv         []string
		drop         bool // no entry point
		events       []string
	}{
		{name: "exit-code", argv: sh("echo out; echo first >&2; echo 'last words' >&2; echo more out; exit 3"),
			reason: "AlgorithmError: exit code 3: last words",
			events: []string{"InProgress/Pending", "InProgress/Downloading", "InProgress/Training", "Failed/Failed"}},
		{name: "failure-file", argv: sh(`echo noise >&2; echo 'CUDA out of memory' > "$SM_OUTPUT_DIR/failure"; exit 1`),
			reason: "AlgorithmError: exit code 1: CUDA out of memory"},
		{name: "silent", argv: sh("exit 7"), reason: "AlgorithmError: exit code 7"},
		{name: "signal", argv: sh("echo dying >&2; kill -KILL $$"), reason: "AlgorithmError: killed by signal SIGKILL: dying"},
		{name: "no-entrypoint", drop: true,
			reason: noEntrypoint,
			events: []string{"InProgress/Pending", "InProgress/Downloading", "Failed/Failed"}},
		{name: "unstartable", argv: []string{"/nonexistent/train.sh", "--x"},
			reason: "ClientError: cannot start /nonexistent/train.sh: no such file or directory",
			events: []string{"InProgress/Pending", "InProgress/Downloading", "Failed/Failed"}},
		{name: "not-on-path", argv: []string{"no-such-command-localsm"},
			reason: "ClientError: cannot start no-such-command-localsm: executable file not found in $PATH"},
	}
	for _, c := range cases {
		in := payload(c.name, c.argv...)
		if c.drop {
			in.AlgorithmSpecification.ContainerEntrypoint = nil
		}
		f.create(t, in)
	}
	for _, c := range cases {
		out := f.wait(t, c.name)
		if out.TrainingJobStatus != types.TrainingJobStatusFailed || out.SecondaryStatus != types.SecondaryStatusFailed || aws.ToString(out.FailureReason) != c.reason {
			t.Errorf("%s: %s/%s %q, want Failed %q", c.name, out.TrainingJobStatus, out.SecondaryStatus, aws.ToString(out.FailureReason), c.reason)
		}
		evs := f.rec.waitEvents(t, c.name)
		if last := evs[len(evs)-1].Detail; last.FailureReason != c.reason || last.TrainingEndTime == 0 {
			t.Errorf("%s: last event %+v", c.name, last)
		}
		if c.events != nil && strings.Join(statuses(evs), " ") != strings.Join(c.events, " ") {
			t.Errorf("%s: events %v, want %v", c.name, statuses(evs), c.events)
		}
	}
	// Both streams in one log, each in its order (the two pipes are read
	// apart, so lines of stdout and stderr may swap places).
	page, _ := f.srv.ReadLog(context.Background(), "exit-code", 0, 0)
	var stdout, stderr []string
	for _, l := range page.Lines {
		if strings.Contains(l, "out") {
			stdout = append(stdout, l)
		} else {
			stderr = append(stderr, l)
		}
	}
	if strings.Join(stdout, "|") != "out|more out" || strings.Join(stderr, "|") != "first|last words" {
		t.Errorf("log %q", page.Lines)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	ctx := context.Background()
	f.create(t, payload("dup", "true"))
	_, err := f.sm.CreateTrainingJob(ctx, payload("dup", "true"))
	var inUse *types.ResourceInUse
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate create: %v", err)
	}
	// Names are unique regardless of case, as ARNs are lower case.
	if _, err := f.sm.CreateTrainingJob(ctx, payload("DUP", "true")); !errors.As(err, &inUse) {
		t.Errorf("duplicate create in another case: %v", err)
	}
	var notFound *types.ResourceNotFound
	if _, err := f.sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String("nope")}); !errors.As(err, &notFound) {
		t.Errorf("describe unknown: %v", err)
	}
	if _, err := f.sm.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String("nope")}); !errors.As(err, &notFound) {
		t.Errorf("stop unknown: %v", err)
	}
	for _, name := range []string{"bad_name", "-x", strings.Repeat("a", 64)} {
		_, err := f.sm.CreateTrainingJob(ctx, payload(name, "true"))
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
			t.Errorf("create %q: %v", name, err)
		}
	}
	f.wait(t, "dup")
	_, err = f.sm.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String("dup")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || ae.ErrorMessage() != "The request was rejected because the training job is in status Completed." {
		t.Errorf("stop completed: %v", err)
	}
}

func TestProtocol(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	hs := httptest.NewServer(f.srv)
	defer hs.Close()
	post := func(target, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		d := json.NewDecoder(resp.Body)
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, m
	}
	if code, m := post("SageMaker.CreateModel", "{}"); code != 400 || m["__type"] != "UnknownOperationException" {
		t.Errorf("unknown operation: %d %v", code, m)
	}
	if code, m := post("SageMaker.DescribeTrainingJob", "{"); code != 400 || m["__type"] != "SerializationException" {
		t.Errorf("bad JSON: %d %v", code, m)
	}
	if code, m := post("SageMaker.CreateTrainingJob", `{"TrainingJobName": "x", "ResourceConfig": {"InstanceCount": "two"}}`); code != 400 || m["__type"] != "ValidationException" {
		t.Errorf("bad member type: %d %v", code, m)
	}
	if code, m := post("SageMaker.CreateTrainingJob", `{"TrainingJobName":"raw","AlgorithmSpecification":{"TrainingInputMode":"File","ContainerEntrypoint":["true"]}}`); code != 200 || m["TrainingJobArn"] != "arn:aws:sagemaker:local:000000000000:training-job/raw" {
		t.Errorf("create: %d %v", code, m)
	}
	f.wait(t, "raw")
	code, m := post("SageMaker.DescribeTrainingJob", `{"TrainingJobName":"raw"}`)
	if code != 200 {
		t.Fatalf("describe: %d %v", code, m)
	}
	// awsJson timestamps are epoch seconds as JSON numbers.
	n, ok := m["CreationTime"].(json.Number)
	if !ok {
		t.Fatalf("CreationTime %T %v", m["CreationTime"], m["CreationTime"])
	}
	if secs, err := n.Float64(); err != nil || secs < float64(time.Now().Add(-time.Minute).Unix()) || secs > float64(time.Now().Unix()+1) {
		t.Errorf("CreationTime %v is not epoch seconds of now", n)
	}
	resp, err := http.Get(hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// processGone is true once a process has exited (a zombie that nobody
// reaps has exited too).
func processGone(pid int) bool { return !processAlive(pid) }

func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is still running", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	f := start(t, Config{StopGrace: 400 * time.Millisecond})
	ctx := context.Background()
	stop := func(name string) {
		t.Helper()
		if _, err := f.sm.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String(name)}); err != nil {
			t.Fatalf("stop %s: %v", name, err)
		}
	}

	// A cooperative job ends on SIGTERM, well before the grace; so does
	// its grandchild, which gets the signal with the whole group.
	f.create(t, payload("cooperative", sh(`trap 'echo got TERM; exit 0' TERM; sleep 60 & echo "child $!"; wait`)...))
	// A job that ignores SIGTERM (as its children then do) is killed
	// after the grace.
	f.create(t, payload("stubborn", sh(`trap '' TERM; sleep 60 & echo "child $!"; while :; do wait; done`)...))
	// A grandchild that ignores SIGTERM outlives its cooperative parent;
	// the rest of the group is killed when the entry point exits.
	f.create(t, payload("orphan", sh(`(trap '' TERM; exec sleep 60) & echo "child $!"; trap 'exit 0' TERM; wait`)...))

	type started struct {
		name           string
		leader, child  int
		stoppedAt, end time.Time
	}
	var jobs []*started
	for _, name := range []string{"cooperative", "stubborn", "orphan"} {
		lines := f.waitLog(t, name, "child ")
		out := f.describe(t, name)
		if out.SecondaryStatus != types.SecondaryStatusTraining {
			t.Fatalf("%s: %s", name, out.SecondaryStatus)
		}
		j := &started{name: name, child: pidFromLog(t, lines, "child")}
		f.srv.mu.Lock()
		j.leader = f.srv.lookupLocked(name).rec.Pid
		f.srv.mu.Unlock()
		jobs = append(jobs, j)
	}
	for _, j := range jobs {
		j.stoppedAt = time.Now()
		stop(j.name)
	}
	stop("stubborn") // still Stopping: stopping again is harmless
	for _, j := range jobs {
		out := f.wait(t, j.name)
		j.end = time.Now()
		if out.TrainingJobStatus != types.TrainingJobStatusStopped || out.SecondaryStatus != types.SecondaryStatusStopped || out.FailureReason != nil {
			t.Errorf("%s: %s/%s %q", j.name, out.TrainingJobStatus, out.SecondaryStatus, aws.ToString(out.FailureReason))
		}
		evs := f.rec.waitEvents(t, j.name)
		want := "InProgress/Pending InProgress/Downloading InProgress/Training Stopping/Stopping Stopped/Stopped"
		if got := strings.Join(statuses(evs), " "); got != want {
			t.Errorf("%s: events %s", j.name, got)
		}
		waitGone(t, j.name+" entry point", j.leader)
		waitGone(t, j.name+" grandchild", j.child)
		if groupAlive(j.leader) {
			t.Errorf("%s: process group %d still has members", j.name, j.leader)
		}
	}
	if d := jobs[0].end.Sub(jobs[0].stoppedAt); d > 350*time.Millisecond {
		t.Errorf("cooperative job took %s to stop", d)
	}
	if d := jobs[1].end.Sub(jobs[1].stoppedAt); d < 400*time.Millisecond {
		t.Errorf("stubborn job stopped after %s, before the grace", d)
	}
	lines := f.waitLog(t, "stubborn", "sending SIGKILL")
	if !strings.Contains(strings.Join(lines, "\n"), "sending SIGTERM to process group") {
		t.Errorf("stubborn log %q", lines)
	}
	if lines := f.waitLog(t, "cooperative", "got TERM"); strings.Contains(strings.Join(lines, "\n"), "SIGKILL") {
		t.Errorf("cooperative job was killed: %q", lines)
	}

}

func TestStopBeforeProcessStarts(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	stopped := make(chan struct{})
	f.srv.beforeStart = func(name string) { <-stopped }
	f.create(t, payload("early", "sh", "-c", "echo ran"))
	if _, err := f.sm.StopTrainingJob(context.Background(), &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String("early")}); err != nil {
		t.Fatal(err)
	}
	close(stopped)
	out := f.wait(t, "early")
	if out.TrainingJobStatus != types.TrainingJobStatusStopped || out.TrainingStartTime != nil {
		t.Errorf("early: %s, started %v", out.TrainingJobStatus, out.TrainingStartTime)
	}
	if page, _ := f.srv.ReadLog(context.Background(), "early", 0, 0); len(page.Lines) != 0 {
		t.Errorf("the process ran: %q", page.Lines)
	}
	want := "InProgress/Pending InProgress/Downloading Stopping/Stopping Stopped/Stopped"
	if got := strings.Join(statuses(f.rec.waitEvents(t, "early")), " "); got != want {
		t.Errorf("events %s", got)
	}
}

func TestMaxRuntime(t *testing.T) {
	t.Parallel()
	f := start(t, Config{StopGrace: time.Second})
	in := payload("too-long", "sleep", "30")
	in.StoppingCondition.MaxRuntimeInSeconds = aws.Int32(1)
	began := time.Now()
	f.create(t, in)
	out := f.wait(t, "too-long")
	if out.TrainingJobStatus != types.TrainingJobStatusStopped || out.SecondaryStatus != types.SecondaryStatusMaxRuntimeExceeded {
		t.Fatalf("%s/%s", out.TrainingJobStatus, out.SecondaryStatus)
	}
	if d := time.Since(began); d < time.Second || d > 5*time.Second {
		t.Errorf("ended after %s", d)
	}
	want := "InProgress/Pending InProgress/Downloading InProgress/Training Stopping/Stopping Stopped/MaxRuntimeExceeded"
	if got := strings.Join(statuses(f.rec.waitEvents(t, "too-long")), " "); got != want {
		t.Errorf("events %s", got)
	}
}

func TestReadLogPaging(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	marker := filepath.Join(t.TempDir(), "go")
	f.create(t, payload("chatty", sh(fmt.Sprintf(`i=1; while [ $i -le 25 ]; do echo "line $i"; i=$((i+1)); done
while [ ! -e %s ]; do sleep 0.02; done
echo "line 26"; printf 'no newline'`, marker))...))
	f.waitLog(t, "chatty", "line 25")
	ctx := context.Background()
	var got []string
	var next int64
	for range 3 {
		page, err := f.srv.ReadLog(ctx, "chatty", next, 10)
		if err != nil {
			t.Fatal(err)
		}
		if page.Done {
			t.Fatal("Done while the job runs")
		}
		got = append(got, page.Lines...)
		next = page.Next
	}
	if len(got) != 25 || got[0] != "line 1" || got[24] != "line 25" {
		t.Fatalf("running pages: %q", got)
	}
	// Nothing new yet: same offset, not done.
	if page, _ := f.srv.ReadLog(ctx, "chatty", next, 10); len(page.Lines) != 0 || page.Next != next || page.Done {
		t.Fatalf("idle page %+v", page)
	}
	os.WriteFile(marker, nil, 0o644)
	f.wait(t, "chatty")
	page, err := f.srv.ReadLog(ctx, "chatty", next, 1)
	if err != nil || len(page.Lines) != 1 || page.Lines[0] != "line 26" || page.Done {
		t.Fatalf("page after end: %+v %v", page, err)
	}
	page, err = f.srv.ReadLog(ctx, "chatty", page.Next, 10)
	if err != nil || len(page.Lines) != 1 || page.Lines[0] != "no newline" || !page.Done {
		t.Fatalf("last page: %+v %v", page, err)
	}
	if again, _ := f.srv.ReadLog(ctx, "chatty", page.Next, 10); len(again.Lines) != 0 || !again.Done || again.Next != page.Next {
		t.Fatalf("past the end: %+v", again)
	}
	// Paging from zero with a small limit sees every line once.
	var all []string
	next = 0
	for {
		p, err := f.srv.ReadLog(ctx, "chatty", next, 7)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Lines...)
		next = p.Next
		if p.Done {
			break
		}
	}
	if len(all) != 27 || all[25] != "line 26" {
		t.Fatalf("all pages: %q", all)
	}
	if _, err := f.srv.ReadLog(ctx, "nope", 0, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadLog(unknown) = %v", err)
	}
}

func TestListTrainingJobs(t *testing.T) {
	t.Parallel()
	f := start(t, Config{})
	ctx := context.Background()
	names := []string{"list-b-ok", "list-a-fail", "list-c-ok", "other-ok", "list-d-fail"}
	created := map[string]time.Time{}
	for _, n := range names {
		cmd := "true"
		if strings.HasSuffix(n, "fail") {
			cmd = "false"
		}
		f.create(t, payload(n, cmd))
		time.Sleep(3 * time.Millisecond) // distinct creation times
	}
	for _, n := range names {
		created[n] = *f.wait(t, n).CreationTime
	}
	list := func(in *sagemaker.ListTrainingJobsInput) []string {
		t.Helper()
		var out []string
		p := sagemaker.NewListTrainingJobsPaginator(f.sm, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if in.MaxResults != nil && len(page.TrainingJobSummaries) > int(*in.MaxResults) {
				t.Fatalf("page of %d > MaxResults %d", len(page.TrainingJobSummaries), *in.MaxResults)
			}
			for _, s := range page.TrainingJobSummaries {
				if s.CreationTime == nil || s.LastModifiedTime == nil || s.TrainingEndTime == nil || s.TrainingJobArn == nil {
					t.Fatalf("summary %+v", s)
				}
				out = append(out, aws.ToString(s.TrainingJobName))
			}
		}
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}
	check("default (CreationTime ascending)", list(&sagemaker.ListTrainingJobsInput{}), names...)
	check("pages of 2", list(&sagemaker.ListTrainingJobsInput{MaxResults: aws.Int32(2)}), names...)
	check("NameContains", list(&sagemaker.ListTrainingJobsInput{NameContains: aws.String("LIST-"), MaxResults: aws.Int32(1)}),
		"list-b-ok", "list-a-fail", "list-c-ok", "list-d-fail")
	check("StatusEquals", list(&sagemaker.ListTrainingJobsInput{StatusEquals: types.TrainingJobStatusFailed}), "list-a-fail", "list-d-fail")
	check("Name descending", list(&sagemaker.ListTrainingJobsInput{SortBy: types.SortByName, SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(2)}),
		"other-ok", "list-d-fail", "list-c-ok", "list-b-ok", "list-a-fail")
	check("Status", list(&sagemaker.ListTrainingJobsInput{SortBy: types.SortByStatus, MaxResults: aws.Int32(3)}),
		"list-b-ok", "list-c-ok", "other-ok", "list-a-fail", "list-d-fail")
	after, before := created["list-a-fail"], created["other-ok"]
	check("CreationTime window", list(&sagemaker.ListTrainingJobsInput{CreationTimeAfter: &after, CreationTimeBefore: &before}), "list-c-ok")

	// A job created while paging shows up once, in its place.
	p := sagemaker.NewListTrainingJobsPaginator(f.sm, &sagemaker.ListTrainingJobsInput{SortBy: types.SortByName, MaxResults: aws.Int32(2)})
	first, err := p.NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.create(t, payload("list-0-new", "true"))
	var rest []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.TrainingJobSummaries {
			rest = append(rest, *s.TrainingJobName)
		}
	}
	check("first page", []string{*first.TrainingJobSummaries[0].TrainingJobName, *first.TrainingJobSummaries[1].TrainingJobName}, "list-a-fail", "list-b-ok")
	check("later pages", rest, "list-c-ok", "list-d-fail", "other-ok")

	var ae smithy.APIError
	if _, err := f.sm.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{MaxResults: aws.Int32(101)}); !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Errorf("MaxResults 101: %v", err)
	}
	if _, err := f.sm.ListTrainingJobs(ctx, &sagemaker.ListTrainingJobsInput{NextToken: aws.String("garbage")}); !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Errorf("bad NextToken: %v", err)
	}
}

func TestInstanceLimit(t *testing.T) {
	t.Parallel()
	f := start(t, Config{InstanceLimit: 3, StopGrace: time.Second})
	ctx := context.Background()
	big := payload("big", "sleep", "30")
	big.ResourceConfig.InstanceCount = aws.Int32(2)
	f.create(t, big)
	second := payload("second", "sleep", "30")
	second.ResourceConfig.InstanceCount = aws.Int32(2)
	_, err := f.sm.CreateTrainingJob(ctx, second)
	var limit *types.ResourceLimitExceeded
	if !errors.As(err, &limit) {
		t.Fatalf("over the limit: %v", err)
	}
	// Instance groups count too: 1 fits.
	small := payload("small", "true")
	small.ResourceConfig = &types.ResourceConfig{VolumeSizeInGB: aws.Int32(1), InstanceGroups: []types.InstanceGroup{
		{InstanceGroupName: aws.String("g"), InstanceType: types.TrainingInstanceTypeMlM5Xlarge, InstanceCount: aws.Int32(1)},
	}}
	f.create(t, small)
	if _, err := f.sm.StopTrainingJob(ctx, &sagemaker.StopTrainingJobInput{TrainingJobName: aws.String("big")}); err != nil {
		t.Fatal(err)
	}
	f.wait(t, "big")
	f.wait(t, "small")
	f.create(t, second)
	if _, err := f.sm.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: aws.String("second")}); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownStopsRunningJobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rec := newRecorder()
	srv, err := New(Config{Dir: dir, Emit: rec.emit, StopGrace: 2 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	f := &fixture{srv: srv, sm: client(hs.URL), rec: rec, dir: dir}
	f.create(t, payload("done", "true"))
	f.wait(t, "done")
	f.create(t, payload("running", sh(`trap 'exit 0' TERM; sleep 60 & echo "child $!"; wait`)...))
	child := pidFromLog(t, f.waitLog(t, "running", "child "), "child")

	// The directory is ours while we run.
	if _, err := New(Config{Dir: dir, Logger: quiet}); err == nil {
		t.Fatal("a second server took a directory in use")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitGone(t, "grandchild", child)
	out := f.describe(t, "running")
	if out.TrainingJobStatus != types.TrainingJobStatusFailed || aws.ToString(out.FailureReason) != restartReason {
		t.Errorf("after Shutdown: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	want := "InProgress/Pending InProgress/Downloading InProgress/Training Stopping/Stopping Failed/Failed"
	if got := strings.Join(statuses(rec.forJob("running")), " "); got != want {
		t.Errorf("events %s", got)
	}
	var unavailable smithy.APIError
	if _, err := f.sm.CreateTrainingJob(context.Background(), payload("late", "true")); !errors.As(err, &unavailable) || unavailable.ErrorCode() != "ServiceUnavailable" {
		t.Errorf("create after Shutdown: %v", err)
	}

	// A new server sees both as they ended, and changes nothing.
	f2 := start(t, Config{Dir: dir})
	if out := f2.describe(t, "running"); out.TrainingJobStatus != types.TrainingJobStatusFailed || aws.ToString(out.FailureReason) != restartReason {
		t.Errorf("after restart: %s %q", out.TrainingJobStatus, aws.ToString(out.FailureReason))
	}
	if out := f2.describe(t, "done"); out.TrainingJobStatus != types.TrainingJobStatusCompleted {
		t.Errorf("done after restart: %s", out.TrainingJobStatus)
	}
	if evs := f2.rec.forJob("running"); len(evs) != 0 {
		t.Errorf("restart re-emitted %v", statuses(evs))
	}
}

// crashHelper runs in a child process: a server whose jobs are in every
// state a crash can find them in, killed by the test without any chance to
// clean up (see TestRestartAfterCrash). scratch holds the files the jobs'
// scripts wait for.
func crashHelper(dir string) {
	scratch := os.Getenv(crashScratchEnv)
	// Events go out only once the state they tell of is saved: these say
	// when state.json is what the test needs.
	var mu sync.Mutex
	seen := map[string]bool{}
	emit := func(ctx context.Context, ev events.TrainingJobStateChange) {
		mu.Lock()
		defer mu.Unlock()
		seen[ev.Detail.TrainingJobName+"/"+ev.Detail.SecondaryStatus] = true
	}
	srv, err := New(Config{Dir: dir, Emit: emit, Logger: quiet, KeepRunning: true})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	held := make(chan struct{})
	srv.beforeRelease = func(name string) {
		if name == "held" {
			close(held)
			select {} // the crash comes first
		}
	}
	create := func(name, script string) {
		body := fmt.Sprintf(`{"TrainingJobName":%q,"AlgorithmSpecification":{"TrainingInputMode":"File","ContainerEntrypoint":["sh","-c",%q]}}`, name, script)
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "SageMaker.CreateTrainingJob")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			fmt.Println("ERROR", w.Body.String())
			os.Exit(1)
		}
	}
	waitFor := func(name string) string {
		return fmt.Sprintf("while [ ! -e %s ]; do sleep 0.02; done", filepath.Join(scratch, name))
	}
	running := []string{"adopted", "ended", "killed", "orphaned"}
	create("finished", "echo finished")
	create("adopted", `echo before; `+waitFor("adopted")+`; echo after`)
	create("ended", `echo "child $$"; `+waitFor("ended")+`; echo 'last words' >&2; exit 3`)
	create("killed", `sleep 60 & echo "child $!"; wait`)
	create("orphaned", `sleep 60 & echo "child $!"; wait`)
	create("held", "echo ran >> "+filepath.Join(scratch, "held-runs"))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ready := 0
		for _, name := range running {
			page, _ := srv.ReadLog(context.Background(), name, 0, 0)
			mu.Lock()
			if len(page.Lines) > 0 && seen[name+"/Training"] {
				ready++
			}
			mu.Unlock()
		}
		mu.Lock()
		finished := seen["finished/Completed"]
		mu.Unlock()
		select {
		case <-held:
			if ready == len(running) && finished {
				fmt.Println("READY")
				time.Sleep(time.Minute)
			}
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ERROR timeout")
	os.Exit(1)
}
