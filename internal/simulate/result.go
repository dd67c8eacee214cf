package simulate

import (
	"time"

	"github.com/sagequeue/sagequeue/internal/sched"
	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// Options are the knobs of a run besides the configuration and the trace.
type Options struct {
	// Until ends the run this long after the start of the trace; 0 runs
	// until every job has finished.
	Until time.Duration
	// Tick is the period of passes while jobs wait (sim.Config.Tick: 0 for
	// the production tick, negative for none).
	Tick time.Duration
	// OnPass, if set, sees every pass (sim.Config.OnPass).
	OnPass func(now int64, s *sched.Snapshot, d *sched.Decisions)
}

// Waits are wait statistics in seconds. Jobs that never started count with
// their wait until the end of the run.
type Waits struct {
	Jobs      int     `json:"jobs"`
	Unstarted int     `json:"unstarted"`
	Mean      float64 `json:"mean"`
	P50       float64 `json:"p50"`
	P95       float64 `json:"p95"`
	Max       float64 `json:"max"`
}

func waitsOf(p sim.Percentiles) Waits {
	return Waits{Jobs: p.Count, Unstarted: p.Unstarted, Mean: p.Mean.Seconds(), P50: p.P50.Seconds(), P95: p.P95.Seconds(), Max: p.Max.Seconds()}
}

// Share is one (queue, share) pair of a run.
type Share struct {
	// Target is the share's due part of what the competing shares of its
	// fair-share queue held, from the weights (nil in a FIFO queue);
	// Achieved the part it held, both while it competed (had jobs waiting
	// together with another share of the queue).
	Target           *float64 `json:"target"`
	Achieved         *float64 `json:"achieved"`
	CompetingSeconds float64  `json:"competingSeconds"`
	// Started is the share's part of the capacity-time the queue handed
	// out while shares competed: the scheduler's decisions, which jobs
	// already running do not blur.
	Started     *float64 `json:"startedWhileCompeting"`
	Weight      float64  `json:"weight,omitempty"`
	WaitSeconds Waits    `json:"waitSeconds"`
}

// Result is what `sagequeue simulate` reports of one run.
type Result struct {
	Config   string         `json:"config"`
	Trace    string         `json:"trace"`
	Skipped  map[string]int `json:"skippedRows,omitempty"`
	Capacity int64          `json:"capacity"`
	Jobs     int            `json:"jobs"`
	// Placed jobs started; Unfinished did not finish by the end of the run
	// (waiting, running, or arriving after --until); NeverStarted of them
	// never started; StoppedAtBound ran into their runtime bound.
	Placed           int     `json:"placed"`
	Unfinished       int     `json:"unfinished"`
	NeverStarted     int     `json:"neverStarted"`
	Terminated       int     `json:"terminated"`
	StoppedAtBound   int     `json:"stoppedAtBound"`
	Utilization      float64 `json:"utilization"`
	IdleWhileWaiting float64 `json:"idleWhileWaiting"`
	WaitSeconds      Waits   `json:"waitSeconds"`
	// Queues and Shares are keyed by queue name and "<queue>/<share>".
	Queues           map[string]Waits `json:"queues"`
	Shares           map[string]Share `json:"shares"`
	Passes           int              `json:"passes"`
	TickSeconds      float64          `json:"tickSeconds"`
	SimulatedSeconds float64          `json:"simulatedSeconds"`
	WallSeconds      float64          `json:"wallSeconds"`

	report     *sim.Report
	world      *World
	shareOrder []string // keys of Shares by queue, then first arrival
}

// Run plays jobs through the production scheduler (sched.Plan) in w.
func Run(w *World, jobs []sim.Job, o Options) *Result {
	cfg := sim.Config{
		Environments: w.Environments, Queues: w.Queues, Policies: w.Policies,
		Start: Epoch.UnixMilli(), Tick: o.Tick, OnPass: o.OnPass,
	}
	if o.Until > 0 {
		cfg.Until = cfg.Start + o.Until.Milliseconds()
	}
	began := time.Now()
	r := sim.Run(cfg, jobs)
	wall := time.Since(began)

	res := &Result{
		Config: w.Path, Capacity: w.Capacity(), Jobs: len(jobs), Placed: len(r.Admissions), Unfinished: r.Unfinished,
		NeverStarted: r.NeverStarted, Terminated: len(r.Terminated), StoppedAtBound: r.Stopped,
		Utilization: r.TotalUtilization(), IdleWhileWaiting: r.IdleWhileWaiting(), WaitSeconds: waitsOf(r.Waits(nil)),
		Queues: map[string]Waits{}, Shares: map[string]Share{}, Passes: r.Passes,
		SimulatedSeconds: float64(r.Until-r.Start) / 1000, WallSeconds: wall.Seconds(),
		report: r, world: w,
	}
	tick := o.Tick
	if tick == 0 {
		tick = sim.DefaultTick
	}
	res.TickSeconds = max(tick.Seconds(), 0)
	for i := range w.Queues {
		q := &w.Queues[i]
		res.Queues[q.Name] = waitsOf(r.Waits(func(j *sim.Job) bool { return j.Queue == q.Arn }))
		fairness := map[string]sim.Fairness{}
		for _, f := range r.FairShare(q.Arn) {
			fairness[f.Share.Share] = f
		}
		for _, k := range r.Shares() {
			if k.Queue != q.Arn {
				continue
			}
			s := Share{WaitSeconds: waitsOf(r.Waits(func(j *sim.Job) bool { return j.Queue == q.Arn && j.Share == k.Share }))}
			if f, ok := fairness[k.Share]; ok {
				s.Achieved, s.Started, s.CompetingSeconds = &f.Achieved, &f.Started, f.Competing.Seconds()
				if f.Fair {
					s.Target, s.Weight = &f.Target, f.Weight
				}
			}
			name := q.Name + "/" + shareName(k.Share)
			res.Shares[name] = s
			res.shareOrder = append(res.shareOrder, name)
		}
	}
	return res
}

func shareName(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
