// Package store defines how sagequeue keeps its state: the Store interface in
// domain terms, its sentinel errors, and (in storetest) the conformance suite
// every backend must pass. Backends live in subpackages: bolt (embedded, the
// local default) and dynamo (DynamoDB, the cloud).
//
// The contract in brief:
//
//   - Every record has a Version. Writers read a record, change it and write it
//     back with UpdateX; the write succeeds only if the stored Version is still
//     the one read, and the stored record gets Version+1. Otherwise ErrConflict,
//     and the writer re-reads and decides again.
//   - Jobs are put once (PutJob); a repeated clientToken returns the job that
//     already holds it with ErrAlreadyExists, never a second job.
//   - RUNNABLE jobs are indexed by line (queue and share) in dispatch order, so
//     a scheduling pass reads the heads of each line (Lines, Heads) and never
//     the backlog behind them.
//   - One scheduler at a time holds the lease; the lease's Token (a fencing
//     token) only grows. Job updates made on the lease's behalf carry it, and
//     fail with ErrLeaseLost once another holder has taken the lease over.
//
// All times are epoch milliseconds, except the lease's, which are time.Time.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
)

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict: the record changed since it was read")
	ErrAlreadyExists = errors.New("already exists")
	// ErrLeaseLost means the fencing token no longer matches the lease: another
	// scheduler holds it now. It is an ErrConflict too.
	ErrLeaseLost = fmt.Errorf("%w: scheduler lease lost", ErrConflict)
	// ErrLeaseHeld means another holder has the lease and it has not expired.
	ErrLeaseHeld = errors.New("lease held by another holder")
	// ErrBadCursor means a pagination cursor was not made by this store for
	// this kind of query.
	ErrBadCursor = errors.New("invalid pagination cursor")
	// ErrThrottled means the backend refused the request for lack of
	// throughput and kept refusing it through the store's retries. Nothing of
	// the call was written; the caller may try again later (the API answers
	// 429 TooManyRequestsException).
	ErrThrottled = errors.New("throttled: the store is over its throughput")
)

// Store is sagequeue's state. Implementations are safe for concurrent use.
type Store interface {
	JobStore
	ConfigStore
	UsageStore
	LeaseStore
	Close() error
}

// JobStore keeps service jobs.
type JobStore interface {
	// PutJob stores a new job with Version 1 and returns it. When the job's
	// ClientToken is not empty and already belongs to a stored job, it stores
	// nothing and returns that job with an error wrapping ErrAlreadyExists; a
	// job ID that exists is ErrAlreadyExists too (with a nil job).
	PutJob(ctx context.Context, job *model.ServiceJob) (*model.ServiceJob, error)
	// GetJob returns a job or ErrNotFound.
	GetJob(ctx context.Context, jobID string) (*model.ServiceJob, error)
	// UpdateJob writes job if the stored Version equals job.Version and
	// returns the stored job (Version+1). A missing job is ErrNotFound; a
	// changed one ErrConflict. With a non-nil fence the write also requires
	// that the lease still has fence.Token, else ErrLeaseLost. JobID,
	// JobQueue, ShareIdentifier, CreatedAt, ClientToken,
	// ServiceRequestPayload and RequestDigest never change: whatever job
	// says, the stored values stay. The returned job may lack the payload.
	UpdateJob(ctx context.Context, job *model.ServiceJob, fence *Lease) (*model.ServiceJob, error)
	// ListJobs returns jobs matching q, newest first (createdAt, then jobId,
	// descending), a page at a time. A query for jobs holding capacity
	// (Statuses within SCHEDULED, STARTING, RUNNING) reads its own writes:
	// the scheduler counts capacity with it, and a stale count could
	// over-admit. Other lists may lag writes briefly, as Batch's do. Listed jobs may lack
	// ServiceRequestPayload (a backend may keep it apart, since it is the
	// bulk of a job and never changes); GetJob always has it. A page may be
	// shorter than Limit, even empty, and still have a Next.
	ListJobs(ctx context.Context, q JobQuery) (JobPage, error)
	// UpdateJobs is UpdateJob for several jobs at once, which a backend may
	// commit in fewer round trips and transactions (a scheduling pass moves
	// hundreds of jobs). Each job is written or refused on its own terms, as
	// UpdateJob would: errs[i] is nil and stored[i] the stored job, or
	// errs[i] says why jobs[i] was not written (ErrConflict, ErrNotFound,
	// ErrLeaseLost, ErrThrottled, ...) and stored[i] is nil. A job ID that
	// appears twice is refused the second time. Both slices have len(jobs)
	// entries.
	UpdateJobs(ctx context.Context, jobs []*model.ServiceJob, fence *Lease) (stored []*model.ServiceJob, errs []error)
	// Submitted returns up to limit SUBMITTED jobs of every queue, oldest
	// first (createdAt, then jobId), and whether more wait behind them. It
	// reads its own writes: a pass triggered by a submission sees it. The
	// jobs may lack their payload.
	Submitted(ctx context.Context, limit int) (jobs []*model.ServiceJob, more bool, err error)
	// CountSubmitted returns how many SUBMITTED jobs each queue (by ARN)
	// holds, without reading them: queues without any are left out.
	CountSubmitted(ctx context.Context) (map[string]int64, error)
	// Lines returns the lines of a queue that hold RUNNABLE jobs, by share.
	Lines(ctx context.Context, queue string) ([]Line, error)
	// Heads returns up to limit RUNNABLE jobs of one line in dispatch order,
	// and whether the line holds more. Like ListJobs, heads may lack their
	// payload, and like the lists of jobs that hold no capacity they may lag
	// writes briefly: a job that has just entered the line may be missing,
	// one that has just left it may still be there (a scheduler's writes are
	// conditional on the version it read, so a stale head costs a refused
	// write, never a wrong one). Dispatch order is createdAt then jobId
	// for jobs without a share (FIFO queues); schedulingPriority descending,
	// then createdAt, then jobId for jobs with one (fair-share queues).
	Heads(ctx context.Context, queue, share string, limit int) (jobs []*model.ServiceJob, more bool, err error)
}

// JobQuery selects jobs. Empty fields do not filter.
type JobQuery struct {
	Queue    string            // queue ARN
	Statuses []model.JobStatus // any of these
	Share    string            // shareIdentifier, exact
	// Name matches jobName case-insensitively: exactly, or as a prefix when
	// NamePrefix is set.
	Name       string
	NamePrefix bool
	// CreatedAfter and CreatedBefore bound createdAt (exclusive) when not 0.
	CreatedAfter  int64
	CreatedBefore int64
	// Limit is the page size, 1 to 1000; 0 means 100.
	Limit int
	// Cursor continues from a previous page's Next.
	Cursor string
}

// JobPage is one page of ListJobs.
type JobPage struct {
	Jobs []*model.ServiceJob
	// Next is the cursor of the next page, "" on the last page.
	Next string
}

// Line is one queue line holding RUNNABLE jobs: a share of a fair-share
// queue, or a FIFO queue with Share "".
type Line struct {
	Queue    string
	Share    string
	Runnable int64
}

// ConfigStore keeps service environments, scheduling policies and job queues,
// keyed by name. Create fails with ErrAlreadyExists, Get/Update/Delete of a
// missing name with ErrNotFound, Update of a changed record with ErrConflict.
// Lists are sorted by name.
type ConfigStore interface {
	CreateEnvironment(ctx context.Context, e *model.ServiceEnvironment) (*model.ServiceEnvironment, error)
	GetEnvironment(ctx context.Context, name string) (*model.ServiceEnvironment, error)
	ListEnvironments(ctx context.Context) ([]*model.ServiceEnvironment, error)
	UpdateEnvironment(ctx context.Context, e *model.ServiceEnvironment) (*model.ServiceEnvironment, error)
	DeleteEnvironment(ctx context.Context, name string) error

	CreatePolicy(ctx context.Context, p *model.SchedulingPolicy) (*model.SchedulingPolicy, error)
	GetPolicy(ctx context.Context, name string) (*model.SchedulingPolicy, error)
	ListPolicies(ctx context.Context) ([]*model.SchedulingPolicy, error)
	UpdatePolicy(ctx context.Context, p *model.SchedulingPolicy) (*model.SchedulingPolicy, error)
	DeletePolicy(ctx context.Context, name string) error

	CreateQueue(ctx context.Context, q *model.JobQueue) (*model.JobQueue, error)
	GetQueue(ctx context.Context, name string) (*model.JobQueue, error)
	ListQueues(ctx context.Context) ([]*model.JobQueue, error)
	UpdateQueue(ctx context.Context, q *model.JobQueue) (*model.JobQueue, error)
	DeleteQueue(ctx context.Context, name string) error

	// Quota shares are kept per job queue (queue is the queue's name): the
	// same name may be used in two queues. ListQuotaShares is sorted by name.
	CreateQuotaShare(ctx context.Context, s *model.QuotaShare) (*model.QuotaShare, error)
	GetQuotaShare(ctx context.Context, queue, name string) (*model.QuotaShare, error)
	ListQuotaShares(ctx context.Context, queue string) ([]*model.QuotaShare, error)
	UpdateQuotaShare(ctx context.Context, s *model.QuotaShare) (*model.QuotaShare, error)
	DeleteQuotaShare(ctx context.Context, queue, name string) error
}

// QuotaShareKey is the key a backend keeps a quota share under: its queue's
// name and its own, joined by '/', which neither name may contain, so that
// keys sort by queue, then share.
func QuotaShareKey(queue, name string) string { return queue + "/" + name }

// QuotaShareKeyOf is the key of a stored quota share.
func QuotaShareKeyOf(s *model.QuotaShare) string {
	_, queue, _ := model.ParseARN(s.JobQueue)
	return QuotaShareKey(queue, s.Name)
}

// UsageStore keeps the decayed past usage of fair-share shares.
type UsageStore interface {
	// ListUsage returns the usage records of a queue, sorted by share.
	ListUsage(ctx context.Context, queue string) ([]model.ShareUsage, error)
	// AddUsage records atomically that a share held instances from start to
	// end (epoch ms), decaying with time constant tau seconds (see
	// model.ShareUsage.Add).
	AddUsage(ctx context.Context, queue, share string, instances, start, end int64, tau float64) (model.ShareUsage, error)
}

// LeaseStore keeps the scheduler lease.
type LeaseStore interface {
	// AcquireLease takes the named lease for holder until now+ttl. It succeeds
	// when the lease is free, expired, or already held by holder (a renewal,
	// which keeps the Token). Whenever the lease changes hands the Token grows.
	// A lease held by another holder and not expired is ErrLeaseHeld.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, error)
	// ReleaseLease frees a lease if it still has l.Token; releasing a lease
	// that has changed hands is a no-op.
	ReleaseLease(ctx context.Context, l Lease) error
}

// Lease is a held scheduler lease.
type Lease struct {
	Name    string
	Holder  string
	Token   int64
	Expires time.Time
}

// DispatchKey is the sort key of a RUNNABLE job inside its line, as backends
// index it: fixed-width text so byte order is dispatch order.
func DispatchKey(j *model.ServiceJob) string {
	prio := int32(0)
	if j.ShareIdentifier != "" {
		prio = model.MaxSchedulingPriority - j.SchedulingPriority
	}
	return fmt.Sprintf("%04d#%013d#%s", prio, j.CreatedAt, j.JobID)
}

// ListAll reads every page of a query; for queries whose results are small
// by nature (the jobs holding capacity, the jobs just submitted).
func ListAll(ctx context.Context, s JobStore, q JobQuery) ([]*model.ServiceJob, error) {
	q.Limit = 1000
	var out []*model.ServiceJob
	for {
		page, err := s.ListJobs(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Jobs...)
		if page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

// WantedStatuses returns the known statuses of want, sorted and without
// repeats; every status when want is empty. An unknown status matches no job.
func WantedStatuses(want []model.JobStatus) []model.JobStatus {
	if len(want) == 0 {
		return model.AllStatuses
	}
	var out []model.JobStatus
	for _, st := range want {
		if st.Valid() && !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	slices.Sort(out)
	return out
}

// QueryShape hashes everything in q that selects jobs (not Limit or Cursor),
// with its statuses as WantedStatuses gives them, so that a backend accepts a
// cursor only for the query that made it.
func QueryShape(q JobQuery, statuses []model.JobStatus) uint64 {
	h := fnv.New64a()
	field := func(s string) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	field(q.Queue)
	for _, st := range statuses {
		field(string(st))
	}
	field("|")
	field(q.Share)
	field(strings.ToLower(q.Name))
	field(fmt.Sprint(q.NamePrefix, q.CreatedAfter, q.CreatedBefore))
	return h.Sum64()
}
