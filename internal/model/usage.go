package model

import "math"

// ShareUsage is the decayed past usage of one share of a fair-share queue.
//
// Instances is an exponential moving average of the instances the share held,
// with time constant tau = the policy's decay window: the decayed
// instance-seconds integral divided by tau. A share that held n instances for
// much longer than tau has a usage of n; usage then halves every tau*ln 2
// seconds once the share stops. Expressing it in instances lets it be added to
// the share's current allocation in the fair-share score.
type ShareUsage struct {
	Queue     string  `json:"queue"`
	Share     string  `json:"share"`
	Instances float64 `json:"instances"`
	AsOf      int64   `json:"asOf"` // epoch ms at which Instances was exact
}

// At returns the usage decayed to now (epoch ms) with time constant tau seconds.
func (u ShareUsage) At(now int64, tau float64) float64 {
	if now <= u.AsOf || u.Instances == 0 {
		return u.Instances
	}
	return u.Instances * math.Exp(-float64(now-u.AsOf)/1000/tau)
}

// Add records that the share held instances from start to end (epoch ms) and
// returns the new record. Late records (end before AsOf) are decayed to AsOf
// rather than rewinding the record.
func (u ShareUsage) Add(instances int64, start, end int64, tau float64) ShareUsage {
	if end < start {
		start = end
	}
	t := max(u.AsOf, end)
	held := float64(instances) * (1 - math.Exp(-float64(end-start)/1000/tau))
	held *= math.Exp(-float64(t-end) / 1000 / tau)
	return ShareUsage{Queue: u.Queue, Share: u.Share, Instances: u.At(t, tau) + held, AsOf: t}
}

// Running is the usage that a job holding instances since since (epoch ms)
// has added by now: what Add will record for it when it ends, so far. A
// pass counts it for running jobs, so that a share's long-running jobs
// weigh in its usage before they end, as the short ones that ended do.
func Running(instances, since, now int64, tau float64) float64 {
	if since <= 0 || now <= since {
		return 0
	}
	return float64(instances) * (1 - math.Exp(-float64(now-since)/1000/tau))
}
