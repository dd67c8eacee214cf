package e2e

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
)

// bounded is Payload with StoppingCondition.MaxRuntimeInSeconds.
func bounded(script string, instances, maxRuntime int) string {
	var p map[string]any
	if err := json.Unmarshal([]byte(Payload(script, instances)), &p); err != nil {
		panic(err)
	}
	p["StoppingCondition"] = map[string]any{"MaxRuntimeInSeconds": maxRuntime}
	b, _ := json.Marshal(p)
	return string(b)
}

// reservedAt reads the reservedAt extension member of DescribeServiceJob.
func (s *Server) reservedAt(id string) int64 {
	s.t.Helper()
	resp, err := s.http.Post(s.URL+"/v1/describeservicejob", "application/json", strings.NewReader(`{"jobId":"`+id+`"}`))
	if err != nil {
		s.t.Fatalf("describeservicejob: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		ReservedAt int64 `json:"reservedAt"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		s.t.Fatalf("describeservicejob: %v: %s", err, b)
	}
	return out.ReservedAt
}

// TestBackfill: on 4 instances, 2 of them held by a job whose runtime bound
// is 15 s, a FIFO queue with backfill gives the blocked 4-instance head a
// reservation at the end of that bound, starts a short job (bound 3 s) on
// the 2 free instances at once, and keeps a long one (bound 60 s) waiting
// because it would delay the head. The head starts as soon as the holder
// ends (before its reservation), not delayed by the short job, and never
// more than 4 instances are in use.
func TestBackfill(t *testing.T) {
	t.Parallel()
	s := StartServer(t, `
environments:
  - {name: four, maxCapacity: 4}
queues:
  - {name: bf, priority: 1, environments: [four], backfill: true}
`, ServerOptions{})
	marks := s.File("marks")
	hold := s.Submit("bf", "hold", bounded(markScript(marks, "hold", 2, "5"), 2, 15))
	held := s.WaitStatus(hold, types.ServiceJobStatusRunning, 60*time.Second)

	head := s.Submit("bf", "head", bounded(markScript(marks, "head", 4, "0.5"), 4, 30))
	waiting := s.WaitFor(head, 30*time.Second, "reserved", func(d *batch.DescribeServiceJobOutput) bool {
		return strings.HasPrefix(aws.ToString(d.StatusReason), "BACKFILL:RESERVED - ")
	})
	reserved := s.reservedAt(head)
	if want := aws.ToInt64(held.ScheduledAt) + 15_000; reserved != want {
		t.Fatalf("head reserved at %d, want %d (hold's scheduledAt + its 15 s bound); reason %q", reserved, want, aws.ToString(waiting.StatusReason))
	}

	short := s.Submit("bf", "short", bounded(markScript(marks, "short", 2, "1"), 2, 3))
	long := s.Submit("bf", "long", bounded(markScript(marks, "long", 2, "0.5"), 2, 60))
	s.WaitFor(long, 30*time.Second, "told why it was not backfilled", func(d *batch.DescribeServiceJobOutput) bool {
		return strings.Contains(aws.ToString(d.StatusReason), "Not backfilled now") && strings.Contains(aws.ToString(d.StatusReason), "would delay job "+head)
	})
	shortDone := s.WaitStatus(short, types.ServiceJobStatusSucceeded, 30*time.Second)
	if d := s.Describe(head); d.Status != types.ServiceJobStatusRunnable {
		t.Fatalf("head is %s before the holder ended; want RUNNABLE", d.Status)
	}

	done := s.WaitDone([]string{hold, head, long}, 90*time.Second)
	holdDone, headDone, longDone := done[0], done[1], done[2]
	for _, d := range append(done, shortDone) {
		if d.Status != types.ServiceJobStatusSucceeded {
			t.Fatalf("%s ended %s (%q)", aws.ToString(d.JobName), d.Status, aws.ToString(d.StatusReason))
		}
	}
	headStart := aws.ToInt64(headDone.ScheduledAt)
	if headStart > reserved {
		t.Errorf("head scheduled at %d, %d ms after its reservation", headStart, headStart-reserved)
	}
	// The short job ran and ended inside the gap; the head waited only for
	// the holder (a pass, plus a loaded machine's slack).
	if aws.ToInt64(shortDone.ScheduledAt) >= aws.ToInt64(holdDone.StoppedAt) || aws.ToInt64(shortDone.StoppedAt) > headStart {
		t.Errorf("short ran [%d, %d], hold ended %d, head started %d: short was not backfilled into the gap",
			aws.ToInt64(shortDone.ScheduledAt), aws.ToInt64(shortDone.StoppedAt), aws.ToInt64(holdDone.StoppedAt), headStart)
	}
	if gap := headStart - aws.ToInt64(holdDone.StoppedAt); gap > 5000 {
		t.Errorf("head scheduled %d ms after the holder ended", gap)
	}
	if aws.ToInt64(longDone.ScheduledAt) < headStart {
		t.Errorf("long scheduled at %d, before the head (%d): it was backfilled although it would delay the head", aws.ToInt64(longDone.ScheduledAt), headStart)
	}
	var iv []interval
	for _, m := range parseMarks(t, marks) {
		iv = append(iv, m)
	}
	if p := peak(iv); p > 4 {
		t.Errorf("%d instances in use at once (processes' own clocks), capacity 4", p)
	}
}
