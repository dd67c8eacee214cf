package events

import "time"

// ScheduleRequest is the detail of a "Schedule Requested" event: something
// may have freed or asked for capacity, so a scheduling pass should run. In
// the cloud it is what turns a submission or a finished training job into a
// pass without waiting for the one-minute tick. The fields only say why, for
// logs; every request means the same thing.
type ScheduleRequest struct {
	// Reason is what happened: one of the ScheduleReason constants.
	Reason string `json:"reason"`
	// JobID is the job it concerns, if any.
	JobID string `json:"jobId,omitempty"`
}

// Reasons of schedule requests.
const (
	ScheduleReasonSubmitted = "submitted"
	ScheduleReasonTerminate = "terminate"
	ScheduleReasonRunnable  = "runnable"
	ScheduleReasonConfig    = "config"
	ScheduleReasonReleased  = "released"
	// ScheduleReasonMore: a pass ran out of time with work left.
	ScheduleReasonMore = "more"
	// ScheduleReasonBusy: a pass found another holding the lease for longer
	// than it could wait, and hands on the request it was invoked for.
	ScheduleReasonBusy = "busy"
)

// ScheduleRequested is the event that asks for a scheduling pass.
func ScheduleRequested(reason, jobID string, at time.Time) Event {
	return Event{
		Source: Source, DetailType: DetailTypeScheduleRequested, Time: at.UTC(),
		Detail: ScheduleRequest{Reason: reason, JobID: jobID},
	}
}
