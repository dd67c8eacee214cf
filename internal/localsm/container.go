package localsm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// optML is where SageMaker puts a training job's files in its container.
const optML = "/opt/ml"

// containerCommand is the container runtime's command line that runs a
// job's TrainingImage the way SageMaker does (docker run image train), and
// the environment to run it with:
//
//   - the job directory's input/, model/ and output/ mounted at
//     /opt/ml/input, /opt/ml/model and /opt/ml/output; channel data that
//     is on this machine mounted read-only at /opt/ml/input/data/<channel>;
//     with a CheckpointConfig, DIR/checkpoints at its LocalPath
//     (/opt/ml/checkpoints);
//   - the payload's Environment and the SM_* variables with /opt/ml paths,
//     passed by name (-e NAME) so that no value shows in a process list;
//   - host name algo-1, as in resourceconfig.json;
//   - for a confined job (Config.RunAs), the job's account as its user;
//   - ContainerEntrypoint replacing the image's entry point and
//     ContainerArguments its command; with neither, the command is train.
//
// A stop is a SIGTERM to the runtime's client, which passes it to the
// container; the container is named after the job and its directory, so
// that it can be killed by name when the client cannot pass a SIGKILL on.
func (s *Server) containerCommand(j *job, host *jobPaths, image string, acct *runas.Account) (argv, env []string, ref *containerRef) {
	in := j.req.in
	inside := host.inContainer()
	vars := s.environment(j, inside, nil)
	ref = &containerRef{Runtime: s.cfg.ContainerRuntime, Name: containerName(j.dir)}

	argv = append([]string(nil), s.cfg.ContainerRuntime...)
	argv = append(argv, "run", "--rm", "--name", ref.Name, "--hostname", currentHost,
		"--volume", host.input+":"+inside.input,
		"--volume", host.model+":"+inside.model,
		"--volume", host.output+":"+inside.output)
	for _, name := range sortedKeys(host.sources) {
		src, dst := host.sources[name], inside.channels[name]
		if fi, err := os.Stat(src); err == nil && !fi.IsDir() {
			dst = path.Join(dst, filepath.Base(src))
		}
		argv = append(argv, "--volume", src+":"+dst+":ro")
	}
	if cc := in.CheckpointConfig; cc != nil {
		local := deref(cc.LocalPath)
		if local == "" {
			local = optML + "/checkpoints"
		}
		dir := filepath.Join(j.dir, "checkpoints")
		err := os.MkdirAll(dir, 0o755)
		if err == nil && acct != nil {
			// Like the /opt/ml stand-ins, the account's alone.
			if err = os.Chown(dir, int(acct.UID), int(acct.GID)); err == nil {
				err = os.Chmod(dir, 0o700)
			}
		}
		if err == nil {
			argv = append(argv, "--volume", dir+":"+local)
		}
	}
	seen := map[string]bool{}
	for _, kv := range vars {
		name, _, _ := strings.Cut(kv, "=")
		if !seen[name] {
			seen[name] = true
			argv = append(argv, "--env", name)
		}
	}
	if acct != nil {
		// A confined job's container runs as its account, which owns the
		// mounted directories; the runtime's client stays the server's.
		argv = append(argv, "--user", fmt.Sprintf("%d:%d", acct.UID, acct.GID))
		for _, g := range acct.Groups {
			argv = append(argv, "--group-add", fmt.Sprint(g))
		}
	}
	argv = append(argv, s.cfg.ContainerRunArgs...)
	spec := in.AlgorithmSpecification
	if len(spec.ContainerEntrypoint) > 0 {
		argv = append(argv, "--entrypoint", spec.ContainerEntrypoint[0], image)
		argv = append(argv, spec.ContainerEntrypoint[1:]...)
	} else {
		argv = append(argv, image)
	}
	switch {
	case len(spec.ContainerArguments) > 0:
		argv = append(argv, spec.ContainerArguments...)
	case len(spec.ContainerEntrypoint) == 0:
		argv = append(argv, "train")
	}

	// The client runs with the server's environment (what the runtime
	// itself needs: PATH, HOME, CONTAINERS_CONF, DOCKER_HOST) and the
	// container's variables over it, for -e NAME to pass on.
	env = os.Environ()
	for _, kv := range vars {
		name, _, _ := strings.Cut(kv, "=")
		env = dropEnv(env, name)
	}
	return argv, append(env, vars...), ref
}

func dropEnv(env []string, name string) []string {
	out := env[:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// inContainer is the job's layout as its container sees it.
func (p *jobPaths) inContainer() *jobPaths {
	c := *p
	c.input = optML + "/input"
	c.config = optML + "/input/config"
	c.data = optML + "/input/data"
	c.model = optML + "/model"
	c.output = optML + "/output"
	c.outputData = optML + "/output/data"
	c.checkpoints = optML + "/checkpoints"
	c.channels = make(map[string]string, len(p.channels))
	for name := range p.channels {
		c.channels[name] = c.data + "/" + name
	}
	return &c
}

// containerName names a job's container after the job and, since two
// servers on one machine may run jobs of the same name, its directory.
func containerName(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "sagequeue-" + filepath.Base(dir) + "-" + hex.EncodeToString(sum[:4])
}
