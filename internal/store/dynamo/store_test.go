package dynamo_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sagequeue/sagequeue/internal/ddblocal"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

const (
	t0     = int64(1_800_000_000_000)
	queueA = "arn:aws:batch:local:000000000000:job-queue/a"
	queueB = "arn:aws:batch:local:000000000000:job-queue/b"
)

func job(id, queue string, created int64) *model.ServiceJob {
	return &model.ServiceJob{
		JobID: id, JobName: "job-" + id, JobQueue: queue, ServiceJobType: model.ServiceJobTypeSageMakerTraining,
		ServiceRequestPayload: `{"ResourceConfig":{"InstanceCount":1}}`, Status: model.StatusSubmitted,
		CreatedAt: created, UpdatedAt: created, Instances: 1,
	}
}

func move(t *testing.T, s store.Store, id string, to model.JobStatus) *model.ServiceJob {
	t.Helper()
	j, err := s.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	j.Status = to
	got, err := s.UpdateJob(ctx, j, nil)
	if err != nil {
		t.Fatalf("UpdateJob(%s -> %s): %v", id, to, err)
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

func expiresAt(t *testing.T, s *dynamo.Store, pk, sk string) (int64, bool) {
	t.Helper()
	it, err := s.RawItem(ctx, pk, sk)
	if err != nil || it == nil {
		t.Fatalf("item %s/%s: %v %v", pk, sk, it, err)
	}
	v, ok := it[dynamo.AttrExpiresAt].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	var n int64
	fmt.Sscan(v.Value, &n)
	return n, true
}

// TestFinishedJobsExpire checks the time to live: a job's items (META,
// PAYLOAD, client token) get expiresAt = finish + Retention when it
// finishes, and a token whose job has expired is free again.
func TestFinishedJobsExpire(t *testing.T) {
	client, table := newTable(t)
	s, err := dynamo.New(ctx, dynamo.Config{Client: client, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	j := job("j1", queueA, t0)
	j.ClientToken = "tok"
	if _, err := s.PutJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	items := [][2]string{{"JOB#j1", "META"}, {"JOB#j1", "PAYLOAD"}, {"TOKEN#tok", "TOKEN"}}
	for _, k := range items {
		if _, ok := expiresAt(t, s, k[0], k[1]); ok {
			t.Fatalf("%v expires before the job finished", k)
		}
	}
	move(t, s, "j1", model.StatusRunnable)
	before := time.Now()
	move(t, s, "j1", model.StatusFailed)
	for _, k := range items {
		exp, ok := expiresAt(t, s, k[0], k[1])
		want := before.Add(dynamo.DefaultRetention).Unix()
		if !ok || exp < want || exp > want+5 {
			t.Fatalf("%v expires at %d, want about %d", k, exp, want)
		}
	}
	// Later changes of a finished job keep its expiry.
	exp, _ := expiresAt(t, s, "JOB#j1", "META")
	fin, _ := s.GetJob(ctx, "j1")
	fin.StatusReason = "noted"
	if _, err := s.UpdateJob(ctx, fin, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := expiresAt(t, s, "JOB#j1", "META"); again != exp {
		t.Fatalf("expiry moved from %d to %d", exp, again)
	}

	// A store with a retention of a moment: the token is free once the job
	// it names has expired, even before TTL deletes it.
	short, err := dynamo.New(ctx, dynamo.Config{Client: client, Table: table, Retention: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	k := job("k1", queueA, t0)
	k.ClientToken = "tok2"
	if _, err := short.PutJob(ctx, k); err != nil {
		t.Fatal(err)
	}
	move(t, short, "k1", model.StatusRunnable)
	move(t, short, "k1", model.StatusFailed)
	time.Sleep(1100 * time.Millisecond)
	k2 := job("k2", queueA, t0+1)
	k2.ClientToken = "tok2"
	if _, err := short.PutJob(ctx, k2); err != nil {
		t.Fatalf("a token of an expired job was refused: %v", err)
	}
	if got, err := short.PutJob(ctx, func() *model.ServiceJob { x := job("k3", queueA, t0+2); x.ClientToken = "tok2"; return x }()); !errors.Is(err, store.ErrAlreadyExists) || got.JobID != "k2" {
		t.Fatalf("the reused token: %v %v", got, err)
	}
}

// TestListMixesActiveAndIndexedStates lists states held in the ACTIVE
// collection together with states kept in the indexes, across queues and
// in one, a page of two at a time: one order, newest first.
func TestListMixesActiveAndIndexedStates(t *testing.T) {
	s, _ := newStore(t)
	states := []model.JobStatus{model.StatusRunnable, model.StatusRunning, model.StatusSucceeded, model.StatusScheduled, model.StatusSubmitted}
	for i := range 15 {
		q := queueA
		if i%4 == 3 {
			q = queueB
		}
		id := fmt.Sprintf("m%02d", i)
		if _, err := s.PutJob(ctx, job(id, q, t0+int64(i/2))); err != nil {
			t.Fatal(err)
		}
		if st := states[i%len(states)]; st != model.StatusSubmitted {
			move(t, s, id, st)
		}
	}
	want := func(q string, sts ...model.JobStatus) []string {
		out := []string{}
		for i := 14; i >= 0; i-- {
			inQ := q == "" || (q == queueB) == (i%4 == 3)
			for _, st := range sts {
				if inQ && states[i%len(states)] == st {
					out = append(out, fmt.Sprintf("m%02d", i))
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		q   string
		sts []model.JobStatus
	}{
		{"", []model.JobStatus{model.StatusRunnable, model.StatusRunning, model.StatusSucceeded}},
		{queueA, []model.JobStatus{model.StatusRunnable, model.StatusRunning, model.StatusSucceeded}},
		{queueA, []model.JobStatus{model.StatusScheduled, model.StatusSubmitted}},
		{"", nil},
	} {
		all := model.AllStatuses
		if tc.sts != nil {
			all = tc.sts
		}
		var got []string
		q := store.JobQuery{Queue: tc.q, Statuses: tc.sts, Limit: 2}
		for range 20 {
			page, err := s.ListJobs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page.Jobs)...)
			if q.Cursor = page.Next; q.Cursor == "" {
				break
			}
		}
		if w := want(tc.q, all...); !reflect.DeepEqual(got, w) {
			t.Errorf("queue %q statuses %v: got %v, want %v", tc.q, tc.sts, got, w)
		}
	}
}

// TestListScanBudget lists a rare name in a long queue with a budget of a
// few items a page: pages come back short or empty, with cursors, and
// together hold every match.
func TestListScanBudget(t *testing.T) {
	s, _ := newStore(t)
	var jobs []*model.ServiceJob
	for i := range 60 {
		j := job(fmt.Sprintf("b%02d", i), queueA, t0+int64(i))
		if i%20 == 7 {
			j.JobName = "Rare-" + j.JobID
		}
		jobs = append(jobs, j)
	}
	if err := s.SeedJobs(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	s.SetScanBudget(7)
	for _, q := range []store.JobQuery{
		{Queue: queueA, Name: "rare", NamePrefix: true},
		{Name: "rare", NamePrefix: true},
		{Queue: queueA, Statuses: []model.JobStatus{model.StatusSubmitted}, Name: "RARE", NamePrefix: true},
	} {
		var got []string
		pages := 0
		for ; pages < 100; pages++ {
			page, err := s.ListJobs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page.Jobs)...)
			if q.Cursor = page.Next; q.Cursor == "" {
				break
			}
		}
		if want := []string{"b47", "b27", "b07"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v: got %v, want %v", q, got, want)
		}
		if pages < 5 {
			t.Fatalf("%+v: %d pages; the budget did not bound them", q, pages)
		}
	}
}

func TestHeadsLimitZero(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.PutJob(ctx, job("h1", queueA, t0)); err != nil {
		t.Fatal(err)
	}
	move(t, s, "h1", model.StatusRunnable)
	jobs, more, err := s.Heads(ctx, queueA, "", 0)
	if err != nil || len(jobs) != 0 || !more {
		t.Fatalf("heads(0): %v more=%v %v", ids(jobs), more, err)
	}
	jobs, more, err = s.Heads(ctx, queueB, "", 0)
	if err != nil || len(jobs) != 0 || more {
		t.Fatalf("heads(0) of an empty line: %v more=%v %v", ids(jobs), more, err)
	}
}

// TestNewChecksTheTable refuses a missing table and one without the
// indexes the store queries.
func TestNewChecksTheTable(t *testing.T) {
	client := ddblocal.Client(t)
	if _, err := dynamo.New(ctx, dynamo.Config{Client: client, Table: "no-such-table"}); err == nil {
		t.Fatal("New accepted a missing table")
	}
	bare := dynamo.TableDefinition(ddblocal.TableName(t))
	bare.GlobalSecondaryIndexes = bare.GlobalSecondaryIndexes[:1]
	bare.AttributeDefinitions = bare.AttributeDefinitions[:4]
	if _, err := client.CreateTable(ctx, bare); err != nil {
		t.Fatal(err)
	}
	defer client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: bare.TableName})
	_, err := dynamo.New(ctx, dynamo.Config{Client: client, Table: aws.ToString(bare.TableName)})
	if err == nil || !strings.Contains(err.Error(), dynamo.IndexByQueueStatus) {
		t.Fatalf("New on a table without the list indexes: %v", err)
	}
	if _, err := dynamo.New(ctx, dynamo.Config{Table: "x"}); err == nil {
		t.Fatal("New without a client")
	}
}

// TestMeter checks that every request is metered, reads as RCU and writes
// as WCU, split by table and index.
func TestMeter(t *testing.T) {
	s, m := newStore(t)
	before := m.Read()
	if _, err := s.PutJob(ctx, job("x", queueA, t0)); err != nil {
		t.Fatal(err)
	}
	put := m.Read().Sub(before)
	if put.WCU <= 0 || put.RCU != 0 || put.Requests != 1 || put.Parts[dynamo.IndexByQueue].WCU <= 0 {
		t.Fatalf("PutJob consumed %+v", put)
	}
	before = m.Read()
	if _, err := s.GetJob(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if get := m.Read().Sub(before); get.RCU <= 0 || get.WCU != 0 || get.Parts["table"].RCU <= 0 {
		t.Fatalf("GetJob consumed %+v", get)
	}
	before = m.Read()
	if _, err := s.PutJob(ctx, job("x", queueA, t0)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatal(err)
	}
	if again := m.Read().Sub(before); again.Refused != 1 {
		t.Fatalf("a refused PutJob: %+v", again)
	}
	m.Reset()
	if c := m.Read(); c.Requests != 0 || c.RCU != 0 {
		t.Fatalf("after Reset: %+v", c)
	}
}

// TestHeadsMergeShards puts the jobs of one line into every shard and reads
// them back in dispatch order, a few at a time and all at once.
func TestHeadsMergeShards(t *testing.T) {
	s, m := newStore(t)
	var jobs []*model.ServiceJob
	perShard := map[int]int{}
	for i := range 40 {
		j := job(fmt.Sprintf("h%02d", i), queueA, t0+int64(39-i)/2)
		j.Status, j.Version = model.StatusRunnable, 2
		perShard[dynamo.ShardOf(j.JobID)]++
		jobs = append(jobs, j)
	}
	if len(perShard) != dynamo.Shards {
		t.Fatalf("40 jobs landed in %d of %d shards: choose other IDs", len(perShard), dynamo.Shards)
	}
	if err := s.SeedJobs(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	want := make([]string, 40)
	for i := range want {
		// createdAt t0+19 down to t0; pairs by jobId.
		a, b := 39-2*(i/2), 38-2*(i/2)
		if i%2 == 0 {
			want[i] = fmt.Sprintf("h%02d", min(a, b))
		} else {
			want[i] = fmt.Sprintf("h%02d", max(a, b))
		}
	}
	before := m.Read()
	got, more, err := s.Heads(ctx, queueA, "", 5)
	if err != nil || !reflect.DeepEqual(ids(got), want[:5]) || !more {
		t.Fatalf("five heads: %v more=%v %v, want %v", ids(got), more, err, want[:5])
	}
	if c := m.Read().Sub(before); c.Requests > int64(2*dynamo.Shards) {
		t.Fatalf("five heads took %d requests", c.Requests)
	}
	got, more, err = s.Heads(ctx, queueA, "", 100)
	if err != nil || !reflect.DeepEqual(ids(got), want) || more {
		t.Fatalf("every head: %v more=%v %v, want %v", ids(got), more, err, want)
	}
}

// TestAdmissionsComeWithPayloads: jobs that UpdateJobs moves to SCHEDULED
// come back with their payload, which the scheduler launches next.
func TestAdmissionsComeWithPayloads(t *testing.T) {
	s, m := newStore(t)
	var jobs []*model.ServiceJob
	for i := range 3 {
		j := job(fmt.Sprintf("p%d", i), queueA, t0+int64(i))
		j.ServiceRequestPayload = fmt.Sprintf(`{"n":%d}`, i)
		j.Status, j.Version = model.StatusRunnable, 1
		jobs = append(jobs, j)
	}
	if err := s.SeedJobs(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		j.ServiceRequestPayload = ""
		if i < 2 {
			j.Status = model.StatusScheduled
		} else {
			j.StatusReason = "still waiting"
		}
	}
	before := m.Read()
	stored, errs := s.UpdateJobs(ctx, jobs, nil)
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if i < 2 {
			want = fmt.Sprintf(`{"n":%d}`, i)
		}
		if stored[i].ServiceRequestPayload != want {
			t.Fatalf("job %d came back with payload %q, want %q", i, stored[i].ServiceRequestPayload, want)
		}
	}
	if c := m.Read().Sub(before); c.Requests > 4 {
		t.Fatalf("three updates took %d requests", c.Requests)
	}
}
