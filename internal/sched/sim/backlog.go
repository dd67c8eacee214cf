package sim

import (
	"sort"

	"github.com/sagequeue/sagequeue/internal/sched"
)

// backlog keeps the waiting jobs of each line in dispatch order, as the store
// does, so that a pass reads the heads of the lines and not the whole backlog
// (and the Truncated/NeedMore protocol gets exercised on every run).
type backlog struct {
	fair  map[string]bool // queue ARN -> fair share
	lines map[sched.ShareKey][]*waiting
	byID  map[string]*waiting
}

func newBacklog(fair map[string]bool) *backlog {
	return &backlog{fair: fair, lines: map[sched.ShareKey][]*waiting{}, byID: map[string]*waiting{}}
}

func (b *backlog) key(j *Job) sched.ShareKey {
	if b.fair[j.Queue] {
		return sched.ShareKey{Queue: j.Queue, Share: j.Share}
	}
	return sched.ShareKey{Queue: j.Queue}
}

// before orders two jobs of one line.
func (b *backlog) before(x, y *waiting) bool {
	if b.fair[x.job.Queue] && x.job.Priority != y.job.Priority {
		return x.job.Priority > y.job.Priority
	}
	if x.job.Arrival != y.job.Arrival {
		return x.job.Arrival < y.job.Arrival
	}
	return x.job.ID < y.job.ID
}

func (b *backlog) add(w *waiting) {
	k := b.key(w.job)
	l := b.lines[k]
	i := sort.Search(len(l), func(i int) bool { return b.before(w, l[i]) })
	l = append(l, nil)
	copy(l[i+1:], l[i:])
	l[i] = w
	b.lines[k] = l
	b.byID[w.job.ID] = w
}

func (b *backlog) remove(id string) *waiting {
	w := b.byID[id]
	delete(b.byID, id)
	k := b.key(w.job)
	l := b.lines[k]
	i := sort.Search(len(l), func(i int) bool { return !b.before(l[i], w) })
	for l[i] != w {
		i++
	}
	b.lines[k] = append(l[:i], l[i+1:]...)
	if len(b.lines[k]) == 0 {
		delete(b.lines, k)
	}
	return w
}

func (b *backlog) len() int { return len(b.byID) }

// heads appends the first n jobs of every line to c, and the lines that
// have more to truncated.
func (b *backlog) heads(n int, c []sched.Candidate, truncated []sched.ShareKey) ([]sched.Candidate, []sched.ShareKey) {
	keys := make([]sched.ShareKey, 0, len(b.lines))
	for k := range b.lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Queue != keys[j].Queue {
			return keys[i].Queue < keys[j].Queue
		}
		return keys[i].Share < keys[j].Share
	})
	for _, k := range keys {
		l := b.lines[k]
		if len(l) > n {
			l = l[:n]
			truncated = append(truncated, k)
		}
		for _, w := range l {
			c = append(c, sched.Candidate{
				JobID: w.job.ID, Queue: w.job.Queue, Share: w.job.Share, Priority: w.job.Priority,
				CreatedAt: w.job.Arrival, Instances: w.job.Instances, StatusReason: w.reason, BlockedSince: w.blockedSince,
				RuntimeBound: w.job.Bound(), ReservedAt: w.reservedAt,
			})
		}
	}
	return c, truncated
}
