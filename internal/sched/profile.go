package sched

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// profile is an environment's free capacity from now on: a step function of
// time, free[i] instances from at[i] until at[i+1], the last step lasting
// for ever. Backfill builds one per environment when it first needs a
// reservation there: it starts from the environment's capacity and loses the
// instances of every running job until the job's runtime bound, of every job
// placed in the pass, and of every reservation. SageMaker stops a training
// job at its MaxRuntimeInSeconds, so the profile is a lower bound of what
// will really be free: jobs that end early only free capacity sooner.
//
// The capacity it starts from is itself a step function (capacity), so an
// environment whose capacity changes over time (a training plan window that
// closes) is the same profile with other starting steps.
type profile struct {
	at   []int64
	free []int64
	// reservations made in the environment during the pass (indexes into
	// Decisions.Reservations), to name the one a job would delay.
	reservations []int32
}

// step is one piece of a capacity function: Instances from At on.
type step struct {
	At        int64
	Instances int64
}

// hold is capacity held from now until Until (epoch ms).
type hold struct {
	Until     int64
	Instances int64
}

// newProfile starts a profile at now from a capacity function (steps in
// order of time, the first at or before now) less what holds take.
func newProfile(now int64, capacity []step, holds []hold) *profile {
	slices.SortFunc(holds, func(a, b hold) int { return cmp.Compare(a.Until, b.Until) })
	p := &profile{}
	var c, held int64 // capacity and instances held at the current step
	for _, h := range holds {
		held += h.Instances
	}
	i, j := 0, 0
	for ; i < len(capacity) && capacity[i].At <= now; i++ {
		c = capacity[i].Instances
	}
	for ; j < len(holds) && holds[j].Until <= now; j++ {
		held -= holds[j].Instances
	}
	p.at, p.free = append(p.at, now), append(p.free, c-held)
	for i < len(capacity) || j < len(holds) {
		t := int64(math.MaxInt64)
		if i < len(capacity) {
			t = capacity[i].At
		}
		if j < len(holds) {
			t = min(t, holds[j].Until)
		}
		for ; i < len(capacity) && capacity[i].At == t; i++ {
			c = capacity[i].Instances
		}
		for ; j < len(holds) && holds[j].Until == t; j++ {
			held -= holds[j].Instances
		}
		p.at, p.free = append(p.at, t), append(p.free, c-held)
	}
	return p
}

// split makes t a step boundary (t >= at[0]) and returns its index.
func (p *profile) split(t int64) int {
	i := sort.Search(len(p.at), func(i int) bool { return p.at[i] >= t })
	if i < len(p.at) && p.at[i] == t {
		return i
	}
	p.at = append(p.at, 0)
	p.free = append(p.free, 0)
	copy(p.at[i+1:], p.at[i:])
	copy(p.free[i+1:], p.free[i:])
	p.at[i], p.free[i] = t, p.free[i-1]
	return i
}

// take removes n instances over [from, to).
func (p *profile) take(from, to, n int64) {
	from = max(from, p.at[0])
	if to <= from || n == 0 {
		return
	}
	i := p.split(from)
	j := p.split(to)
	for k := i; k < j; k++ {
		p.free[k] -= n
	}
}

// stepAt is the index of the step that holds t (t >= at[0]).
func (p *profile) stepAt(t int64) int {
	return sort.Search(len(p.at), func(i int) bool { return p.at[i] > t }) - 1
}

// earliest is the earliest time at or after from at which n instances are
// free for d ms, or -1 if there is none.
func (p *profile) earliest(from, d, n int64) int64 {
	from = max(from, p.at[0])
	start := from
	for k := p.stepAt(from); k < len(p.at); k++ {
		last := k+1 == len(p.at)
		if p.free[k] < n {
			if last {
				return -1
			}
			start = p.at[k+1]
			continue
		}
		if last || p.at[k+1] >= start+d {
			return start
		}
	}
	return -1
}

// short is the first time in [from, from+d) at which fewer than n
// instances are free, or -1 if there is none.
func (p *profile) short(from, d, n int64) int64 {
	from = max(from, p.at[0])
	for k := p.stepAt(from); k < len(p.at) && max(p.at[k], from) < from+d; k++ {
		if p.free[k] < n {
			return max(p.at[k], from)
		}
	}
	return -1
}
