package model

import (
	"errors"
	"sort"
	"strings"
)

// ErrPlanNotFound is what describing an unknown training plan fails with
// (wrapped, naming the plan).
var ErrPlanNotFound = errors.New("training plan not found")

// SageMaker training plan and reserved capacity statuses (TrainingPlanStatus,
// ReservedCapacityStatus). A plan goes Pending (being paid for) -> Scheduled
// -> Active, back to Scheduled between discontinuous reserved capacities, and
// Expired after its end; Failed when the purchase failed.
const (
	PlanPending   = "Pending"
	PlanScheduled = "Scheduled"
	PlanActive    = "Active"
	PlanExpired   = "Expired"
	PlanFailed    = "Failed"
)

// DefaultPlanEndMargin is how long before a reserved capacity ends SageMaker
// begins to terminate the instances running in it: "You have full access to
// all reserved instances until 30 minutes before the Reserved Capacity end
// time" (SageMaker developer guide, "Training plans utilization for SageMaker
// training jobs"). The usable part of a window ends that much earlier.
const DefaultPlanEndMargin int64 = 30 * 60 * 1000 // ms

// TrainingPlan is what DescribeTrainingPlan says of a plan, times in epoch
// milliseconds. sagequeue reads plans; it never buys or changes them.
type TrainingPlan struct {
	Arn           string `json:"trainingPlanArn"`
	Name          string `json:"trainingPlanName"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage,omitempty"`
	StartTime     int64  `json:"startTime,omitempty"`
	EndTime       int64  `json:"endTime,omitempty"`
	// The plan's instance counts as SageMaker reports them: all of them,
	// free now, used now (by anyone, sagequeue or not), and unhealthy.
	TotalInstanceCount     int64              `json:"totalInstanceCount"`
	AvailableInstanceCount int64              `json:"availableInstanceCount"`
	InUseInstanceCount     int64              `json:"inUseInstanceCount"`
	UnhealthyInstanceCount int64              `json:"unhealthyInstanceCount"`
	ReservedCapacities     []ReservedCapacity `json:"reservedCapacities"`
	// DescribedAt is when SageMaker said all this.
	DescribedAt int64 `json:"describedAt"`
}

// ReservedCapacity is one reserved capacity of a plan: a number of
// instances of one type for one window of time.
type ReservedCapacity struct {
	Arn              string `json:"reservedCapacityArn"`
	InstanceType     string `json:"instanceType"`
	InstanceCount    int64  `json:"totalInstanceCount"`
	Status           string `json:"status"`
	StartTime        int64  `json:"startTime,omitempty"`
	EndTime          int64  `json:"endTime,omitempty"`
	AvailabilityZone string `json:"availabilityZone,omitempty"`
}

// PlanWindow is a stretch of time in which a plan offers Instances
// instances. End is when the usable part ends: the reserved capacity's end
// less the margin in which SageMaker reclaims the instances (Close is the
// reserved capacity's own end).
type PlanWindow struct {
	Start     int64 `json:"startTime"`
	End       int64 `json:"usableUntil"`
	Close     int64 `json:"endTime"`
	Instances int64 `json:"instances"`
}

// PlanName is the name part of a training plan ARN
// (arn:<partition>:sagemaker:<region>:<account>:training-plan/<name>), which
// DescribeTrainingPlan takes; "" when arn is not a plan ARN.
func PlanName(arn string) string {
	if !IsTrainingPlanARN(arn) {
		return ""
	}
	_, name, _ := strings.Cut(strings.SplitN(arn, ":", 6)[5], "/")
	return name
}

// InstanceTypes are the instance types of the plan's reserved capacities,
// sorted, each once. A training job on the plan must use one of them.
func (p *TrainingPlan) InstanceTypes() []string {
	seen := map[string]bool{}
	var out []string
	for _, rc := range p.ReservedCapacities {
		if rc.InstanceType != "" && !seen[rc.InstanceType] {
			seen[rc.InstanceType] = true
			out = append(out, rc.InstanceType)
		}
	}
	sort.Strings(out)
	return out
}

// Usable reports whether the plan can run training jobs at some point: it is
// paid for and not over. SageMaker accepts training jobs on Scheduled and
// Active plans only.
func (p *TrainingPlan) Usable() bool {
	return p.Status == PlanScheduled || p.Status == PlanActive
}

// Windows are the stretches of time in which the plan offers instances, in
// order of start, from its reserved capacities (overlapping ones add up),
// with the usable part of each ending margin ms before the reserved
// capacity does. Reserved capacities that expired or failed offer nothing;
// a plan that is not usable has no windows. A plan without reserved
// capacities is one window from StartTime to EndTime of TotalInstanceCount.
func (p *TrainingPlan) Windows(margin int64) []PlanWindow {
	if !p.Usable() {
		return nil
	}
	type seg struct{ start, end, close, n int64 }
	var segs []seg
	for _, rc := range p.ReservedCapacities {
		if rc.Status == PlanExpired || rc.Status == PlanFailed || rc.Status == PlanPending || rc.EndTime <= rc.StartTime {
			continue
		}
		segs = append(segs, seg{rc.StartTime, rc.EndTime - margin, rc.EndTime, rc.InstanceCount})
	}
	if len(p.ReservedCapacities) == 0 && p.EndTime > p.StartTime {
		segs = append(segs, seg{p.StartTime, p.EndTime - margin, p.EndTime, p.TotalInstanceCount})
	}
	// Cut the time line at every boundary and add up the reserved
	// capacities in force in each piece; consecutive pieces of equal size
	// make one window.
	var cuts []int64
	for _, s := range segs {
		if s.end > s.start {
			cuts = append(cuts, s.start, s.end)
		}
	}
	sort.Slice(cuts, func(a, b int) bool { return cuts[a] < cuts[b] })
	var out []PlanWindow
	for i := 0; i+1 < len(cuts); i++ {
		from, to := cuts[i], cuts[i+1]
		if from == to {
			continue
		}
		var n, closeAt int64
		for _, s := range segs {
			if s.start <= from && to <= s.end {
				n += s.n
				closeAt = max(closeAt, s.close)
			}
		}
		if n <= 0 {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].End == from && out[k].Instances == n {
			out[k].End, out[k].Close = to, max(out[k].Close, closeAt)
			continue
		}
		out = append(out, PlanWindow{Start: from, End: to, Close: closeAt, Instances: n})
	}
	return out
}

// WindowAt returns the window in force at now, if any.
func WindowAt(ws []PlanWindow, now int64) (PlanWindow, bool) {
	for _, w := range ws {
		if w.Start <= now && now < w.End {
			return w, true
		}
	}
	return PlanWindow{}, false
}

// NextWindow returns the first window that starts after now, if any.
func NextWindow(ws []PlanWindow, now int64) (PlanWindow, bool) {
	for _, w := range ws {
		if w.Start > now {
			return w, true
		}
	}
	return PlanWindow{}, false
}

// StatusAt is the plan's status at now as its reserved capacities' times
// make it: SageMaker moves a plan between Scheduled and Active at their
// starts and ends, so a copy described a while ago still tells it. A plan
// that is not usable (Pending, Failed, Expired) keeps its status.
func (p *TrainingPlan) StatusAt(now int64) string {
	ws := p.Windows(0)
	if !p.Usable() || len(ws) == 0 {
		return p.Status
	}
	if _, ok := WindowAt(ws, now); ok {
		return PlanActive
	}
	if _, ok := NextWindow(ws, now); ok {
		return PlanScheduled
	}
	return PlanExpired
}

// CapacityAt is what the plan can give now: the instances of the window in
// force, less those SageMaker reports unhealthy; 0 outside every window.
func (p *TrainingPlan) CapacityAt(now, margin int64) int64 {
	w, ok := WindowAt(p.Windows(margin), now)
	if !ok {
		return 0
	}
	return max(w.Instances-p.UnhealthyInstanceCount, 0)
}
