package localsm

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The server's side of a job's supervisor (see supervisor.go): start it
// held, save its identity, release it; follow it; adopt it after a
// restart; settle a job whose supervisor is gone.

// supervisorRef is a supervisor's identity, saved in state.json before the
// supervisor is released.
type supervisorRef struct {
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime,omitempty"`
	// Token is in the supervisor's environment (supervisorEnv), so that a
	// pid the kernel has given to another program is never taken for it.
	Token string `json:"token"`
}

func (r *supervisorRef) entry() string { return supervisorEnv + "=" + r.Token }

// alive reports whether the supervisor runs now.
func (r *supervisorRef) alive() bool { return isProcess(r.Pid, r.StartTime, r.entry()) }

// supervision is the server's handle on a running supervisor.
type supervision struct {
	// proc signals the supervisor; nil when it could not be proven ours.
	proc *os.Process
	// started delivers the training process once it runs (at most once).
	started chan startedRecord
	// exited delivers how the process ended, once; nil when the
	// supervisor is gone without saying.
	exited chan *exitRecord
	// adopted: a previous server started it.
	adopted bool
}

func newSupervision() *supervision {
	return &supervision{started: make(chan startedRecord, 1), exited: make(chan *exitRecord, 1)}
}

// stop asks the supervisor to stop the training process (SIGTERM, then
// SIGKILL after the grace); asking again is harmless.
func (v *supervision) stop() {
	if v.proc != nil {
		v.proc.Signal(syscall.SIGTERM)
	}
}

// How often an adopted supervisor is looked at.
const adoptPoll = 100 * time.Millisecond

// releaseWait bounds how long a restarted server waits for a supervisor
// that is alive but not running anything yet to either start (it was
// released just before the crash) or exit (it never was).
const releaseWait = 10 * time.Second

// startSupervisor starts a supervisor for spec, held; saves its identity;
// then releases it. A non-empty failure is the job's FailureReason when the
// supervisor could not be started or recorded: nothing runs then.
func (s *Server) startSupervisor(j *job, spec launchSpec, container string) (*supervision, string) {
	const what = "cannot start the training job's supervisor"
	token := make([]byte, 16)
	rand.Read(token)
	ref := &supervisorRef{Token: hex.EncodeToString(token)}

	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, internalFailure(what, err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return nil, internalFailure(what, err)
	}
	cmd := &exec.Cmd{
		Path:       s.self,
		Args:       []string{supervisorName, j.dir},
		Env:        append(os.Environ(), ref.entry()),
		Stdin:      specR,
		ExtraFiles: []*os.File{repW},
	}
	if f, err := os.OpenFile(filepath.Join(j.dir, supervisorLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		defer f.Close()
		cmd.Stderr = f
	}
	detachProcess(cmd)
	err = cmd.Start()
	specR.Close()
	repW.Close()
	if err != nil {
		specW.Close()
		repR.Close()
		return nil, internalFailure(what, err)
	}
	ref.Pid = cmd.Process.Pid
	ref.StartTime, _ = processStartTime(ref.Pid)

	s.mu.Lock()
	j.rec.Supervisor, j.rec.Container = ref, container
	j.rec.Pid, j.rec.PidStartTime = 0, 0
	s.mu.Unlock()
	if err := s.save(j, false); err != nil {
		// Never released: it reads end-of-file and exits.
		specW.Close()
		repR.Close()
		cmd.Wait()
		return nil, internalFailure("cannot record the training job's supervisor", err)
	}
	if s.beforeRelease != nil {
		s.beforeRelease(j.rec.Name)
	}
	// The release. Should it fail, the supervisor has no whole spec and
	// exits; following it then finds that out.
	json.NewEncoder(specW).Encode(spec)
	specW.Close()

	v := newSupervision()
	v.proc = cmd.Process
	go func() {
		var ex *exitRecord
		sc := bufio.NewScanner(repR)
		for sc.Scan() {
			var rep report
			if json.Unmarshal(sc.Bytes(), &rep) != nil {
				continue
			}
			if rep.Started != nil {
				select {
				case v.started <- *rep.Started:
				default:
				}
			}
			if rep.Exit != nil {
				ex = rep.Exit
			}
		}
		repR.Close()
		cmd.Wait()
		if ex == nil {
			ex = readExit(j.dir)
		}
		v.exited <- ex
	}()
	return v, ""
}

// internalFailure is the FailureReason for err, which kept the endpoint
// itself from doing what: a machine fault, or else an internal error.
func internalFailure(what string, err error) string {
	if fault := machineFault(err); fault != "" {
		return faultReason(fault, what+": "+err.Error())
	}
	return "InternalServerError: " + what + ": " + err.Error()
}

// adopt follows the supervisor of a job that a previous server started.
// The supervisor's lock says whether it still runs; its files say what
// happened.
func (s *Server) adopt(j *job) *supervision {
	ref := j.rec.Supervisor
	v := newSupervision()
	v.adopted = true
	if p, err := os.FindProcess(ref.Pid); err == nil && ref.alive() {
		// Found first, proven after: the handle is the proven process.
		v.proc = p
	}
	lock := filepath.Join(j.dir, supervisorLock)
	go func() {
		sent := false
		sendStarted := func() {
			var st startedRecord
			if !sent && readJSON(filepath.Join(j.dir, startedFile), &st) && st.Pid > 0 {
				v.started <- st
				sent = true
			}
		}
		for {
			sendStarted()
			if !lockHeld(lock) {
				sendStarted()
				v.exited <- readExit(j.dir)
				return
			}
			select {
			case <-time.After(adoptPoll):
			case <-s.detach:
				return
			}
		}
	}()
	return v
}

func readExit(dir string) *exitRecord {
	var ex exitRecord
	if !readJSON(filepath.Join(dir, exitFile), &ex) {
		return nil
	}
	return &ex
}

// recovery is what becomes of a job that was InProgress or Stopping when
// the previous server went away.
type recovery int

const (
	// recoverAdopt: its supervisor runs; follow it.
	recoverAdopt recovery = iota
	// recoverSettle: its supervisor is gone; its files say how it ended.
	recoverSettle
	// recoverRerun: no training process ever started; start it now.
	recoverRerun
	// recoverLegacy: started by a server from before supervisors.
	recoverLegacy
)

// recoverJob decides what becomes of a job the previous server left
// InProgress or Stopping.
func (s *Server) recoverJob(j *job) recovery {
	ref := j.rec.Supervisor
	if ref == nil {
		if j.rec.Pid != 0 {
			return recoverLegacy
		}
		// Its supervisor was never released (or never started).
		return recoverRerun
	}
	lock := filepath.Join(j.dir, supervisorLock)
	deadline := time.Now().Add(releaseWait)
	for !lockHeld(lock) {
		if !ref.alive() {
			// Gone: did anything run?
			if readExit(j.dir) != nil || fileExists(filepath.Join(j.dir, startedFile)) {
				return recoverSettle
			}
			return recoverRerun
		}
		// Alive and not running anything yet: released just before the
		// crash (it is about to lock), or never released (it is about
		// to read end-of-file and exit).
		if time.Now().After(deadline) {
			s.log.Warn("killing a training job's supervisor that neither starts nor exits", "trainingJob", j.rec.Name, "pid", ref.Pid)
			if p, err := os.FindProcess(ref.Pid); err == nil && ref.alive() {
				p.Kill()
			}
			deadline = time.Now().Add(releaseWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return recoverAdopt
}

// cleanupLost kills what is left of a training process whose supervisor
// died without recording its end: the members of its process group that
// still carry the job's mark, and its container.
func (s *Server) cleanupLost(j *job) {
	var st startedRecord
	if readJSON(filepath.Join(j.dir, startedFile), &st) && st.Pid > 0 && groupCarries(st.Pid, "TRAINING_JOB_ARN="+j.rec.Arn) {
		appendLog(j.dir, fmt.Sprintf("the training process's supervisor is gone: sending SIGKILL to process group %d", st.Pid))
		signalGroup(st.Pid, true)
	}
	if j.rec.Container != "" && len(s.cfg.ContainerRuntime) > 0 {
		(&containerRef{Runtime: s.cfg.ContainerRuntime, Name: j.rec.Container}).remove()
	}
}

// resetDir empties a job directory for a run that starts over, keeping
// its state and its log.
func resetDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.Name() {
		case stateFile, logFile, supervisorLog:
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
