package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// slurm is a single-node Slurm cluster in a directory of its own: munged
// with a fresh key, slurmctld and slurmd, each stopped by PID.
type slurm struct {
	dir     string
	env     []string // SLURM_CONF for the client commands
	version string
	daemons []*daemon
	ctld    *daemon
}

// slurmTools are the programs a cluster needs, from Debian's slurm-wlm
// (slurmctld, slurmd, slurm-client) and munge.
var slurmTools = []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"}

func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (Debian: apt-get install slurm-wlm munge)", name)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startSlurm starts the cluster and waits until its node is idle. Two
// partitions: run (the node, for the latency measure) and hold (DOWN: it
// queues jobs and never starts them, for the throughput measure).
func startSlurm(ctx context.Context, dir string) (_ *slurm, err error) {
	tools := map[string]string{}
	for _, name := range slurmTools {
		p, err := lookTool(name)
		if err != nil {
			return nil, err
		}
		tools[name] = p
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("slurmd runs jobs only as root: run as root to compare with Slurm")
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"state", "spool", "munge", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	s := &slurm{dir: dir}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()

	// munge: a fresh key, its own socket.
	key := make([]byte, 128)
	rand.Read(key)
	keyFile := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, err
	}
	socket := filepath.Join(dir, "munge", "munge.socket")
	munged, err := startDaemon("munged", filepath.Join(dir, "log", "munged.log"), os.Environ(), dir,
		tools["munged"], "--foreground", "--force", "--socket="+socket, "--key-file="+keyFile,
		"--pid-file="+filepath.Join(dir, "munge", "munged.pid"), "--seed-file="+filepath.Join(dir, "munge", "seed"),
		"--log-file="+filepath.Join(dir, "log", "munged.log"))
	if err != nil {
		return nil, err
	}
	s.daemons = append(s.daemons, munged)
	if !waitFor(10*time.Second, func() bool { _, err := os.Stat(socket); return err == nil || !munged.running() }) || !munged.running() {
		return nil, fmt.Errorf("munged did not start: %s", munged.tail())
	}

	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	ctldPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dPort, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "slurm.conf")
	text := fmt.Sprintf(`# A throwaway single-node cluster of make bench-compare.
ClusterName=benchcompare
SlurmctldHost=%[1]s(127.0.0.1)
SlurmUser=%[2]s
SlurmdUser=root
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[5]s
StateSaveLocation=%[6]s/state
SlurmdSpoolDir=%[6]s/spool
SlurmctldPidFile=%[6]s/slurmctld.pid
SlurmdPidFile=%[6]s/slurmd.pid
SlurmctldLogFile=%[6]s/log/slurmctld.log
SlurmdLogFile=%[6]s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MaxJobCount=1000000
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=%[7]d State=UNKNOWN
PartitionName=run Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
PartitionName=hold Nodes=ALL Default=NO MaxTime=INFINITE State=DOWN
`, host, u.Username, ctldPort, dPort, socket, dir, runtime.NumCPU())
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	s.env = append(os.Environ(), "SLURM_CONF="+conf)
	s.ctld, err = startDaemon("slurmctld", filepath.Join(dir, "log", "slurmctld.out"), s.env, dir, tools["slurmctld"], "-D", "-i")
	if err != nil {
		return nil, err
	}
	s.daemons = append(s.daemons, s.ctld)
	slurmd, err := startDaemon("slurmd", filepath.Join(dir, "log", "slurmd.out"), s.env, dir, tools["slurmd"], "-D", "-N", host)
	if err != nil {
		return nil, err
	}
	s.daemons = append(s.daemons, slurmd)
	idle := waitFor(60*time.Second, func() bool {
		if ctx.Err() != nil || !s.ctld.running() || !slurmd.running() {
			return true
		}
		out, err := s.command(ctx, "sinfo", "-h", "-p", "run", "-o", "%T").Output()
		return err == nil && strings.TrimSpace(string(out)) == "idle"
	})
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case !s.ctld.running():
		return nil, fmt.Errorf("slurmctld exited: %s (log %s)", s.ctld.tail(), s.ctld.log)
	case !slurmd.running():
		return nil, fmt.Errorf("slurmd exited: %s (log %s)", slurmd.tail(), slurmd.log)
	case !idle:
		return nil, fmt.Errorf("the node did not become idle within 60s (logs in %s)", filepath.Join(dir, "log"))
	}
	out, err := s.command(ctx, "sbatch", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("sbatch --version: %w", err)
	}
	s.version = strings.TrimSpace(string(out))
	return s, nil
}

// command is a Slurm client command against this cluster.
func (s *slurm) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.env
	return cmd
}

// stop stops slurmd, slurmctld and munged, in that order, by PID.
func (s *slurm) stop() {
	for i := len(s.daemons) - 1; i >= 0; i-- {
		s.daemons[i].stop()
	}
	s.daemons = nil
}

func (s *slurm) submitter() submitter {
	return submitter{
		name:      "Slurm (sbatch)",
		serverPid: s.ctld.pid,
		command: func(ctx context.Context, _ int) *exec.Cmd {
			return s.command(ctx, "sbatch", "--parsable", "-p", "hold", "-o", "/dev/null", "--wrap", "true")
		},
	}
}

func (s *slurm) latencyProbe(tmp string) latencyProbe {
	return latencyProbe{
		name: "Slurm",
		submit: func(ctx context.Context, stamp string) (string, error) {
			out, err := s.command(ctx, "sbatch", "--parsable", "-p", "run", "-o", "/dev/null",
				"--wrap", "date +%s%N > "+stamp).Output()
			return strings.TrimSpace(string(out)), err
		},
		// squeue shows a finished job until slurmctld purges it (MinJobAge):
		// an empty answer for a job sbatch created means it is gone.
		state: func(ctx context.Context, id string) (jobState, error) {
			out, err := s.command(ctx, "squeue", "-h", "-j", id, "-o", "%T").Output()
			if err != nil {
				return waiting, err
			}
			switch st := strings.TrimSpace(string(out)); st {
			case "PENDING", "CONFIGURING":
				return waiting, nil
			case "RUNNING", "COMPLETING":
				return running, nil
			case "COMPLETED", "":
				return finished, nil
			default:
				return waiting, fmt.Errorf("job %s is %s", id, st)
			}
		},
		stampDir: tmp,
	}
}
