package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeQuickStart runs the README's quick start as a newcomer would,
// taken from README.md itself so that the two cannot drift: in a copy of
// the repository (what a fresh clone has: the files git tracks, and new
// ones it does not ignore), `make run` on a fresh data directory, then
// every ```sh block of the "Quick start" section, in order, in one bash
// with -e: each command must succeed. The server gets a port of its own
// (SAGEQUEUE_ENDPOINT points the commands at it), as tests share the
// machine; otherwise the commands run exactly as written.
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the quick start (about a minute)")
	}
	for _, tool := range []string{"make", "bash", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the README's quick start needs %s: %v", tool, err)
			}
			t.Skipf("the README's quick start needs %s (%v); .ci/run installs it", tool, err)
		}
	}
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := quickStart(string(readme))
	if err != nil {
		t.Fatal(err)
	}

	scratch := t.TempDir()
	// Run as root, serve runs training jobs as nobody, who must get
	// through to the checkout (the jobs' working directory) and the data
	// directory, as through a clone in a home directory.
	for _, d := range []string{filepath.Dir(scratch), scratch} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(scratch, "sagequeue")
	copyCheckout(t, root, work)
	port := freePort(t)
	endpoint := "http://127.0.0.1:" + port

	// make run, as the README says, with the data directory and address
	// that its variables allow.
	var serverOut lockedBuffer
	run := exec.Command("make", "run", "DATA="+filepath.Join(scratch, "data"), "LISTEN=127.0.0.1:"+port)
	run.Dir = work
	run.Env = append(os.Environ(), "PATH="+pathForJobs(os.Getenv("PATH")))
	run.Stdout, run.Stderr = &serverOut, &serverOut
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var runErr error
	go func() {
		runErr = run.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// The whole group: make and the server it started.
		syscall.Kill(-run.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("make run:\n%s", serverOut.String())
		}
	})
	deadline := time.Now().Add(3 * time.Minute) // it builds first
	for !strings.Contains(serverOut.String(), "sagequeue serving") {
		select {
		case <-exited:
			t.Fatalf("make run ended before serving (%v):\n%s", runErr, serverOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run did not serve within 3 minutes:\n%s", serverOut.String())
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -x traces each command with the time, so a failure or a slow step
	// shows in the log.
	sh := exec.CommandContext(ctx, "bash", "-c", "PS4='+ $(date +%T) '\nset -euo pipefail -x\n"+script)
	sh.Dir = work
	sh.Env = append(os.Environ(), "SAGEQUEUE_ENDPOINT="+endpoint, "NO_COLOR=1")
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sh.Cancel = func() error { return syscall.Kill(-sh.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	out, err := sh.CombinedOutput()
	t.Logf("the quick start took %s:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("the README's quick start failed (%v): the last command traced above (+ ...) is the one", err)
	}
	// What each step is there to show.
	for _, want := range []string{
		"hello from sagequeue-",    // the first job's output
		"done: w=",                 // train.py ran to the end
		"resuming from checkpoint", // the retry resumed
		"FRONT OF QUEUE",           // watch showed jobs waiting
		"exit status 5",            // a failed job's exit status
		"What to look at",          // make tour ran
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the quick start's output lacks %q", want)
		}
	}
}

// quickStart returns the ```sh blocks of the README's "Quick start"
// section, in order, as one script.
func quickStart(readme string) (string, error) {
	i := strings.Index(readme, "\n## Quick start\n")
	if i < 0 {
		return "", errors.New(`README.md has no "## Quick start" section`)
	}
	section := readme[i+len("\n## Quick start\n"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	blocks := shBlock.FindAllStringSubmatch(section, -1)
	if len(blocks) == 0 {
		return "", errors.New("the quick start has no ```sh blocks")
	}
	var b strings.Builder
	for _, m := range blocks {
		b.WriteString(m[1])
	}
	return b.String(), nil
}

var shBlock = regexp.MustCompile("(?s)\n```sh\n(.*?)```\n")

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// copyCheckout copies what a fresh clone of root would hold, with the
// working tree's changes: the files git tracks and the ones it does not
// ignore. Without git it copies the tree, minus what builds and runs leave.
func copyCheckout(t *testing.T, root, dst string) {
	t.Helper()
	var files []string
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	if out, err := ls.Output(); err == nil {
		files = strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	} else {
		t.Logf("git ls-files: %v; copying the tree instead", err)
		skip := map[string]bool{".git": true, "node_modules": true, "bin": true, "dist": true, "cdk.out": true, ".sagequeue": true}
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			if d.IsDir() && skip[rel] {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				files = append(files, rel)
			}
			return nil
		})
	}
	for _, f := range files {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink (node_modules)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, filepath.Join(dst, f), fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// pathForJobs is PATH without the directories that the account training
// jobs run as (nobody, when the tests run as root) cannot get through: the
// server finds a job's program on its PATH, and a python3 under /root
// (pyenv, say) would then be found but not run. Not root: PATH as it is.
func pathForJobs(path string) string {
	if os.Geteuid() != 0 {
		return path
	}
	var keep []string
	for _, dir := range filepath.SplitList(path) {
		if reachableByOthers(dir) {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// reachableByOthers reports whether every directory from / to dir lets
// other users through.
func reachableByOthers(dir string) bool {
	if !filepath.IsAbs(dir) {
		return false
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// lockedBuffer is a bytes.Buffer for a process's output read while it runs.
type lockedBuffer struct{ syncBuffer }

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
