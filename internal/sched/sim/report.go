package sim

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/sagequeue/sagequeue/internal/sched"
)

// Percentiles of the wait between arrival and start.
type Percentiles struct {
	// Count is the jobs counted; Unstarted of them never started, and count
	// with their wait until the end of the run (a lower bound of their wait).
	Count, Unstarted              int
	Mean, P50, P90, P95, P99, Max time.Duration
}

func (p Percentiles) String() string {
	return fmt.Sprintf("n=%d unstarted=%d mean=%v p50=%v p90=%v p95=%v p99=%v max=%v",
		p.Count, p.Unstarted, p.Mean, p.P50, p.P90, p.P95, p.P99, p.Max)
}

// Waits returns the wait percentiles of the jobs that arrived and match keep
// (all when keep is nil). Jobs that never started count with their wait
// until Until; jobs ended by a time limit action do not count.
func (r *Report) Waits(keep func(j *Job) bool) Percentiles {
	var w []time.Duration
	var p Percentiles
	var sum time.Duration
	for i := range r.jobs {
		rec := &r.jobs[i]
		if keep != nil && !keep(rec.job) {
			continue
		}
		var d time.Duration
		switch _, ended := r.Terminated[rec.job.ID]; {
		case rec.start >= 0:
			d = time.Duration(rec.start-rec.job.Arrival) * time.Millisecond
		case ended:
			continue
		default:
			d = time.Duration(r.Until-rec.job.Arrival) * time.Millisecond
			p.Unstarted++
		}
		w = append(w, d)
		sum += d
	}
	if len(w) == 0 {
		return p
	}
	sort.Slice(w, func(a, b int) bool { return w[a] < w[b] })
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(w)))) - 1
		return w[max(i, 0)]
	}
	p.Count, p.Mean = len(w), sum/time.Duration(len(w))
	p.P50, p.P90, p.P95, p.P99, p.Max = rank(0.50), rank(0.90), rank(0.95), rank(0.99), w[len(w)-1]
	return p
}

// Fairness is how a share of a queue fared while it competed: while it and
// at least one other share of the queue had jobs waiting.
type Fairness struct {
	Share sched.ShareKey
	// Weight and Target are set in a fair-share queue (Fair): Target is the
	// share's due part of what the competing shares held, by weight
	// ((1/weight) over the sum of the competing shares' 1/weight). Achieved
	// is the part it held. Both are time-weighted means over the time it
	// competed. In a FIFO queue, where the share is only a label, Achieved
	// is what arrival order gave it.
	Fair             bool
	Weight           float64
	Target, Achieved float64
	// Competing is how long it competed.
	Competing time.Duration
	// Started is its part of the capacity-time (instances times runtime)
	// of the jobs the queue placed for shares that competed, while they
	// did: what the scheduler decided, as opposed to what the shares held
	// (jobs placed before, running long, weigh on Achieved; without
	// preemption they cannot be taken back).
	Started float64
}

// Error is how far the share was from its target, in fractions.
func (f Fairness) Error() float64 { return math.Abs(f.Achieved - f.Target) }

// FairShare reports every share of a queue that competed at some point, in
// order of first arrival.
func (r *Report) FairShare(queue string) []Fairness {
	p, fair := r.fair[queue]
	weight := func(share string) float64 {
		if !fair {
			return 1
		}
		return p.Weight(share)
	}
	var keys []int
	for i, k := range r.keys {
		if k.Queue == queue {
			keys = append(keys, i)
		}
	}
	target := make([]float64, len(r.keys))
	achieved := make([]float64, len(r.keys))
	competing := make([]int64, len(r.keys))
	var backlogged []int
	r.span(r.Start, r.Until, func(s *step, ms int64) {
		backlogged = backlogged[:0]
		var held int64
		var inverse float64
		for _, k := range keys {
			if s.waitingOf(k) > 0 {
				backlogged = append(backlogged, k)
				held += s.allocOf(k)
				inverse += 1 / weight(r.keys[k].Share)
			}
		}
		if len(backlogged) < 2 || held == 0 {
			return
		}
		for _, k := range backlogged {
			target[k] += (1 / weight(r.keys[k].Share)) / inverse * float64(ms)
			achieved[k] += float64(s.allocOf(k)) / float64(held) * float64(ms)
			competing[k] += ms
		}
	})
	var out []Fairness
	var started float64
	for _, k := range keys {
		if k < len(r.startedCompeting) {
			started += r.startedCompeting[k]
		}
	}
	for _, k := range keys {
		if competing[k] == 0 {
			continue
		}
		f := Fairness{
			Share: r.keys[k], Fair: fair, Achieved: achieved[k] / float64(competing[k]),
			Competing: time.Duration(competing[k]) * time.Millisecond,
		}
		if fair {
			f.Weight, f.Target = weight(r.keys[k].Share), target[k]/float64(competing[k])
		}
		if started > 0 && k < len(r.startedCompeting) {
			f.Started = r.startedCompeting[k] / started
		}
		out = append(out, f)
	}
	return out
}

// Timeline is the run in equal buckets of time, for charts: the means over
// each bucket of the instances in use per environment, of the jobs waiting
// and of the instances each share held.
type Timeline struct {
	Start, Width int64 // ms
	Environments []string
	Capacity     []int64
	InUse        [][]float64 // [environment][bucket]
	Shares       []sched.ShareKey
	Alloc        [][]float64 // [share][bucket]
	Waiting      [][]float64 // [share][bucket]
}

// Timeline divides [Start, end] into n buckets (end 0: Until), so that
// runs of different lengths can share an axis.
func (r *Report) Timeline(n int, end int64) Timeline {
	n = max(n, 1)
	if end <= r.Start {
		end = r.Until
	}
	tl := Timeline{
		Start: r.Start, Width: max((end-r.Start+int64(n)-1)/int64(n), 1),
		Environments: append([]string(nil), r.envs...), Capacity: append([]int64(nil), r.envMax...), Shares: r.Shares(),
	}
	grid := func(rows int) [][]float64 {
		g := make([][]float64, rows)
		for i := range g {
			g[i] = make([]float64, n)
		}
		return g
	}
	tl.InUse, tl.Alloc, tl.Waiting = grid(len(r.envs)), grid(len(r.keys)), grid(len(r.keys))
	for i := range r.steps {
		s := &r.steps[i]
		end := r.Until
		if i+1 < len(r.steps) {
			end = min(end, r.steps[i+1].at)
		}
		for from := max(s.at, r.Start); from < end; {
			b := int((from - r.Start) / tl.Width)
			if b >= n {
				break
			}
			to := min(end, r.Start+int64(b+1)*tl.Width)
			f := float64(to-from) / float64(tl.Width)
			for e, v := range s.inUse {
				tl.InUse[e][b] += float64(v) * f
			}
			for k := range s.alloc {
				tl.Alloc[k][b] += float64(s.alloc[k]) * f
				tl.Waiting[k][b] += float64(s.waiting[k]) * f
			}
			from = to
		}
	}
	return tl
}
