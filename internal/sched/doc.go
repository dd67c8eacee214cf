// Package sched decides which RUNNABLE service jobs to place into which
// service environments. Plan is a pure function: it reads a Snapshot and the
// time and returns Decisions; it does no I/O, keeps no state and gives the
// same Decisions for the same Snapshot, whatever the order of the Snapshot's
// slices. An applier (internal/engine) commits the decisions with conditional
// writes and launches the training jobs.
//
// The rules, in the order they apply:
//
//   - Capacity: a job needs its instance count; the instances of SCHEDULED,
//     STARTING and RUNNING jobs are in use; an environment's in-use count never
//     passes its maxCapacity. Disabled environments take no new jobs.
//   - Queues are served highest priority first (then by ARN). A queue places
//     each job in the first environment of its serviceEnvironmentOrder with
//     room. A blocked queue blocks only itself: a lower-priority queue may use
//     capacity that the blocked head cannot.
//   - FIFO queues take jobs by createdAt (then jobId) and stop at the first job
//     that does not fit, even one that can never fit (unless they backfill).
//   - Fair-share queues keep one line per shareIdentifier, ordered by
//     schedulingPriority (high first), then createdAt, then jobId. The next job
//     comes from the share with the lowest (allocated + decayed usage) *
//     weightFactor, recomputed after every placement; the decayed usage
//     counts the share's running jobs so far as well as its ended ones. When that share's head
//     does not fit, the queue stops, so small jobs never overtake a large one.
//     computeReservation keeps (computeReservation/100)^activeShares of each
//     environment for shares that hold no capacity yet.
//   - Backfill (JobQueue.Backfill, off by default as in AWS Batch): a job
//     of a backfill queue that cannot start now gets a reservation instead of
//     blocking the queue: the earliest time at which enough capacity is free
//     for its whole runtime bound. Each environment's free capacity is a
//     profile over time built from the running jobs, each holding its
//     instances from Allocation.Since for its RuntimeBound (SageMaker stops
//     a job at MaxRuntimeInSeconds, so the profile is a lower bound of what
//     will be free), less the jobs placed and reserved before it in the
//     pass. Later jobs, other shares' jobs and the jobs of lower-priority
//     queues start now only if they fit for their whole runtime bound
//     without taking capacity a reservation needs. This is conservative
//     backfill (Mu'alem and Feitelson, 2001): every job passed over has its
//     own reservation, so a job that starts after another was reserved never
//     delays it, and the reservation of the first job passed over in the
//     highest-priority queue only moves earlier from pass to pass. In a
//     fair-share queue, a share is charged for what it reserved (its turn
//     passes to the others), and a share whose head holds a reservation from
//     an earlier pass (its BACKFILL:RESERVED statusReason) is served first,
//     so the reservation survives the shares' changing order. A job that can
//     never fit gets no reservation and does not block the queue. A queue
//     passes over at most MaxReservations jobs in a pass.
//   - A head job larger than every environment of its queue gets the
//     MISCONFIGURATION:SERVICE_ENVIRONMENT_MAX_RESOURCE reason; a head job that
//     has carried a reason named by one of the queue's jobStateTimeLimitActions
//     for maxTimeSeconds is ended, and the job behind it becomes the head.
package sched
