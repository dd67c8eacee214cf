// Package storetest is the conformance suite of store.Store. Every backend
// runs RunTests with a constructor that returns a fresh, empty store; each
// subtest gets its own store, so subtests never see each other's data.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// RunTests runs the whole suite against the backend newStore builds.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"PutGetJob", testPutGetJob},
		{"PutJobDuplicateID", testPutJobDuplicateID},
		{"ClientTokenIdempotency", testClientToken},
		{"ConcurrentClientToken", testConcurrentClientToken},
		{"UpdateJobVersion", testUpdateJobVersion},
		{"ConcurrentUpdateOneWins", testConcurrentUpdate},
		{"UpdateJobFence", testUpdateJobFence},
		{"UpdateJobs", testUpdateJobs},
		{"UpdateJobsLarge", testUpdateJobsLarge},
		{"Submitted", testSubmitted},
		{"ListByQueueAndStatus", testListByQueueAndStatus},
		{"ActiveJobsReadTheirWrites", testActiveReadsWrites},
		{"ListPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"ListBadCursor", testListBadCursor},
		{"LinesAndHeadsFIFO", testHeadsFIFO},
		{"LinesAndHeadsFairShare", testHeadsFairShare},
		{"HeadsFollowUpdates", testHeadsFollowUpdates},
		{"Usage", testUsage},
		{"ConcurrentUsage", testConcurrentUsage},
		{"Environments", testEnvironments},
		{"Policies", testPolicies},
		{"Queues", testQueues},
		{"QuotaShares", testQuotaShares},
		{"QuotaSharesPerQueue", testQuotaSharesPerQueue},
		{"QuotaShareJobs", testQuotaShareJobs},
		{"Lease", testLease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.run(t, s)
		})
	}
}

const (
	t0    = int64(1_800_000_000_000)
	queue = "arn:aws:batch:local:000000000000:job-queue/q"
	fairQ = "arn:aws:batch:local:000000000000:job-queue/fair"
)

var ctx = context.Background()

// newJob returns a SUBMITTED job of queue created at t0+age ms.
func newJob(id, q string, created int64) *model.ServiceJob {
	return &model.ServiceJob{
		JobID: id, JobArn: "arn:aws:batch:local:000000000000:service-job/" + id, JobName: "job-" + id,
		JobQueue: q, ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		ServiceRequestPayload: `{"ResourceConfig":{"InstanceCount":1}}`, Status: model.StatusSubmitted,
		CreatedAt: created, UpdatedAt: created, Instances: 1,
	}
}

func put(t *testing.T, s store.Store, j *model.ServiceJob) *model.ServiceJob {
	t.Helper()
	got, err := s.PutJob(ctx, j)
	if err != nil {
		t.Fatalf("PutJob(%s): %v", j.JobID, err)
	}
	return got
}

// moveTo updates a job's status (and whatever mutate changes) through UpdateJob.
func moveTo(t *testing.T, s store.Store, id string, status model.JobStatus, mutate func(j *model.ServiceJob)) *model.ServiceJob {
	t.Helper()
	j, err := s.GetJob(ctx, id)
	if err != nil {
		t.Fatalf("GetJob(%s): %v", id, err)
	}
	j.Status = status
	if mutate != nil {
		mutate(j)
	}
	got, err := s.UpdateJob(ctx, j, nil)
	if err != nil {
		t.Fatalf("UpdateJob(%s -> %s): %v", id, status, err)
	}
	return got
}

func ids(jobs []*model.ServiceJob) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.JobID)
	}
	return out
}

func testPutGetJob(t *testing.T, s store.Store) {
	j := newJob("j1", queue, t0)
	j.StatusReason = "because"
	j.SchedulingPriority = 7
	j.ShareIdentifier = ""
	j.RetryStrategy = &model.RetryStrategy{Attempts: 3, EvaluateOnExit: []model.EvaluateOnExit{{Action: "EXIT", OnStatusReason: "x*"}}}
	j.TimeoutConfig = &model.TimeoutConfig{AttemptDurationSeconds: 60}
	j.Tags = map[string]string{"team": "nlp", "cost-center": "42"}
	j.Attempts = []model.Attempt{{TrainingJobName: "tj", TrainingJobArn: "arn:tj", StartedAt: 5, StoppedAt: 6, StatusReason: "r"}}
	j.ClientToken = "tok"
	j.RequestDigest = "digest"
	j.SubmittedBy = "arn:aws:iam::1:user/alice"
	j.Instances = 4
	j.Placements = 2
	j.BlockedCode, j.BlockedSince = "CAPACITY:X", 99
	got := put(t, s, j)
	if got.Version != 1 {
		t.Fatalf("a new job has Version %d, want 1", got.Version)
	}
	want := *j
	want.Version = 1
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("PutJob returned\n%+v\nwant\n%+v", got, &want)
	}
	read, err := s.GetJob(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, &want) {
		t.Fatalf("GetJob returned\n%+v\nwant\n%+v", read, &want)
	}
	// The store hands out copies: changing one must not change the stored job.
	read.Tags["team"] = "cv"
	read.Attempts[0].StatusReason = "changed"
	again, _ := s.GetJob(ctx, "j1")
	if again.Tags["team"] != "nlp" || again.Attempts[0].StatusReason != "r" {
		t.Fatal("a returned job shares memory with the store")
	}
	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetJob of a missing job: %v, want ErrNotFound", err)
	}
}

func testPutJobDuplicateID(t *testing.T, s store.Store) {
	put(t, s, newJob("j1", queue, t0))
	if _, err := s.PutJob(ctx, newJob("j1", queue, t0+1)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second PutJob with the same id: %v, want ErrAlreadyExists", err)
	}
	got, _ := s.GetJob(ctx, "j1")
	if got.CreatedAt != t0 {
		t.Fatal("a refused PutJob overwrote the job")
	}
}

func testClientToken(t *testing.T, s store.Store) {
	a := newJob("a", queue, t0)
	a.ClientToken = "tok-1"
	put(t, s, a)
	b := newJob("b", queue, t0+1)
	b.ClientToken = "tok-1"
	got, err := s.PutJob(ctx, b)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("repeated client token: %v, want ErrAlreadyExists", err)
	}
	if got == nil || got.JobID != "a" {
		t.Fatalf("repeated client token returned %+v, want job a", got)
	}
	if _, err := s.GetJob(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a second job was stored for a repeated token: %v", err)
	}
	c := newJob("c", queue, t0+2)
	c.ClientToken = "tok-2"
	put(t, s, c)
	settledList(t, s, store.JobQuery{Queue: queue}, []string{"c", "a"})
}

func testConcurrentClientToken(t *testing.T, s store.Store) {
	const n = 16
	var wg sync.WaitGroup
	created := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := newJob(fmt.Sprintf("j%02d", i), queue, t0+int64(i))
			j.ClientToken = "same"
			got, err := s.PutJob(ctx, j)
			errs[i] = err
			if got != nil {
				created[i] = got.JobID
			}
		}()
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Fatalf("PutJob %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d PutJobs with one client token succeeded, want exactly 1", winners)
	}
	for i := range created {
		if created[i] != created[0] {
			t.Fatalf("callers saw different jobs for one token: %v", created)
		}
	}
	settledList(t, s, store.JobQuery{Queue: queue}, []string{created[0]})
}

func testUpdateJobVersion(t *testing.T, s store.Store) {
	put(t, s, newJob("j1", queue, t0))
	j, _ := s.GetJob(ctx, "j1")
	j.Status = model.StatusRunnable
	j.StatusReason = "waiting"
	got, err := s.UpdateJob(ctx, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Status != model.StatusRunnable || got.StatusReason != "waiting" {
		t.Fatalf("after update: %+v", got)
	}
	// The stale copy (Version 1) must be refused.
	j.StatusReason = "stale"
	if _, err := s.UpdateJob(ctx, j, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update with a stale version: %v, want ErrConflict", err)
	}
	read, _ := s.GetJob(ctx, "j1")
	if read.StatusReason != "waiting" || read.Version != 2 {
		t.Fatalf("a refused update changed the job: %+v", read)
	}
	// The payload never changes, even when an update leaves it out (backends
	// may hand out jobs without it).
	bare, _ := s.GetJob(ctx, "j1")
	bare.ServiceRequestPayload, bare.RequestDigest = "", ""
	bare.StatusReason = "payload left out"
	if _, err := s.UpdateJob(ctx, bare, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetJob(ctx, "j1"); got.ServiceRequestPayload != `{"ResourceConfig":{"InstanceCount":1}}` || got.StatusReason != "payload left out" {
		t.Fatalf("an update without the payload changed it: %q", got.ServiceRequestPayload)
	}
	missing := newJob("nope", queue, t0)
	missing.Version = 1
	if _, err := s.UpdateJob(ctx, missing, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing job: %v, want ErrNotFound", err)
	}
}

func testConcurrentUpdate(t *testing.T, s store.Store) {
	put(t, s, newJob("j1", queue, t0))
	base, _ := s.GetJob(ctx, "j1")
	const n = 12
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := *base
			j.StatusReason = fmt.Sprintf("writer %d", i)
			_, results[i] = s.UpdateJob(ctx, &j, nil)
		}()
	}
	wg.Wait()
	wins := 0
	winner := ""
	for i, err := range results {
		switch {
		case err == nil:
			wins++
			winner = fmt.Sprintf("writer %d", i)
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent updates of one version succeeded, want exactly 1", wins)
	}
	got, _ := s.GetJob(ctx, "j1")
	if got.Version != 2 || got.StatusReason != winner {
		t.Fatalf("stored %q version %d, want the winner's %q at version 2", got.StatusReason, got.Version, winner)
	}
}

func testUpdateJobFence(t *testing.T, s store.Store) {
	now := time.Unix(1_800_000_000, 0)
	put(t, s, newJob("j1", queue, t0))
	mine, err := s.AcquireLease(ctx, "scheduler", "a", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := s.GetJob(ctx, "j1")
	j.StatusReason = "by a"
	if _, err := s.UpdateJob(ctx, j, &mine); err != nil {
		t.Fatalf("update under a held lease: %v", err)
	}
	// b takes the lease over once a's has expired; a's fenced writes must fail.
	if _, err := s.AcquireLease(ctx, "scheduler", "b", now.Add(2*time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	j, _ = s.GetJob(ctx, "j1")
	j.StatusReason = "late write by a"
	_, err = s.UpdateJob(ctx, j, &mine)
	if !errors.Is(err, store.ErrLeaseLost) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("fenced update after the lease changed hands: %v, want ErrLeaseLost (an ErrConflict)", err)
	}
	got, _ := s.GetJob(ctx, "j1")
	if got.StatusReason != "by a" {
		t.Fatalf("a fenced-out write changed the job: %q", got.StatusReason)
	}
	// A fence for a lease that never existed fails too.
	ghost := store.Lease{Name: "other", Holder: "x", Token: 1}
	if _, err := s.UpdateJob(ctx, got, &ghost); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("fence of an unknown lease: %v, want ErrLeaseLost", err)
	}
}

// seed stores jobs in several queues and states and returns them by id.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	states := []model.JobStatus{model.StatusRunnable, model.StatusRunning, model.StatusSucceeded, model.StatusFailed, model.StatusRunning}
	for i := range 10 {
		j := newJob(fmt.Sprintf("q%02d", i), queue, t0+int64(i)*1000)
		put(t, s, j)
		moveTo(t, s, j.JobID, states[i%len(states)], nil)
	}
	other := newJob("other", "arn:aws:batch:local:000000000000:job-queue/other", t0+500)
	put(t, s, other)
	moveTo(t, s, "other", model.StatusRunning, nil)
}

func testListByQueueAndStatus(t *testing.T, s store.Store) {
	seed(t, s)
	tests := map[string]struct {
		q    store.JobQuery
		want []string
	}{
		"running in a queue, newest first": {q: store.JobQuery{Queue: queue, Statuses: []model.JobStatus{model.StatusRunning}}, want: []string{"q09", "q06", "q04", "q01"}},
		"two states":                       {q: store.JobQuery{Queue: queue, Statuses: []model.JobStatus{model.StatusSucceeded, model.StatusFailed}}, want: []string{"q08", "q07", "q03", "q02"}},
		"every state of a queue":           {q: store.JobQuery{Queue: queue}, want: []string{"q09", "q08", "q07", "q06", "q05", "q04", "q03", "q02", "q01", "q00"}},
		"running in every queue":           {q: store.JobQuery{Statuses: []model.JobStatus{model.StatusRunning}}, want: []string{"q09", "q06", "q04", "q01", "other"}},
		"a state nobody is in":             {q: store.JobQuery{Queue: queue, Statuses: []model.JobStatus{model.StatusStarting}}, want: []string{}},
		"an unknown queue":                 {q: store.JobQuery{Queue: "arn:aws:batch:local:000000000000:job-queue/none"}, want: []string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			settle(t, func() error {
				page, err := s.ListJobs(ctx, tc.q)
				if err != nil {
					return err
				}
				if got := ids(page.Jobs); !reflect.DeepEqual(got, tc.want) {
					return fmt.Errorf("got %v, want %v", got, tc.want)
				}
				if page.Next != "" {
					return fmt.Errorf("a short list has a next cursor %q", page.Next)
				}
				return nil
			})
		})
	}
}

// testActiveReadsWrites checks the consistency the scheduler relies on: a
// job that starts or stops holding capacity is seen doing so at once.
func testActiveReadsWrites(t *testing.T, s store.Store) {
	active := []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}
	holding := func(q string) []string {
		t.Helper()
		page, err := s.ListJobs(ctx, store.JobQuery{Queue: q, Statuses: active})
		if err != nil {
			t.Fatal(err)
		}
		return ids(page.Jobs)
	}
	for i := range 20 {
		id := fmt.Sprintf("a%02d", i)
		put(t, s, newJob(id, queue, t0+int64(i)))
		moveTo(t, s, id, model.StatusRunnable, nil)
		moveTo(t, s, id, model.StatusScheduled, nil)
		if got := holding(""); len(got) == 0 || got[0] != id {
			t.Fatalf("job %s not seen holding capacity right after it was scheduled: %v", id, got)
		}
		if got := holding(queue); len(got) == 0 || got[0] != id {
			t.Fatalf("job %s not seen in its queue right after it was scheduled: %v", id, got)
		}
		moveTo(t, s, id, model.StatusRunning, nil)
		moveTo(t, s, id, model.StatusSucceeded, nil)
		if got := holding(""); len(got) != 0 {
			t.Fatalf("job %s still seen holding capacity after it ended: %v", id, got)
		}
	}
}

func testListPagination(t *testing.T, s store.Store) {
	const n = 250
	for i := range n {
		// Pairs of jobs share a createdAt: the order falls back to jobId.
		put(t, s, newJob(fmt.Sprintf("p%03d", i), queue, t0+int64(i/2)))
	}
	var got []string
	cursor := ""
	pages := 0
	for {
		page, err := s.ListJobs(ctx, store.JobQuery{Queue: queue, Statuses: []model.JobStatus{model.StatusSubmitted}, Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Jobs) > 100 {
			t.Fatalf("page of %d jobs, limit 100", len(page.Jobs))
		}
		got = append(got, ids(page.Jobs)...)
		pages++
		if page.Next == "" {
			break
		}
		cursor = page.Next
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || len(got) != n {
		t.Fatalf("%d jobs in %d pages, want %d in 3", len(got), pages, n)
	}
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("p%03d", n-1-i)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pages out of order: %v", got)
	}
	// A page size of 1 walks the same list, once the list index has caught
	// up with the writes.
	settledList(t, s, store.JobQuery{Queue: queue, Limit: n}, want)
	page, err := s.ListJobs(ctx, store.JobQuery{Queue: queue, Limit: 1})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].JobID != want[0] || page.Next == "" {
		t.Fatalf("limit 1: %v %v", ids(page.Jobs), err)
	}
	// An exact page leaves no phantom page behind, or an empty last page at most.
	page, err = s.ListJobs(ctx, store.JobQuery{Queue: queue, Limit: n})
	if err != nil || len(page.Jobs) != n {
		t.Fatalf("limit %d: %d jobs, %v", n, len(page.Jobs), err)
	}
	if page.Next != "" {
		rest, err := s.ListJobs(ctx, store.JobQuery{Queue: queue, Limit: n, Cursor: page.Next})
		if err != nil || len(rest.Jobs) != 0 || rest.Next != "" {
			t.Fatalf("after the last job: %v %q %v", ids(rest.Jobs), rest.Next, err)
		}
	}
}

func testListFilters(t *testing.T, s store.Store) {
	add := func(id, name, share string, created int64, status model.JobStatus) {
		j := newJob(id, fairQ, created)
		j.JobName, j.ShareIdentifier = name, share
		put(t, s, j)
		if status != model.StatusSubmitted {
			moveTo(t, s, id, status, nil)
		}
	}
	add("a", "Train-ResNet", "research", t0+1, model.StatusRunnable)
	add("b", "train-bert", "prod", t0+2, model.StatusRunning)
	add("c", "TRAIN", "research", t0+3, model.StatusSucceeded)
	add("d", "eval", "research", t0+4, model.StatusRunning)
	add("e", "train", "prod", t0+5, model.StatusRunnable)
	tests := map[string]struct {
		q    store.JobQuery
		want []string
	}{
		"exact name, any case":   {q: store.JobQuery{Queue: fairQ, Name: "train"}, want: []string{"e", "c"}},
		"name prefix, any case":  {q: store.JobQuery{Queue: fairQ, Name: "TRAIN", NamePrefix: true}, want: []string{"e", "c", "b", "a"}},
		"prefix matching none":   {q: store.JobQuery{Queue: fairQ, Name: "x", NamePrefix: true}, want: []string{}},
		"created after":          {q: store.JobQuery{Queue: fairQ, CreatedAfter: t0 + 3}, want: []string{"e", "d"}},
		"created before":         {q: store.JobQuery{Queue: fairQ, CreatedBefore: t0 + 3}, want: []string{"b", "a"}},
		"created between":        {q: store.JobQuery{Queue: fairQ, CreatedAfter: t0 + 1, CreatedBefore: t0 + 5}, want: []string{"d", "c", "b"}},
		"share":                  {q: store.JobQuery{Queue: fairQ, Share: "research"}, want: []string{"d", "c", "a"}},
		"share and status":       {q: store.JobQuery{Queue: fairQ, Share: "research", Statuses: []model.JobStatus{model.StatusRunning}}, want: []string{"d"}},
		"name and status":        {q: store.JobQuery{Queue: fairQ, Name: "train", NamePrefix: true, Statuses: []model.JobStatus{model.StatusRunnable}}, want: []string{"e", "a"}},
		"filters over pages":     {q: store.JobQuery{Queue: fairQ, Share: "research", Limit: 1}, want: []string{"d", "c", "a"}},
		"name across all queues": {q: store.JobQuery{Name: "eval"}, want: []string{"d"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			settledList(t, s, tc.q, tc.want)
		})
	}
}

func testListBadCursor(t *testing.T, s store.Store) {
	for i := range 3 {
		put(t, s, newJob(fmt.Sprintf("j%d", i), queue, t0+int64(i)))
	}
	for _, c := range []string{"garbage", "%%%", strings.Repeat("A", 40), "eyJ4IjoxfQ=="} {
		if _, err := s.ListJobs(ctx, store.JobQuery{Queue: queue, Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", c, err)
		}
	}
}

func runnable(t *testing.T, s store.Store, id, q, share string, prio int32, created int64) {
	t.Helper()
	j := newJob(id, q, created)
	j.ShareIdentifier, j.SchedulingPriority = share, prio
	put(t, s, j)
	moveTo(t, s, id, model.StatusRunnable, nil)
}

func heads(t *testing.T, s store.Store, q, share string, limit int) ([]string, bool) {
	t.Helper()
	jobs, more, err := s.Heads(ctx, q, share, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ids(jobs), more
}

func testHeadsFIFO(t *testing.T, s store.Store) {
	runnable(t, s, "c", queue, "", 9, t0+3)
	runnable(t, s, "a", queue, "", 0, t0+1)
	runnable(t, s, "b2", queue, "", 5, t0+2)
	runnable(t, s, "b1", queue, "", 1, t0+2)
	put(t, s, newJob("submitted", queue, t0)) // not RUNNABLE: not a head
	lines, err := s.Lines(ctx, queue)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Line{{Queue: queue, Share: "", Runnable: 4}}; !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines %+v, want %+v", lines, want)
	}
	// FIFO: createdAt then jobId; priority plays no part.
	settledHeads(t, s, queue, "", 10, []string{"a", "b1", "b2", "c"}, false)
	if got, more := heads(t, s, queue, "", 2); !reflect.DeepEqual(got, []string{"a", "b1"}) || !more {
		t.Fatalf("two heads %v more=%v, want [a b1] and more", got, more)
	}
	if got, more := heads(t, s, queue, "", 4); len(got) != 4 || more {
		t.Fatalf("exactly all heads: %v more=%v", got, more)
	}
	if lines, _ := s.Lines(ctx, fairQ); len(lines) != 0 {
		t.Fatalf("a queue without jobs has lines %+v", lines)
	}
}

func testHeadsFairShare(t *testing.T, s store.Store) {
	runnable(t, s, "r-old", fairQ, "research", 1, t0+1)
	runnable(t, s, "r-urgent", fairQ, "research", 50, t0+5)
	runnable(t, s, "r-young", fairQ, "research", 1, t0+9)
	runnable(t, s, "r-urgent2", fairQ, "research", 50, t0+6)
	runnable(t, s, "p1", fairQ, "prod", 0, t0+2)
	runnable(t, s, "p-max", fairQ, "prod", 9999, t0+3)
	lines, err := s.Lines(ctx, fairQ)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Line{{Queue: fairQ, Share: "prod", Runnable: 2}, {Queue: fairQ, Share: "research", Runnable: 4}}
	sort.Slice(lines, func(a, b int) bool { return lines[a].Share < lines[b].Share })
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("lines %+v, want %+v", lines, want)
	}
	settledHeads(t, s, fairQ, "research", 10, []string{"r-urgent", "r-urgent2", "r-old", "r-young"}, false)
	settledHeads(t, s, fairQ, "prod", 10, []string{"p-max", "p1"}, false)
	if got, more := heads(t, s, fairQ, "nobody", 10); len(got) != 0 || more {
		t.Fatalf("heads of an empty share: %v", got)
	}
}

func testHeadsFollowUpdates(t *testing.T, s store.Store) {
	runnable(t, s, "a", fairQ, "s", 1, t0+1)
	runnable(t, s, "b", fairQ, "s", 1, t0+2)
	runnable(t, s, "c", fairQ, "s", 1, t0+3)
	// A priority change reorders the line.
	moveTo(t, s, "c", model.StatusRunnable, func(j *model.ServiceJob) { j.SchedulingPriority = 100 })
	settledHeads(t, s, fairQ, "s", 10, []string{"c", "a", "b"}, false)
	// Leaving RUNNABLE leaves the line; coming back rejoins it.
	moveTo(t, s, "a", model.StatusScheduled, nil)
	settledHeads(t, s, fairQ, "s", 10, []string{"c", "b"}, false)
	if lines, _ := s.Lines(ctx, fairQ); len(lines) != 1 || lines[0].Runnable != 2 {
		t.Fatalf("lines after scheduling a: %+v", lines)
	}
	moveTo(t, s, "a", model.StatusRunnable, nil)
	settledHeads(t, s, fairQ, "s", 10, []string{"c", "a", "b"}, false)
	// A line whose jobs have all left is gone.
	for _, id := range []string{"a", "b", "c"} {
		moveTo(t, s, id, model.StatusFailed, nil)
	}
	if lines, _ := s.Lines(ctx, fairQ); len(lines) != 0 {
		t.Fatalf("lines after every job ended: %+v", lines)
	}
	settledHeads(t, s, fairQ, "s", 10, []string{}, false)
	// A refused update leaves the indexes alone.
	runnable(t, s, "d", fairQ, "s", 1, t0+4)
	stale, _ := s.GetJob(ctx, "d")
	moveTo(t, s, "d", model.StatusRunnable, func(j *model.ServiceJob) { j.StatusReason = "bump" })
	stale.Status = model.StatusScheduled
	if _, err := s.UpdateJob(ctx, stale, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	settledHeads(t, s, fairQ, "s", 10, []string{"d"}, false)
}

func testUsage(t *testing.T, s store.Store) {
	if u, err := s.ListUsage(ctx, fairQ); err != nil || len(u) != 0 {
		t.Fatalf("usage of a fresh store: %+v %v", u, err)
	}
	const tau = 600
	got, err := s.AddUsage(ctx, fairQ, "b", 2, t0, t0+600_000, tau)
	if err != nil {
		t.Fatal(err)
	}
	want := model.ShareUsage{Queue: fairQ, Share: "b"}.Add(2, t0, t0+600_000, tau)
	if got != want {
		t.Fatalf("AddUsage returned %+v, want %+v", got, want)
	}
	if _, err := s.AddUsage(ctx, fairQ, "a", 1, t0, t0+60_000, tau); err != nil {
		t.Fatal(err)
	}
	second, err := s.AddUsage(ctx, fairQ, "b", 1, t0+600_000, t0+1_200_000, tau)
	if err != nil {
		t.Fatal(err)
	}
	if want2 := want.Add(1, t0+600_000, t0+1_200_000, tau); second != want2 {
		t.Fatalf("second AddUsage %+v, want %+v", second, want2)
	}
	if _, err := s.AddUsage(ctx, queue, "z", 1, t0, t0+1, tau); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListUsage(ctx, fairQ)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Share != "a" || list[1] != second {
		t.Fatalf("ListUsage %+v", list)
	}
}

func testConcurrentUsage(t *testing.T, s store.Store) {
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Instantaneous-free additions at one time: the sum is exact.
			if _, err := s.AddUsage(ctx, fairQ, "s", 1, t0, t0+600_000, 600); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	list, _ := s.ListUsage(ctx, fairQ)
	one := model.ShareUsage{}.Add(1, t0, t0+600_000, 600).Instances
	if len(list) != 1 || abs(list[0].Instances-n*one) > 1e-9 {
		t.Fatalf("after %d concurrent adds: %+v, want %v", n, list, n*one)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func testEnvironments(t *testing.T, s store.Store) {
	mk := func(name string, max int64) *model.ServiceEnvironment {
		return &model.ServiceEnvironment{
			Name: name, Arn: "arn:aws:batch:local:000000000000:service-environment/" + name,
			Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Status: model.StatusValid,
			CapacityLimits: []model.CapacityLimit{{CapacityUnit: model.CapacityUnitInstances, MaxCapacity: max}},
			Tags:           map[string]string{"k": "v"},
		}
	}
	crud(t, "environment", crudOps[*model.ServiceEnvironment]{
		create: s.CreateEnvironment, get: s.GetEnvironment, list: s.ListEnvironments, update: s.UpdateEnvironment, del: s.DeleteEnvironment,
		make:    func(name string) *model.ServiceEnvironment { return mk(name, 4) },
		name:    func(e *model.ServiceEnvironment) string { return e.Name },
		version: func(e *model.ServiceEnvironment) *int64 { return &e.Version },
		change:  func(e *model.ServiceEnvironment) { e.CapacityLimits[0].MaxCapacity++; e.State = model.StateDisabled },
	})
}

func testPolicies(t *testing.T, s store.Store) {
	crud(t, "policy", crudOps[*model.SchedulingPolicy]{
		create: s.CreatePolicy, get: s.GetPolicy, list: s.ListPolicies, update: s.UpdatePolicy, del: s.DeletePolicy,
		make: func(name string) *model.SchedulingPolicy {
			return &model.SchedulingPolicy{Name: name, Arn: "arn:aws:batch:local:000000000000:scheduling-policy/" + name,
				FairsharePolicy: &model.FairsharePolicy{ShareDecaySeconds: 60, ComputeReservation: 5,
					ShareDistribution: []model.ShareAttributes{{ShareIdentifier: "a*", WeightFactor: 0.5}}}}
		},
		name:    func(p *model.SchedulingPolicy) string { return p.Name },
		version: func(p *model.SchedulingPolicy) *int64 { return &p.Version },
		change:  func(p *model.SchedulingPolicy) { p.FairsharePolicy.ComputeReservation = 50 },
	})
}

func testQueues(t *testing.T, s store.Store) {
	crud(t, "queue", crudOps[*model.JobQueue]{
		create: s.CreateQueue, get: s.GetQueue, list: s.ListQueues, update: s.UpdateQueue, del: s.DeleteQueue,
		make: func(name string) *model.JobQueue {
			return &model.JobQueue{Name: name, Arn: "arn:aws:batch:local:000000000000:job-queue/" + name,
				Type: model.ServiceJobTypeSageMakerTraining, State: model.StateEnabled, Status: model.StatusValid, Priority: 3,
				ServiceEnvironmentOrder:  []model.ServiceEnvironmentOrder{{Order: 1, ServiceEnvironment: "arn:e"}},
				JobStateTimeLimitActions: []model.JobStateTimeLimitAction{{Action: "CANCEL", MaxTimeSeconds: 60, Reason: "R", State: "RUNNABLE"}}}
		},
		name:    func(q *model.JobQueue) string { return q.Name },
		version: func(q *model.JobQueue) *int64 { return &q.Version },
		change:  func(q *model.JobQueue) { q.Priority = 9; q.State = model.StateDisabled; q.Backfill = true },
	})
}

func quotaShare(queueName, name string) *model.QuotaShare {
	qArn := "arn:aws:batch:local:000000000000:job-queue/" + queueName
	return &model.QuotaShare{
		Name: name, Arn: model.QuotaShareARN(qArn, name), JobQueue: qArn,
		CapacityLimits:               []model.CapacityLimit{{CapacityUnit: "ml.m5.large", MaxCapacity: 2}, {CapacityUnit: "ml.p5.48xlarge", MaxCapacity: 0}},
		ResourceSharingConfiguration: model.ResourceSharing{Strategy: model.SharingLendAndBorrow, BorrowLimit: 200},
		PreemptionConfiguration:      model.QuotaSharePreemption{InSharePreemption: model.StateEnabled},
		State:                        model.StateEnabled, Status: model.StatusValid, Tags: map[string]string{"team": "a"},
	}
}

func testQuotaShares(t *testing.T, s store.Store) {
	crud(t, "quota share", crudOps[*model.QuotaShare]{
		create: s.CreateQuotaShare,
		get: func(ctx context.Context, name string) (*model.QuotaShare, error) {
			return s.GetQuotaShare(ctx, "qm", name)
		},
		list:    func(ctx context.Context) ([]*model.QuotaShare, error) { return s.ListQuotaShares(ctx, "qm") },
		update:  s.UpdateQuotaShare,
		del:     func(ctx context.Context, name string) error { return s.DeleteQuotaShare(ctx, "qm", name) },
		make:    func(name string) *model.QuotaShare { return quotaShare("qm", name) },
		name:    func(q *model.QuotaShare) string { return q.Name },
		version: func(q *model.QuotaShare) *int64 { return &q.Version },
		change: func(q *model.QuotaShare) {
			q.CapacityLimits[0].MaxCapacity = 1
			q.ResourceSharingConfiguration = model.ResourceSharing{Strategy: model.SharingReserve, BorrowLimit: -1}
			q.State = model.StateDisabled
		},
	})
}

// testQuotaSharesPerQueue checks that shares are kept per queue: one name
// in two queues is two shares, and a queue whose name prefixes another's
// lists only its own.
func testQuotaSharesPerQueue(t *testing.T, s store.Store) {
	for _, k := range [][2]string{{"qm", "a"}, {"qm", "b"}, {"qm2", "a"}, {"q", "z"}} {
		if _, err := s.CreateQuotaShare(ctx, quotaShare(k[0], k[1])); err != nil {
			t.Fatalf("create %v: %v", k, err)
		}
	}
	names := func(queue string) []string {
		list, err := s.ListQuotaShares(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range list {
			out = append(out, q.JobQueue+" "+q.Name)
		}
		return out
	}
	const arn = "arn:aws:batch:local:000000000000:job-queue/"
	if got, want := names("qm"), []string{arn + "qm a", arn + "qm b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("shares of qm: %v, want %v", got, want)
	}
	if got, want := names("qm2"), []string{arn + "qm2 a"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("shares of qm2: %v, want %v", got, want)
	}
	if got := names("nothing"); len(got) != 0 {
		t.Fatalf("shares of a queue without any: %v", got)
	}
	if err := s.DeleteQuotaShare(ctx, "qm", "a"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetQuotaShare(ctx, "qm2", "a"); err != nil || got.JobQueue != arn+"qm2" {
		t.Fatalf("deleting qm's share a touched qm2's: %+v %v", got, err)
	}
	if _, err := s.GetQuotaShare(ctx, "qm", "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a deleted share: %v", err)
	}
}

// testQuotaShareJobs checks that a job of a quota share keeps its quota
// share name and preemption record through the store, and that its line is
// its share, in priority order like a fair share's.
func testQuotaShareJobs(t *testing.T, s store.Store) {
	const qm = "arn:aws:batch:local:000000000000:job-queue/qm"
	mk := func(id string, prio int32, created int64) *model.ServiceJob {
		j := newJob(id, qm, created)
		j.ShareIdentifier, j.QuotaShareName, j.SchedulingPriority = "teamA", "teamA", prio
		j.PreemptionConfiguration = &model.ServiceJobPreemption{RetriesBeforeTermination: ptr32(2)}
		return put(t, s, j)
	}
	mk("lo", 1, 0)
	mk("hi", 9, 5)
	for _, id := range []string{"lo", "hi"} {
		moveTo(t, s, id, model.StatusRunnable, nil)
	}
	// Priority first.
	settledHeads(t, s, qm, "teamA", 10, []string{"hi", "lo"}, false)
	j := moveTo(t, s, "lo", model.StatusScheduled, func(j *model.ServiceJob) {
		j.PreemptReason = "PREEMPTED - for hi"
		j.RecordPreemption(model.Attempt{TrainingJobName: "tj-1", StatusReason: "PREEMPTED - for hi", StartedAt: t0, StoppedAt: t0 + 5})
	})
	back, err := s.GetJob(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if back.QuotaShareName != "teamA" || back.PreemptReason != j.PreemptReason || back.Preemptions != 1 ||
		len(back.PreemptedAttempts) != 1 || back.PreemptedAttempts[0].TrainingJobName != "tj-1" ||
		back.PreemptionConfiguration == nil || *back.PreemptionConfiguration.RetriesBeforeTermination != 2 {
		t.Fatalf("quota share job fields lost in the store: %+v", back)
	}
	settledList(t, s, store.JobQuery{Queue: qm, Share: "teamA"}, []string{"hi", "lo"})
}

func ptr32(v int32) *int32 { return &v }

type crudOps[T any] struct {
	create  func(context.Context, T) (T, error)
	get     func(context.Context, string) (T, error)
	list    func(context.Context) ([]T, error)
	update  func(context.Context, T) (T, error)
	del     func(context.Context, string) error
	make    func(name string) T
	name    func(T) string
	version func(T) *int64
	change  func(T)
}

func crud[T any](t *testing.T, kind string, o crudOps[T]) {
	created, err := o.create(ctx, o.make("beta"))
	if err != nil {
		t.Fatalf("create %s: %v", kind, err)
	}
	if *o.version(created) != 1 {
		t.Fatalf("a new %s has version %d", kind, *o.version(created))
	}
	want := o.make("beta")
	*o.version(want) = 1
	if !reflect.DeepEqual(created, want) {
		t.Fatalf("create returned\n%+v\nwant\n%+v", created, want)
	}
	if _, err := o.create(ctx, o.make("beta")); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create of a %s: %v, want ErrAlreadyExists", kind, err)
	}
	if _, err := o.create(ctx, o.make("alpha")); err != nil {
		t.Fatal(err)
	}
	got, err := o.get(ctx, "beta")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("get %s: %+v %v", kind, got, err)
	}
	if _, err := o.get(ctx, "gamma"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a missing %s: %v, want ErrNotFound", kind, err)
	}
	all, err := o.list(ctx)
	if err != nil || len(all) != 2 || o.name(all[0]) != "alpha" || o.name(all[1]) != "beta" {
		t.Fatalf("list %ss: %+v %v", kind, all, err)
	}

	o.change(got)
	updated, err := o.update(ctx, got)
	if err != nil {
		t.Fatalf("update %s: %v", kind, err)
	}
	if *o.version(updated) != 2 {
		t.Fatalf("updated %s has version %d, want 2", kind, *o.version(updated))
	}
	reread, _ := o.get(ctx, "beta")
	if !reflect.DeepEqual(reread, updated) {
		t.Fatalf("get after update\n%+v\nwant\n%+v", reread, updated)
	}
	if _, err := o.update(ctx, got); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update of a %s with a stale version: %v, want ErrConflict", kind, err)
	}
	ghost := o.make("gamma")
	*o.version(ghost) = 1
	if _, err := o.update(ctx, ghost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing %s: %v, want ErrNotFound", kind, err)
	}

	if err := o.del(ctx, "beta"); err != nil {
		t.Fatalf("delete %s: %v", kind, err)
	}
	if _, err := o.get(ctx, "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get of a deleted %s: %v", kind, err)
	}
	if err := o.del(ctx, "beta"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete of a %s: %v, want ErrNotFound", kind, err)
	}
	if all, _ := o.list(ctx); len(all) != 1 {
		t.Fatalf("%d %ss after delete, want 1", len(all), kind)
	}
	// The name is free again.
	if _, err := o.create(ctx, o.make("beta")); err != nil {
		t.Fatalf("re-create a deleted %s: %v", kind, err)
	}
}

func testLease(t *testing.T, s store.Store) {
	now := time.Unix(1_800_000_000, 0)
	a, err := s.AcquireLease(ctx, "scheduler", "a", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if a.Holder != "a" || a.Name != "scheduler" || !a.Expires.Equal(now.Add(time.Minute)) || a.Token < 1 {
		t.Fatalf("lease %+v", a)
	}
	if _, err := s.AcquireLease(ctx, "scheduler", "b", now.Add(30*time.Second), time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("acquire of a held lease: %v, want ErrLeaseHeld", err)
	}
	renewed, err := s.AcquireLease(ctx, "scheduler", "a", now.Add(30*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Token != a.Token || !renewed.Expires.Equal(now.Add(90*time.Second)) {
		t.Fatalf("renewal %+v, want token %d and a later expiry", renewed, a.Token)
	}
	// Another lease name is independent.
	if _, err := s.AcquireLease(ctx, "other", "b", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	// After expiry b takes it, with a larger token.
	b, err := s.AcquireLease(ctx, "scheduler", "b", now.Add(91*time.Second), time.Minute)
	if err != nil {
		t.Fatalf("acquire after expiry: %v", err)
	}
	if b.Token <= a.Token {
		t.Fatalf("token went from %d to %d when the lease changed hands", a.Token, b.Token)
	}
	// a's release is stale now and must not free b's lease.
	if err := s.ReleaseLease(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "scheduler", "c", now.Add(100*time.Second), time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a stale release freed the lease: %v", err)
	}
	// b's release frees it at once, and the next holder gets a larger token.
	if err := s.ReleaseLease(ctx, b); err != nil {
		t.Fatal(err)
	}
	c, err := s.AcquireLease(ctx, "scheduler", "c", now.Add(100*time.Second), time.Minute)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if c.Token <= b.Token {
		t.Fatalf("token went from %d to %d after a release", b.Token, c.Token)
	}
	// Concurrent acquirers: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	later := now.Add(time.Hour)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AcquireLease(ctx, "race", fmt.Sprintf("h%d", i), later, time.Minute)
			if err == nil {
				mu.Lock()
				winners++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrLeaseHeld) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d concurrent acquirers won, want 1", winners)
	}
}
