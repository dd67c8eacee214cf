package localsm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/sagequeue/sagequeue/internal/runas"
)

// A training process does not run under the server itself but under a
// supervisor: the server's own program started again in a session of its
// own, one per job. The supervisor starts the process, writes its output to
// output.log, stops it when asked (SIGTERM to the supervisor: SIGTERM to
// the process group, SIGKILL after the grace), and writes how it ended to
// exit.json. So a job outlives the server that started it, however the
// server ends, and the next server adopts it: it follows the supervisor's
// files and lock, and reads the exit status the supervisor recorded, even
// when the process ended while no server ran.
//
// No process may run that a restarted server cannot find. The supervisor is
// therefore started held: it reads its launch spec from a pipe that only
// the server writes, and the server writes it only after it has saved the
// supervisor's identity (pid, start time and a random token that the
// supervisor carries in its environment). A server that dies before that
// leaves a supervisor that reads end-of-file and exits without starting
// anything. And the kernel kills a training process whose supervisor dies
// (a parent-death signal), so no process outlives the one that reports it.
//
// The files of a job directory that belong to the supervisor:
const (
	// supervisorLock is held by the supervisor from the moment it is
	// released until it exits: the server's test of "still running" that
	// no pid reuse can fool.
	supervisorLock = "supervisor.lock"
	// startedFile says which process runs and since when.
	startedFile = "started.json"
	// exitFile says how the process ended; written before the lock goes.
	exitFile = "exit.json"
	// supervisorLog takes the supervisor's own stderr (a crash trace).
	supervisorLog = "supervisor.log"
)

// supervisorEnv carries a supervisor's token; a program started with it
// set runs as a supervisor (see init).
const supervisorEnv = "SAGEQUEUE_LOCALSM_SUPERVISOR"

// supervisorName is a supervisor's argv[0], so that ps shows what it is.
const supervisorName = "sagequeue-supervisor"

func init() {
	// The server starts its own program as a supervisor: whichever binary
	// links this package (sagequeue, a test binary) can be one, before
	// its main runs.
	if os.Getenv(supervisorEnv) != "" {
		os.Exit(supervise(os.Stdin, os.NewFile(3, "report")))
	}
}

// launchSpec is what the server tells a supervisor to run.
type launchSpec struct {
	// Dir is the job directory.
	Dir  string   `json:"dir"`
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	// StopGrace is the time between SIGTERM and SIGKILL when stopping.
	StopGrace time.Duration `json:"stopGrace"`
	// Container, when the process is a container runtime's `run`, names
	// the container, which a SIGKILL to the runtime's client would leave
	// running.
	Container *containerRef `json:"container,omitempty"`
	// Account, if set, is the account the process runs as (confine.go).
	Account *runas.Account `json:"account,omitempty"`
}

// startedRecord is started.json: the training process, once it runs.
type startedRecord struct {
	Pid       int       `json:"pid"`
	StartTime uint64    `json:"startTime,omitempty"`
	At        time.Time `json:"at"`
}

// exitRecord is exit.json: how the training process ended.
type exitRecord struct {
	// StartError says why the process could not be started; nothing ran.
	StartError string `json:"startError,omitempty"`
	// Fault names the machine fault behind StartError, if it was one.
	Fault string `json:"fault,omitempty"`
	// Description says how the process ended ("exit code 3", "killed by
	// signal SIGKILL"); "" is success.
	Description string `json:"description,omitempty"`
	// LastStderr is the last line the process wrote to stderr.
	LastStderr string `json:"lastStderr,omitempty"`
	// Stopped means the supervisor was asked to stop the process.
	Stopped bool      `json:"stopped,omitempty"`
	At      time.Time `json:"at"`
}

// report is one line a supervisor writes to the server that started it
// (file descriptor 3), so that a server that is still there needs no files.
type report struct {
	Started *startedRecord `json:"started,omitempty"`
	Exit    *exitRecord    `json:"exit,omitempty"`
}

// supervise is the supervisor's main. Its exit code tells the server that
// started it nothing it needs: everything is in the files and reports.
func supervise(specIn io.Reader, reports *os.File) int {
	// The training process's parent-death signal is tied to the thread
	// that starts it: keep this goroutine on one thread for good.
	runtime.LockOSThread()
	var spec launchSpec
	if err := json.NewDecoder(specIn).Decode(&spec); err != nil {
		// The server went away (or gave up) before releasing us.
		return 3
	}
	// Stop requests count from now on, so that none is missed; a Ctrl-C
	// or hang-up meant for someone else is no stop request.
	stops := make(chan os.Signal, 4)
	signal.Notify(stops, syscall.SIGTERM)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP)

	r := &reporter{f: reports}
	unlock, err := lockFile(filepath.Join(spec.Dir, supervisorLock), true)
	if err != nil {
		// Nothing ran; only the server that started us can hear of it.
		fmt.Fprintf(os.Stderr, "%s: cannot lock %s: %v\n", supervisorName, spec.Dir, err)
		r.send(report{Exit: &exitRecord{StartError: "cannot lock the job directory: " + err.Error(), Fault: machineFault(err), At: time.Now().UTC()}})
		return 4
	}
	defer unlock()
	ex := runSupervised(spec, stops, r)
	ex.At = time.Now().UTC()
	if err := writeJSONAtomic(filepath.Join(spec.Dir, exitFile), ex); err != nil {
		fmt.Fprintf(os.Stderr, "%s: cannot write %s: %v\n", supervisorName, exitFile, err)
	}
	r.send(report{Exit: &ex})
	return 0
}

// reporter writes reports to the server, if it still listens.
type reporter struct{ f *os.File }

func (r *reporter) send(rep report) {
	if r.f == nil {
		return
	}
	b, _ := json.Marshal(rep)
	// A server that has gone leaves a broken pipe; the files say it all.
	if _, err := r.f.Write(append(b, '\n')); err != nil {
		r.f.Close()
		r.f = nil
	}
}

// runSupervised runs the training process to its end.
func runSupervised(spec launchSpec, stops <-chan os.Signal, r *reporter) exitRecord {
	fail := func(what string, err error) exitRecord {
		return exitRecord{StartError: what + ": " + err.Error(), Fault: machineFault(err)}
	}
	lg, err := openLog(spec.Dir)
	if err != nil {
		return fail("cannot open the training job's log", err)
	}
	defer lg.close()
	select {
	case <-stops:
		return exitRecord{Stopped: true}
	default:
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail("cannot make a pipe for the training process", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fail("cannot make a pipe for the training process", err)
	}
	defer outR.Close()
	defer errR.Close()

	// Record that a process is about to start before it can: a restarted
	// server that finds no started.json knows that nothing ran.
	startedPath := filepath.Join(spec.Dir, startedFile)
	if err := writeJSONAtomic(startedPath, startedRecord{At: time.Now().UTC()}); err != nil {
		outW.Close()
		errW.Close()
		return fail("cannot record the training process", err)
	}

	// The one place a training process starts.
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	cmd.Stdout, cmd.Stderr = outW, errW
	setProcessGroup(cmd)
	runAs(cmd, spec.Account)
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		lg.note("cannot start %s%s: %v", spec.Argv[0], accountNote(spec.Account), err)
		os.Remove(startedPath)
		return exitRecord{StartError: fmt.Sprintf("cannot start %s: %v", spec.Argv[0], startError(err)), Fault: machineFault(err)}
	}
	pid := cmd.Process.Pid
	started := startedRecord{Pid: pid, At: time.Now().UTC()}
	started.StartTime, _ = processStartTime(pid)
	if err := writeJSONAtomic(startedPath, started); err != nil {
		lg.note("cannot record the training process: %v", err)
	}
	r.send(report{Started: &started})

	var readers sync.WaitGroup
	readers.Go(func() { lg.copy(outR, false) })
	readers.Go(func() { lg.copy(errR, true) })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var grace <-chan time.Time
	stopped, killed := false, false
	var waitErr error
wait:
	for {
		select {
		case waitErr = <-exited:
			break wait
		case <-stops:
			if stopped {
				continue
			}
			stopped = true
			lg.note("stop requested: sending SIGTERM to process group %d", pid)
			if err := signalGroup(pid, false); err != nil {
				lg.note("cannot signal process group %d: %v", pid, err)
			}
			t := time.NewTimer(spec.StopGrace)
			defer t.Stop()
			grace = t.C
		case <-grace:
			grace = nil
			killed = true
			lg.note("process %d still running %s after SIGTERM: sending SIGKILL to process group %d", pid, spec.StopGrace, pid)
			signalGroup(pid, true)
			spec.Container.kill()
		}
	}
	// The entry point is done; like a container, the job ends with it, so
	// whatever it left running in its group goes too. (The leader is
	// reaped by now, but the kernel does not hand out a pid while a
	// process group of that id has members, so the group is still ours.)
	signalGroup(pid, true)
	if killed || signaled(cmd.ProcessState) {
		// A runtime client that did not end on its own may leave its
		// container behind.
		spec.Container.remove()
	}

	drained := make(chan struct{})
	go func() {
		readers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(pipeDrain):
		lg.note("a process outside the job's process group still holds its output; no longer reading it")
		outR.Close()
		errR.Close()
		<-drained
	}
	return exitRecord{Description: exitDescription(cmd.ProcessState, waitErr), LastStderr: lg.lastStderr(), Stopped: stopped}
}

// containerRef names the container a runtime's `run` client runs.
type containerRef struct {
	// Runtime is the runtime's command line before its subcommand
	// ("podman", "--runtime", "runc").
	Runtime []string `json:"runtime"`
	Name    string   `json:"name"`
}

// kill kills the container at once; a missing one (or none) is no error.
func (c *containerRef) kill() {
	if c != nil {
		c.exec("kill", "--signal", "KILL", c.Name)
	}
}

// remove removes the container, killing it if it runs.
func (c *containerRef) remove() {
	if c != nil {
		c.exec("rm", "--force", c.Name)
	}
}

func (c *containerRef) exec(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := append(append([]string(nil), c.Runtime...), args...)
	exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
}

// writeJSONAtomic writes v as JSON so that a crash leaves the old file or
// the new one. Not durably: the files of a supervisor describe processes,
// which a power loss ends anyway (the job then goes back to its queue as
// SUPERVISOR_LOST, or runs again if nothing started).
func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600, false)
}

// readJSON reads a file writeJSONAtomic wrote; ok is false when there is
// none (or it cannot be read, which for a file written atomically means the
// same: it was never written).
func readJSON(path string, v any) (ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
