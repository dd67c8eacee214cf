// Package containertest gives tests a container runtime that works on this
// machine and a tiny training image built here: a static Go program (see
// testdata/train) in an image FROM scratch, so that no registry is needed.
// Where no runtime can start a container, the tests that need one skip,
// saying why (and fail in CI, which installs podman).
package containertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Image is a training image built for a test.
type Image struct {
	// Runtime is the runtime's command line that runs it (what
	// sagequeue serve --container-runtime takes), e.g. env
	// CONTAINERS_CONF=... podman --runtime runc --cgroup-manager=cgroupfs.
	Runtime []string
	// Name is the image's name.
	Name string
}

// TrainImage builds the test training image with the first runtime that
// can run it, and removes it when the test ends. Its entry point is
// /usr/bin/train (on PATH as train): it prints the SM_* variables, the
// hyperparameters and its arguments, writes /opt/ml/model/model.txt, and
// then does what the hyperparameter "mode" says (wait: until SIGTERM;
// stubborn: ignore SIGTERM; until: write /opt/ml/checkpoints/checkpoint,
// then wait until /opt/ml/checkpoints/<file> exists; fail: exit 4).
func TrainImage(t testing.TB) Image {
	t.Helper()
	dir := t.TempDir()
	if err := buildProgram(filepath.Join(dir, "train")); err != nil {
		t.Fatalf("building the training program: %v", err)
	}
	containerfile := "FROM scratch\nCOPY train /usr/bin/train\nENV PATH=/usr/bin\n"
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "containers.conf")
	// Limits the image does not set are left as they are: a container
	// with a higher default than the host allows fails to start.
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "localhost/sagequeue-test-train:" + hex.EncodeToString(suffix)

	var tried []string
	for _, c := range candidates(conf) {
		if _, err := exec.LookPath(c.program); err != nil {
			continue
		}
		rt := c.argv
		out, err := run(rt, "build", "--file", filepath.Join(dir, "Containerfile"), "--tag", name, dir)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s build: %v: %s", strings.Join(rt, " "), err, lastLine(out)))
			continue
		}
		t.Cleanup(func() { run(rt, "rmi", "--force", name) })
		if out, err := run(rt, "run", "--rm", name, "train", "probe"); err != nil || !strings.Contains(out, "done") {
			tried = append(tried, fmt.Sprintf("%s run: %v: %s", strings.Join(rt, " "), err, lastLine(out)))
			continue
		}
		return Image{Runtime: rt, Name: name}
	}
	reason := "no container runtime (podman or docker) is installed"
	if len(tried) > 0 {
		reason = "no container runtime can start a container here: " + strings.Join(tried, "; ")
	}
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
	return Image{}
}

type candidate struct {
	program string   // what must be installed
	argv    []string // the runtime's command line
}

// candidates are the runtimes to try, first the one that works without
// systemd or crun (podman with runc and cgroupfs).
func candidates(conf string) []candidate {
	env := []string{"env", "CONTAINERS_CONF=" + conf}
	var out []candidate
	if _, err := exec.LookPath("runc"); err == nil {
		out = append(out, candidate{"podman", slices.Concat(env, []string{"podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"})})
	}
	return append(out, candidate{"podman", slices.Concat(env, []string{"podman"})}, candidate{"docker", []string{"docker"}})
}

func run(rt []string, args ...string) (string, error) {
	argv := append(append([]string(nil), rt...), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// buildProgram builds testdata/train as a static binary.
func buildProgram(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, "./internal/containertest/testdata/train")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, b)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
