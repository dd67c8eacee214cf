package localsm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/runas"
	"github.com/sagequeue/sagequeue/internal/supervisor"
)

const (
	logFile     = supervisor.OutputLog
	currentHost = "algo-1"
)

// noEntrypoint is the FailureReason of a job the endpoint has no way to run.
const noEntrypoint = "ClientError: AlgorithmSpecification.ContainerEntrypoint is required to run a training job on the local endpoint as a process; to run AlgorithmSpecification.TrainingImage, start sagequeue serve with --container-runtime podman (or docker)"

// run takes a job to its end: from Pending when v is nil (it starts the
// job's supervisor), else following the supervisor v of an adopted job. It
// is the only goroutine that acts on the job's process. When the server
// shuts down and leaves jobs running, it returns with the job as it is.
func (s *Server) run(j *job, v *supervision) {
	defer s.wg.Done()
	var failure string
	var detached bool
	if v == nil {
		var run bool
		failure, run, detached = s.awaitPlan(j)
		if run {
			failure, detached = s.execute(j)
		}
	} else {
		failure, detached = s.follow(j, v)
	}
	if detached {
		return
	}
	s.mu.Lock()
	s.endLocked(j, failure)
	s.mu.Unlock()
	s.commit(j)
}

// execute prepares the job directory, starts the job's supervisor and
// follows it. It returns the FailureReason, "" when the job succeeded or
// was stopped (the stop request then decides the outcome).
func (s *Server) execute(j *job) (failure string, detached bool) {
	s.mu.Lock()
	again := j.rec.SecondaryStatus == secondaryDownloading // a run that starts over
	s.mu.Unlock()
	if !again && !s.advance(j, secondaryDownloading, "Preparing the job directory") {
		return "", false
	}
	notes := dirNotes(j.dir)
	spec := j.req.in.AlgorithmSpecification
	image := ""
	if spec != nil {
		image = deref(spec.TrainingImage)
	}
	container := image != "" && len(s.cfg.ContainerRuntime) > 0
	if !container && (spec == nil || len(spec.ContainerEntrypoint) == 0) {
		notes.note("%s", noEntrypoint)
		return noEntrypoint, false
	}
	paths, err := prepareDir(j, notes, container)
	if err == nil {
		err = s.prepareCheckpoints(j, paths, notes)
	}
	if err != nil {
		notes.note("cannot prepare the job directory: %v", err)
		return failureOf("cannot prepare the job directory", err), false
	}
	acct, err := s.account(j)
	if err == nil && acct != nil {
		err = confineDir(j.dir, paths, acct)
	}
	if err != nil {
		notes.note("cannot run the training job as its account: %v", err)
		return failureOf("cannot run the training job as its account", err), false
	}
	ls := supervisor.Spec{Dir: j.dir, StopGrace: s.cfg.StopGrace}
	var containerName string
	if container {
		ls.Argv, ls.Env, ls.Container = s.containerCommand(j, paths, image, acct)
		containerName = ls.Container.Name
	} else {
		ls.Argv = append(append([]string(nil), spec.ContainerEntrypoint...), spec.ContainerArguments...)
		ls.Env = s.environment(j, paths, baseEnvironment(acct))
		ls.Account = acct
	}

	if s.beforeStart != nil {
		s.beforeStart(j.rec.Name)
	}
	select {
	case <-j.stopCh:
		return "", false
	case <-s.detach:
		// Nothing started: the next server starts it.
		return "", true
	default:
	}
	v, failure := s.startSupervisor(j, ls, containerName)
	if failure != "" {
		notes.note("%s", failure)
		return failure, false
	}
	return s.follow(j, v)
}

// follow follows a job's supervisor until the training process has ended,
// stopping it when asked or when it runs past MaxRuntimeInSeconds.
func (s *Server) follow(j *job, v *supervision) (failure string, detached bool) {
	var maxRuntime <-chan time.Time
	startClock := func(since time.Time) {
		if sc := j.req.in.StoppingCondition; sc != nil && sc.MaxRuntimeInSeconds != nil {
			t := time.NewTimer(time.Duration(*sc.MaxRuntimeInSeconds)*time.Second - time.Since(since))
			maxRuntime = t.C
		}
	}
	s.mu.Lock()
	since := j.rec.TrainingStartTime
	s.mu.Unlock()
	if !since.IsZero() {
		startClock(since)
	}
	// A supervisor is ready for stop signals once it reported a process
	// (or, adopted, holds its lock): before, a SIGTERM would end it
	// unheard.
	ready := v.adopted
	stop, pending := j.stopCh, false
	for {
		select {
		case st := <-v.started:
			now := s.now()
			at := now
			if v.adopted {
				at = st.At.UTC().Truncate(time.Millisecond)
			}
			s.mu.Lock()
			j.rec.Pid, j.rec.PidStartTime = st.Pid, st.StartTime
			if j.rec.TrainingStartTime.IsZero() {
				j.rec.TrainingStartTime = at
			}
			since = j.rec.TrainingStartTime
			if j.rec.Status == events.TrainingInProgress && j.rec.SecondaryStatus != secondaryTraining {
				s.setLocked(j, events.TrainingInProgress, secondaryTraining, "Training image download completed. Training in progress.")
			}
			s.mu.Unlock()
			s.commit(j)
			if maxRuntime == nil {
				startClock(since)
			}
			ready = true
			if pending {
				v.stop()
			}
		case ex := <-v.exited:
			return s.outcome(j, ex), false
		case <-maxRuntime:
			maxRuntime = nil
			s.mu.Lock()
			s.requestStopLocked(j, stopMaxRuntime)
			s.mu.Unlock()
			s.commit(j)
		case <-stop:
			stop = nil
			if ready {
				v.stop()
			} else {
				pending = true
			}
		case <-s.detach:
			return "", true
		}
	}
}

// outcome is the FailureReason for how a job's process ended ("" for
// success); ex is nil when its supervisor is gone without saying.
func (s *Server) outcome(j *job, ex *supervisor.Exit) string {
	if ex == nil {
		s.cleanupLost(j)
		s.mu.Lock()
		pid := 0
		if j.rec.Supervisor != nil {
			pid = j.rec.Supervisor.Pid
		}
		s.mu.Unlock()
		return faultReason(faultSupervisorLost, fmt.Sprintf("the supervisor (pid %d) of the training process ended without recording how the process ended", pid))
	}
	if ex.Stopped {
		// Someone stopped it through its supervisor.
		s.mu.Lock()
		if j.rec.StopKind == stopNone {
			j.rec.StopKind = stopUser
		}
		s.mu.Unlock()
	}
	if ex.StartError != "" {
		if ex.Fault != "" {
			return faultReason(ex.Fault, ex.StartError)
		}
		return "ClientError: " + ex.StartError
	}
	if ex.Description == "" {
		return ""
	}
	// The account is the job's tags' (a job runs as one for its life).
	acct, _ := s.account(j)
	detail := failureFile(filepath.Join(j.dir, "output"), acct)
	if detail == "" {
		detail = ex.LastStderr
	}
	if detail == "" {
		return "AlgorithmError: " + ex.Description
	}
	return "AlgorithmError: " + ex.Description + ": " + detail
}

// failureFile is what the algorithm wrote to output/failure, SageMaker's
// channel for a failure description.
func failureFile(outputDir string, acct *runas.Account) string {
	path := filepath.Join(outputDir, "failure")
	if acct != nil {
		// The job owns its output directory: read only its own file.
		b, _ := readOwnedFile(path, acct, maxFailureReason)
		return strings.TrimSpace(string(b))
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, maxFailureReason))
	return strings.TrimSpace(string(b))
}

// jobPaths are the /opt/ml stand-ins of one job.
type jobPaths struct {
	input, config, data, model, output, outputData string
	checkpoints                                    string
	channels                                       map[string]string
	// sources are the local files or directories of channels whose data
	// is on this machine, which a container gets mounted.
	sources                         map[string]string
	resourceConfig, inputDataConfig map[string]any
}

// noter writes the endpoint's notes to a job's log.
type noter interface {
	note(format string, args ...any)
}

// dirNotes appends notes to the log of the job in a directory.
type dirNotes string

func (d dirNotes) note(format string, args ...any) {
	supervisor.AppendLog(string(d), fmt.Sprintf(format, args...))
}

// prepareDir lays out the job directory as SageMaker lays out /opt/ml. For
// a container, channel data is left to be mounted (mount); for a process,
// it is linked in.
func prepareDir(j *job, lg noter, mount bool) (*jobPaths, error) {
	in := j.req.in
	p := &jobPaths{
		input:      filepath.Join(j.dir, "input"),
		config:     filepath.Join(j.dir, "input", "config"),
		data:       filepath.Join(j.dir, "input", "data"),
		model:      filepath.Join(j.dir, "model"),
		output:     filepath.Join(j.dir, "output"),
		outputData: filepath.Join(j.dir, "output", "data"),
		channels:   map[string]string{},
		sources:    map[string]string{},
	}
	for _, d := range []string{p.config, p.data, p.model, p.outputData, filepath.Join(p.output, "intermediate")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}

	instanceType := "local"
	var groups []map[string]any
	if rc := in.ResourceConfig; rc != nil {
		if rc.InstanceType != "" {
			instanceType = string(rc.InstanceType)
		}
		for _, g := range rc.InstanceGroups {
			groups = append(groups, map[string]any{
				"instance_group_name": deref(g.InstanceGroupName),
				"instance_type":       string(g.InstanceType),
				"hosts":               []string{},
			})
		}
	}
	groupName := "homogeneousCluster"
	if len(groups) > 0 {
		// The one local host plays the first group's first instance.
		groupName = groups[0]["instance_group_name"].(string)
		instanceType = groups[0]["instance_type"].(string)
		groups[0]["hosts"] = []string{currentHost}
	} else {
		groups = []map[string]any{{"instance_group_name": groupName, "instance_type": instanceType, "hosts": []string{currentHost}}}
	}
	p.resourceConfig = map[string]any{
		"current_host":           currentHost,
		"current_instance_type":  instanceType,
		"current_group_name":     groupName,
		"hosts":                  []string{currentHost},
		"instance_groups":        groups,
		"network_interface_name": "eth0",
	}

	mode := types.TrainingInputModeFile
	if spec := in.AlgorithmSpecification; spec != nil && spec.TrainingInputMode != "" {
		mode = spec.TrainingInputMode
	}
	p.inputDataConfig = map[string]any{}
	for _, ch := range in.InputDataConfig {
		name := deref(ch.ChannelName)
		c := map[string]any{
			"TrainingInputMode":  string(orDefault(ch.InputMode, mode)),
			"S3DistributionType": "FullyReplicated",
			"RecordWrapperType":  string(orDefault(ch.RecordWrapperType, "None")),
		}
		if ch.ContentType != nil {
			c["ContentType"] = *ch.ContentType
		}
		if ch.CompressionType != "" {
			c["CompressionType"] = string(ch.CompressionType)
		}
		if ds := ch.DataSource; ds != nil && ds.S3DataSource != nil && ds.S3DataSource.S3DataDistributionType != "" {
			c["S3DistributionType"] = string(ds.S3DataSource.S3DataDistributionType)
		}
		p.inputDataConfig[name] = c
		dir := filepath.Join(p.data, name)
		p.channels[name] = dir
		src, err := linkChannel(dir, ch, lg, !mount)
		if err != nil {
			return nil, fmt.Errorf("channel %s: %w", name, err)
		}
		if src != "" {
			p.sources[name] = src
		}
	}

	hps := in.HyperParameters
	if hps == nil {
		hps = map[string]string{}
	}
	for file, v := range map[string]any{
		"hyperparameters.json": hps,
		"resourceconfig.json":  p.resourceConfig,
		"inputdataconfig.json": p.inputDataConfig,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(p.config, file), b, 0o644); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}

// linkChannel makes a channel's data directory. Data that is here already
// (a file:// S3Uri, or a FileSystemDataSource directory that exists on this
// machine) is linked in when link is set, and its path returned; S3 is not
// downloaded, and the log says so.
func linkChannel(dir string, ch types.Channel, lg noter, link bool) (string, error) {
	var local, remote string
	if ds := ch.DataSource; ds != nil {
		switch {
		case ds.S3DataSource != nil && ds.S3DataSource.S3Uri != nil:
			uri := *ds.S3DataSource.S3Uri
			if u, err := url.Parse(uri); err == nil && u.Scheme == "file" {
				local = u.Path
			} else {
				remote = uri
			}
		case ds.FileSystemDataSource != nil && ds.FileSystemDataSource.DirectoryPath != nil:
			path := *ds.FileSystemDataSource.DirectoryPath
			if _, err := os.Stat(path); err == nil {
				local = path
			} else {
				remote = path
			}
		}
	}
	if local == "" {
		if remote != "" {
			lg.note("channel %s: %s is not downloaded by the local endpoint; %s is empty", deref(ch.ChannelName), remote, dir)
		}
		return "", os.MkdirAll(dir, 0o755)
	}
	fi, err := os.Stat(local)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		if !link {
			return local, os.MkdirAll(dir, 0o755) // the mount point
		}
		return local, os.Symlink(local, dir)
	}
	// A single file: SageMaker would download it into the channel.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(dir, filepath.Base(local))
	if !link {
		return local, os.WriteFile(target, nil, 0o644) // the mount point
	}
	return local, os.Symlink(local, target)
}

// environment is what the process sees: base (for a process the server's
// environment, only a few of its variables for a confined job, see
// baseEnvironment; nothing for a container), then the payload's
// Environment, then what the SageMaker platform and training toolkit set,
// which win, since they describe this job's directories.
func (s *Server) environment(j *job, p *jobPaths, base []string) []string {
	in := j.req.in
	env := append([]string(nil), base...)
	keys := sortedKeys(in.Environment)
	for _, k := range keys {
		env = append(env, k+"="+in.Environment[k])
	}

	hps := map[string]any{}
	for k, v := range in.HyperParameters {
		// The toolkit decodes values that are JSON ("10", "true",
		// "[1,2]") and keeps the rest as strings.
		var decoded any
		if err := json.Unmarshal([]byte(v), &decoded); err == nil {
			hps[k] = decoded
		} else {
			hps[k] = v
		}
	}
	channels := sortedKeys(p.channels)
	numCPUs := runtime.NumCPU()
	numGPUs := countGPUs()
	trainingEnv := map[string]any{
		"additional_framework_parameters": map[string]any{},
		"channel_input_dirs":              p.channels,
		"current_host":                    currentHost,
		"current_instance_group":          p.resourceConfig["current_group_name"],
		"current_instance_type":           p.resourceConfig["current_instance_type"],
		"hosts":                           []string{currentHost},
		"hyperparameters":                 hps,
		"input_config_dir":                p.config,
		"input_data_config":               p.inputDataConfig,
		"input_dir":                       p.input,
		"is_master":                       true,
		"job_name":                        j.rec.Name,
		"log_level":                       20,
		"master_hostname":                 currentHost,
		"model_dir":                       p.model,
		"network_interface_name":          "eth0",
		"num_cpus":                        numCPUs,
		"num_gpus":                        numGPUs,
		"output_data_dir":                 p.outputData,
		"output_dir":                      p.output,
		"resource_config":                 p.resourceConfig,
	}
	set := func(k string, v any) {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		env = append(env, envName(k)+"="+s)
	}
	set("SM_MODEL_DIR", p.model)
	set("SM_OUTPUT_DIR", p.output)
	set("SM_OUTPUT_DATA_DIR", p.outputData)
	set("SM_INPUT_DIR", p.input)
	set("SM_INPUT_CONFIG_DIR", p.config)
	set("SM_INPUT_DATA_CONFIG", p.inputDataConfig)
	set("SM_RESOURCE_CONFIG", p.resourceConfig)
	set("SM_CHANNELS", channels)
	for _, c := range channels {
		set("SM_CHANNEL_"+strings.ToUpper(c), p.channels[c])
	}
	set("SM_HPS", hps)
	for _, k := range sortedKeys(in.HyperParameters) {
		set("SM_HP_"+strings.ToUpper(k), in.HyperParameters[k])
	}
	set("SM_CURRENT_HOST", currentHost)
	set("SM_CURRENT_INSTANCE_TYPE", p.resourceConfig["current_instance_type"])
	set("SM_CURRENT_INSTANCE_GROUP", p.resourceConfig["current_group_name"])
	set("SM_HOSTS", []string{currentHost})
	set("SM_MASTER_ADDR", currentHost)
	set("SM_NETWORK_INTERFACE_NAME", "eth0")
	set("SM_NUM_CPUS", strconv.Itoa(numCPUs))
	set("SM_NUM_GPUS", strconv.Itoa(numGPUs))
	set("SM_LOG_LEVEL", "20")
	set("SM_FRAMEWORK_PARAMS", map[string]any{})
	set("SM_TRAINING_ENV", trainingEnv)
	env = append(env, moreEnvironment(j, p)...)
	set("TRAINING_JOB_NAME", j.rec.Name)
	// TRAINING_JOB_ARN also marks the job's processes, so that a restarted
	// server can recognise a group whose leader has gone.
	set("TRAINING_JOB_ARN", j.rec.Arn)
	return append(env, s.planEnv(j)...)
}

// envName keeps a name usable in an environment entry. SageMaker's toolkit
// only upper-cases; an "=" or NUL would break the entry.
func envName(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '=' || r == 0 {
			return '_'
		}
		return r
	}, k)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// countGPUs counts NVIDIA devices, which is what SM_NUM_GPUS tells a
// training script about this machine.
func countGPUs() int {
	matches, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(matches)
}

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: path}).String()
}
