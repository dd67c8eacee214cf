package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sagequeue/sagequeue/internal/benchutil"
)

// submitter makes one submission: a process (command), or an HTTP request
// from this process (request).
type submitter struct {
	name      string
	needs     string // a program it runs, checked before
	serverPid func() int
	command   func(ctx context.Context, i int) *exec.Cmd
	request   func(ctx context.Context) error
	goal      float64 // the goal for its rate, as a multiple of Slurm's; 0 for none
}

// throughput is what one submitter achieved over the rounds.
type throughput struct {
	name    string
	skipped string
	rates   []float64 // submissions/s per round
	client  []time.Duration
	server  []time.Duration // CPU per submission
}

func (t throughput) median() float64 { return median(t.rates) }

// measureThroughput runs o.rounds rounds; in each, every submitter in turn
// submits o.n jobs from o.clients processes at a time. Rounds alternate the
// order of the submitters, so that a change in the machine's load during the
// run does not favour one.
func measureThroughput(ctx context.Context, o options, subjects []submitter) ([]throughput, error) {
	res := make([]throughput, len(subjects))
	for i, s := range subjects {
		res[i].name = s.name
		if s.needs != "" {
			if _, err := exec.LookPath(s.needs); err != nil {
				res[i].skipped = s.needs + " is not installed"
			}
		}
	}
	for round := range o.rounds {
		for k := range subjects {
			i := k
			if round%2 == 1 {
				i = len(subjects) - 1 - k
			}
			if res[i].skipped != "" {
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %s, %d submissions from %d clients...\n", round+1, o.rounds, subjects[i].name, o.n, o.clients)
			// A few unmeasured submissions first, so that caches are warm.
			if _, _, err := submitMany(ctx, subjects[i], 2*o.clients, o.clients); err != nil {
				return nil, fmt.Errorf("%s: %w", subjects[i].name, err)
			}
			cpu0 := benchutil.ProcessCPU(subjects[i].serverPid())
			elapsed, client, err := submitMany(ctx, subjects[i], o.n, o.clients)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", subjects[i].name, err)
			}
			server := benchutil.ProcessCPU(subjects[i].serverPid()) - cpu0
			res[i].rates = append(res[i].rates, float64(o.n)/elapsed.Seconds())
			res[i].client = append(res[i].client, client/time.Duration(o.n))
			res[i].server = append(res[i].server, server/time.Duration(o.n))
		}
	}
	return res, nil
}

// submitMany makes n submissions, clients at a time, and returns the wall
// time and the clients' CPU time in all: the submitting processes', or this
// process's for requests made from here.
func submitMany(ctx context.Context, s submitter, n, clients int) (time.Duration, time.Duration, error) {
	var next, cpu atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		next.Store(int64(n)) // stop the others
	}
	self := benchutil.SelfCPU()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n || ctx.Err() != nil {
					return
				}
				if s.request != nil {
					if err := s.request(ctx); err != nil {
						fail(err)
					}
					continue
				}
				cmd := s.command(ctx, i)
				out, err := cmd.CombinedOutput()
				if cmd.ProcessState != nil {
					cpu.Add(int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()))
				}
				if err != nil {
					fail(fmt.Errorf("%s: %v: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out))))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if s.request != nil {
		cpu.Store(int64(benchutil.SelfCPU() - self))
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return elapsed, time.Duration(cpu.Load()), firstErr
}

// latencyProbe submits one job and tells whether it has reached RUNNING,
// through the system's own command line.
type latencyProbe struct {
	name string
	// submit submits a job whose first command writes the time (date
	// +%s%N) into the file stamp, and returns its id.
	submit func(ctx context.Context, stamp string) (string, error)
	// state says where the job is: waiting, running, or finished.
	state    func(ctx context.Context, id string) (jobState, error)
	stampDir string
}

type jobState int

const (
	waiting  jobState = iota // not RUNNING yet
	running                  // RUNNING
	finished                 // past RUNNING
)

// settle is the pause between the jobs of the latency measure, after the
// previous one finished: the capacity a job is submitted to is idle.
const settle = 300 * time.Millisecond

type latencyResult struct {
	name    string
	running []float64 // ms from submitting to seeing RUNNING
	started []float64 // ms from submitting to the job's first command
}

// measureLatency submits jobs one at a time to idle capacity and polls each,
// back to back, until it is RUNNING; then reads when its first command ran,
// and waits for it to finish (and settle) before the next.
func measureLatency(ctx context.Context, jobs int, p latencyProbe) (latencyResult, error) {
	fmt.Fprintf(os.Stderr, "%s: submit -> RUNNING, %d jobs one at a time...\n", p.name, jobs)
	r := latencyResult{name: p.name}
	for i := range jobs + 2 { // the first two warm up
		stamp := filepath.Join(p.stampDir, fmt.Sprintf("%s-%d.start", strings.ToLower(p.name), i))
		t0 := time.Now()
		id, err := p.submit(ctx, stamp)
		if err != nil {
			return r, fmt.Errorf("submit: %w", err)
		}
		if err := p.await(ctx, id, running); err != nil {
			return r, err
		}
		seen := time.Since(t0)
		var started time.Time
		if !waitFor(time.Minute, func() bool {
			b, err := os.ReadFile(stamp)
			ns, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil || perr != nil {
				return ctx.Err() != nil
			}
			started = time.Unix(0, ns)
			return true
		}) || started.IsZero() {
			return r, fmt.Errorf("job %s wrote no start time into %s", id, stamp)
		}
		if i >= 2 {
			r.running = append(r.running, ms(seen))
			r.started = append(r.started, ms(started.Sub(t0)))
		}
		if err := p.await(ctx, id, finished); err != nil {
			return r, err
		}
		time.Sleep(settle)
	}
	return r, nil
}

// await polls a job's state, back to back, until it is at least want.
func (p latencyProbe) await(ctx context.Context, id string, want jobState) error {
	for start := time.Now(); ; {
		st, err := p.state(ctx, id)
		if err != nil {
			return err
		}
		if st >= want {
			return nil
		}
		if time.Since(start) > time.Minute {
			return fmt.Errorf("job %s still short of state %d after a minute", id, want)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 { return benchutil.Percentile(xs, 50) }

func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

func printThroughput(o options, res []throughput) {
	fmt.Printf("Submissions: %d per run from %d parallel one-shot processes, median of %d runs (range)\n", o.n, o.clients, o.rounds)
	fmt.Printf("  %-32s %20s %16s %16s\n", "", "submissions/s", "client CPU/job", "server CPU/job")
	for _, t := range res {
		if t.skipped != "" {
			fmt.Printf("  %-32s %s\n", t.name, "not measured: "+t.skipped)
			continue
		}
		lo, hi := benchutil.Percentile(t.rates, 0), benchutil.Percentile(t.rates, 100)
		fmt.Printf("  %-32s %20s %16s %16s\n", t.name, fmt.Sprintf("%.0f (%.0f–%.0f)", t.median(), lo, hi),
			fmtMs(medianDuration(t.client)), fmtMs(medianDuration(t.server)))
	}
	fmt.Println("  (server CPU: slurmctld's, or sagequeue serve's, per submission; slurmd and munged are not counted)")
}

func printLatency(o options, res []latencyResult) {
	fmt.Printf("\nSubmit -> RUNNING on idle capacity: %d jobs one at a time, state polled back to back with each system's CLI\n", o.latencyJobs)
	fmt.Printf("  %-32s %14s %10s %26s\n", "", "median", "p90", "job's first command, median")
	for _, r := range res {
		fmt.Printf("  %-32s %14s %10s %26s\n", r.name, fmt.Sprintf("%.1f ms", median(r.running)),
			fmt.Sprintf("%.1f ms", benchutil.Percentile(r.running, 90)), fmt.Sprintf("%.1f ms", median(r.started)))
	}
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.2f ms", ms(d)) }

// printRatios compares sagequeue with Slurm and checks the goals of issue 14.
func printRatios(subjects []submitter, tp []throughput, lat []latencyResult) {
	byName := map[string]throughput{}
	for _, t := range tp {
		byName[t.name] = t
	}
	goals := map[string]float64{}
	for _, s := range subjects {
		goals[s.name] = s.goal
	}
	slurm := byName["Slurm (sbatch)"].median()
	fmt.Println("\nsagequeue / Slurm:")
	check := func(what string, ratio, goal float64, higherBetter bool) {
		met := ratio >= goal
		cmp := "≥"
		if !higherBetter {
			met, cmp = ratio <= goal, "≤"
		}
		verdict := "met"
		if !met {
			verdict = "NOT met"
		}
		fmt.Printf("  %-44s %5.2f×   (goal %s %g×: %s)\n", what, ratio, cmp, goal, verdict)
	}
	for _, t := range tp {
		if t.name == "Slurm (sbatch)" || t.skipped != "" || slurm == 0 {
			continue
		}
		if goals[t.name] == 0 {
			fmt.Printf("  %-44s %5.2f×\n", "submission rate, "+t.name, t.median()/slurm)
			continue
		}
		check("submission rate, "+t.name, t.median()/slurm, goals[t.name], true)
	}
	if len(lat) == 2 && median(lat[0].running) > 0 {
		check("submit -> RUNNING median", median(lat[1].running)/median(lat[0].running), 1, false)
		fmt.Printf("  %-44s %5.2f×\n", "submit -> job's first command, median", median(lat[1].started)/median(lat[0].started))
	}
}
