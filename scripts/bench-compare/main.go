// Command bench-compare measures sagequeue and Slurm side by side on this
// machine, in one run, the way a user scripts them: one submitting process
// per job, several in parallel (sbatch, sagequeue submit, curl), and how long
// a job submitted to idle capacity takes to be RUNNING. It prints both
// systems' figures and their ratios.
//
//	make bench-compare                       # builds bin/, then runs this
//	go run ./scripts/bench-compare -bin bin -n 2000 -clients 8 -rounds 3
//
// Slurm (Debian's slurm-wlm and munge) runs as a throwaway single-node
// cluster: munged, slurmctld and slurmd started here with their state, keys
// and logs in a temporary directory, on free ports, and stopped by PID at the
// end. Without them (or without root, which slurmd needs to run jobs) it
// measures sagequeue alone and says how to enable Slurm.
//
// It is not a test: figures depend on the machine and its load, which it
// prints with them (docs/benchmarks.md records runs).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin         string
	n           int
	clients     int
	rounds      int
	latencyJobs int
	slurm       string // auto, on, off
	keep        bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory holding sagequeue and sagequeue-server (go build -o bin/ ./cmd/...)")
	flag.IntVar(&o.n, "n", 2000, "submissions per run of the throughput measure")
	flag.IntVar(&o.clients, "clients", 8, "parallel one-shot submitting processes")
	flag.IntVar(&o.rounds, "rounds", 3, "runs of the throughput measure per client; the median is reported")
	flag.IntVar(&o.latencyJobs, "latency-jobs", 20, "jobs of the submit -> RUNNING measure, one at a time")
	flag.StringVar(&o.slurm, "slurm", "auto", "auto: compare with Slurm when it can run here; on: fail without it; off: sagequeue alone")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (state, logs) and print where it is")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.n < o.clients || o.clients < 1 || o.rounds < 1 || o.latencyJobs < 1 {
		return fmt.Errorf("-n must be at least -clients, and -clients, -rounds and -latency-jobs at least 1")
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	for _, name := range []string{"sagequeue", "sagequeue-server"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return fmt.Errorf("%s/%s is missing: build it with `go build -o %s/ ./cmd/...` (make bench-compare does)", o.bin, name, o.bin)
		}
	}
	tmp, err := os.MkdirTemp("", "sagequeue-bench-compare-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Printf("\nstate and logs kept in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	start := time.Now()
	load0 := loadAverage()
	var sl *slurm
	slurmWhy := ""
	if o.slurm != "off" {
		sl, err = startSlurm(ctx, filepath.Join(tmp, "slurm"))
		if err != nil {
			if o.slurm == "on" {
				return fmt.Errorf("slurm: %w", err)
			}
			slurmWhy = err.Error()
			sl = nil
		} else {
			defer sl.stop()
		}
	} else {
		slurmWhy = "-slurm off"
	}
	sq, err := startSagequeue(ctx, bin, filepath.Join(tmp, "sagequeue"))
	if err != nil {
		return err
	}
	defer sq.stop()

	fmt.Printf("sagequeue vs Slurm, submitted the way a user scripts them — %s\n", start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("machine: %s, %d CPUs, %s/%s, %s; load average %s at the start\n",
		hostname(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel(), load0)
	if sl != nil {
		fmt.Printf("Slurm: %s, single node (munged, slurmctld, slurmd started by this run; jobs held in a DOWN partition for throughput)\n", sl.version)
	} else {
		fmt.Printf("Slurm: not measured: %s\n", slurmWhy)
	}
	fmt.Printf("sagequeue: sagequeue serve from %s (bbolt, local SageMaker endpoint; jobs held in a DISABLED environment for throughput)\n\n", o.bin)

	var subjects []submitter
	if sl != nil {
		subjects = append(subjects, sl.submitter())
	}
	subjects = append(subjects, sq.cliSubmitter(), sq.httpSubmitter(), sq.curlSubmitter())

	// Latency first, while both queues are empty: Slurm starts a job at
	// submission only when no other job is pending before it.
	var lat []latencyResult
	if sl != nil {
		r, err := measureLatency(ctx, o.latencyJobs, sl.latencyProbe(tmp))
		if err != nil {
			return fmt.Errorf("slurm latency: %w", err)
		}
		lat = append(lat, r)
	}
	r, err := measureLatency(ctx, o.latencyJobs, sq.latencyProbe(tmp))
	if err != nil {
		return fmt.Errorf("sagequeue latency: %w", err)
	}
	lat = append(lat, r)

	tp, err := measureThroughput(ctx, o, subjects)
	if err != nil {
		return err
	}
	printThroughput(o, tp)
	printLatency(o, lat)

	fmt.Printf("\nload average %s at the end; %s in all\n", loadAverage(), time.Since(start).Round(time.Second))
	if sl != nil {
		printRatios(subjects, tp, lat)
	} else {
		fmt.Printf("\nTo compare with Slurm: install Debian's slurm-wlm and munge (apt-get install slurm-wlm munge),\n" +
			"run as root (slurmd starts jobs), and run make bench-compare again.\n")
	}
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// loadAverage is the 1-, 5- and 15-minute load of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the processor's name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
