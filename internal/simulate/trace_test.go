package simulate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/sched"
)

// The shared trace and its configurations, as the docs run them.
var (
	traceDir  = filepath.Join("..", "..", "examples", "traces")
	openbFile = filepath.Join(traceDir, "openb_pod_list_default.first-half.csv")
)

func openb(t testing.TB) ([]Row, Skipped) {
	t.Helper()
	f, err := os.Open(openbFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, skipped, err := ReadOpenB(f)
	if err != nil {
		t.Fatal(err)
	}
	return rows, skipped
}

func openbRows(t testing.TB) []Row {
	rows, _ := openb(t)
	return rows
}

func runTrace(t testing.TB, config string, capacity int64, o Options) *Result {
	t.Helper()
	w, err := LoadWorld(filepath.Join(traceDir, config), capacity)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := w.Jobs(openbRows(t), "", Bound{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	return Run(w, jobs, o)
}

// TestOpenBMapping checks the documented mapping on the shared trace: one
// job per pod with a GPU and a scheduled_time, num_gpu instances, arrival at
// creation_time, duration deletion_time - scheduled_time, share from qos.
func TestOpenBMapping(t *testing.T) {
	rows, skipped := openb(t)
	// The file's own counts (4,076 pods; 608 without a GPU; 345 with a GPU
	// but without scheduled_time), which awk or a spreadsheet confirms.
	if len(rows) != 3123 || skipped["no GPU"] != 608 || skipped["no scheduled_time"] != 345 {
		t.Fatalf("%d jobs, skipped %v; want 3,123 jobs, 608 without a GPU and 345 without scheduled_time", len(rows), skipped)
	}
	// openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061
	r := rows[1]
	if r.ID != "openb-pod-0001" || r.Instances != 1 || r.Share != ShareLatencySensitive || r.Arrival != 427061*time.Second ||
		r.Duration != (12902960-427061)*time.Second || r.Line != 3 {
		t.Fatalf("second job %+v", r)
	}
	shares := map[string]int{}
	for _, r := range rows {
		shares[r.Share]++
	}
	if shares[ShareLatencySensitive] != 1496 || shares[ShareBestEffort] != 1627 {
		t.Fatalf("shares %v, want ls 1,496 (LS, Guaranteed) and be 1,627 (BE, Burstable)", shares)
	}
}

// TestTraceBackfillNeverLaterThanFIFO: on the shared trace, whose jobs run
// exactly as long as their runtime bounds (--runtime-bound exact), no job
// starts later with backfill than without, at both capacities the docs
// use; capacity is never exceeded; and backfill starts many jobs earlier.
func TestTraceBackfillNeverLaterThanFIFO(t *testing.T) {
	for _, capacity := range []int64{34, 52} {
		fifo, backfill := runTrace(t, "fifo.yaml", capacity, Options{}), runTrace(t, "backfill.yaml", capacity, Options{})
		starts := map[string]int64{}
		for _, a := range fifo.report.Admissions {
			starts[a.JobID] = a.At
		}
		earlier := 0
		for _, a := range backfill.report.Admissions {
			if a.At > starts[a.JobID] {
				t.Fatalf("capacity %d: %s started %v later with backfill", capacity, a.JobID, time.Duration(a.At-starts[a.JobID])*time.Millisecond)
			}
			if a.At < starts[a.JobID] {
				earlier++
			}
		}
		for _, r := range []*Result{fifo, backfill} {
			if m := r.report.MaxInUse[r.world.Environments[0].Arn]; m > capacity || r.Placed != r.Jobs {
				t.Fatalf("capacity %d, %s: %d in use at most, %d of %d jobs placed", capacity, r.Config, m, r.Placed, r.Jobs)
			}
		}
		t.Logf("capacity %d: %d of %d jobs started earlier with backfill", capacity, earlier, backfill.Jobs)
		if capacity == 34 && earlier < backfill.Jobs/4 {
			t.Fatalf("capacity 34: only %d jobs started earlier with backfill", earlier)
		}
	}
}

// TestTraceReservationsHold follows every pass of the shared trace through
// a backfill FIFO queue and a backfill fair-share queue, with runtime
// bounds of twice the durations (jobs end before their bounds): once
// reserved, a job is never reserved later, and starts no later than its
// reservation.
func TestTraceReservationsHold(t *testing.T) {
	for _, config := range []string{"backfill.yaml", "fairshare-backfill.yaml"} {
		w, err := LoadWorld(filepath.Join(traceDir, config), 34)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := w.Jobs(openbRows(t), "", Bound{Factor: 2})
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]int64{}
		reserved, checked := 0, 0
		var failure string
		fail := func(format string, args ...any) {
			if failure == "" {
				failure = fmt.Sprintf(format, args...)
			}
		}
		r := Run(w, jobs, Options{OnPass: func(now int64, _ *sched.Snapshot, d *sched.Decisions) {
			for _, a := range d.Admit {
				if at, ok := last[a.JobID]; ok {
					checked++
					if now > at {
						fail("%s started at %v, after its reservation at %v", a.JobID, time.UnixMilli(now).UTC(), time.UnixMilli(at).UTC())
					}
				}
				delete(last, a.JobID)
			}
			for _, res := range d.Reservations {
				if prev, ok := last[res.JobID]; ok && res.At > prev {
					fail("%s's reservation moved from %v to %v", res.JobID, time.UnixMilli(prev).UTC(), time.UnixMilli(res.At).UTC())
				}
				if _, ok := last[res.JobID]; !ok {
					reserved++
				}
				last[res.JobID] = res.At
			}
		}})
		if failure != "" {
			t.Fatalf("%s: %s", config, failure)
		}
		if reserved < 100 || checked < 100 || r.Placed != r.Jobs {
			t.Fatalf("%s: %d jobs reserved, %d started after a reservation, %d of %d placed: the trace did not exercise backfill", config, reserved, checked, r.Placed, r.Jobs)
		}
		t.Logf("%s: %d jobs reserved, %d started after a reservation, none later than it", config, reserved, checked)
	}
}

// TestReadSagequeueRefusesBadRows: a missing or negative field is an error
// naming its line and column.
func TestReadSagequeueRefusesBadRows(t *testing.T) {
	header := "id,arrival,duration,instances,queue,share,priority,maxRuntime\n"
	tests := map[string]struct {
		csv, want string
	}{
		"negative duration":     {header + "a,0,60,1,,,,\nb,10,-5,1,,,,\n", "line 3, column duration: must not be negative, got -5"},
		"missing arrival":       {header + "a,,60,1,,,,\n", "line 2, column arrival: is missing"},
		"zero instances":        {header + "a,0,60,0,,,,\n", "line 2, column instances: must be between 1 and"},
		"negative instances":    {header + "a,0,60,-2,,,,\n", "line 2, column instances: must not be negative, got -2"},
		"not a number":          {header + "a,0,ten,1,,,,\n", `line 2, column duration: must be a number of seconds, got "ten"`},
		"too few fields":        {header + "a,0,60\n", "line 2: has 3 fields, the header has 8"},
		"unknown column":        {"id,arrival,duration,instances,gpu\n", "line 1, column gpu: unknown column"},
		"required column gone":  {"id,arrival,instances\n", "the header has no column duration"},
		"duplicate id":          {header + "a,0,60,1,,,,\n# a comment\na,1,60,1,,,,\n", "line 4, column id: a was already used on line 2"},
		"negative maxRuntime":   {header + "a,0,60,1,,,,-1\n", "line 2, column maxRuntime: must not be negative"},
		"priority out of range": {header + "a,0,60,1,,,10000,\n", "line 2, column priority: must be between 0 and 9999"},
		"empty":                 {"", "the trace is empty"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ReadSagequeue(strings.NewReader(tc.csv))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	rows, err := ReadSagequeue(strings.NewReader("instances, id ,duration,arrival\n2,x,1.5,30\n"))
	if err != nil || len(rows) != 1 || rows[0].ID != "x" || rows[0].Instances != 2 || rows[0].Duration != 1500*time.Millisecond || rows[0].Arrival != 30*time.Second {
		t.Fatalf("columns in another order: %+v, %v", rows, err)
	}
}

// TestJobsRefuseUnknownQueueOrShare: a row naming a queue the configuration
// lacks, or a share its fair-share policy does not list, is an error naming
// it; a FIFO queue takes any share as a label.
func TestJobsRefuseUnknownQueueOrShare(t *testing.T) {
	w, err := LoadWorld(filepath.Join(traceDir, "fairshare.yaml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		row       Row
		queue     string
		want      string
		wantQueue string
	}{
		"unknown queue":     {row: Row{Line: 7, ID: "a", Queue: "nope", Share: "ls"}, want: "line 7, column queue: unknown queue nope"},
		"unknown share":     {row: Row{Line: 8, ID: "a", Share: "research"}, want: "line 8, column share: unknown share research: the policy of queue jobs lists be, ls"},
		"no share":          {row: Row{Line: 9, ID: "a"}, want: "line 9, column share: is required: queue jobs is a fair-share queue"},
		"unknown --queue":   {row: Row{Line: 2, ID: "a", Share: "ls"}, queue: "other", want: "--queue other: no such queue"},
		"a share it lists":  {row: Row{Line: 2, ID: "a", Share: "be"}},
		"the queue by name": {row: Row{Line: 2, ID: "a", Queue: "jobs", Share: "ls"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := w.Jobs([]Row{tc.row}, tc.queue, Bound{Exact: true})
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	fifo, err := LoadWorld(filepath.Join(traceDir, "fifo.yaml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if jobs, err := fifo.Jobs([]Row{{ID: "a", Share: "anything", Duration: time.Hour}}, "", Bound{Factor: 1.5}); err != nil || jobs[0].MaxRuntime != 90*time.Minute {
		t.Fatalf("FIFO queue: %+v, %v; want the share kept as a label and a bound of 1.5 times the duration", jobs, err)
	}
}

func TestParseBound(t *testing.T) {
	tests := map[string]struct {
		in       string
		duration time.Duration
		want     time.Duration
		err      bool
	}{
		"default: SageMaker's day": {in: "", duration: time.Hour, want: 24 * time.Hour},
		"exact":                    {in: "exact", duration: 90*time.Second + 400*time.Millisecond, want: 90 * time.Second},
		"exact, at least a second": {in: "exact", duration: 0, want: time.Second},
		"a multiple":               {in: "2x", duration: time.Hour, want: 2 * time.Hour},
		"fixed":                    {in: "6h", duration: time.Hour, want: 6 * time.Hour},
		"a multiple below 1":       {in: "0.5x", err: true},
		"nonsense":                 {in: "soon", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := ParseBound(tc.in, time.ParseDuration)
			if tc.err != (err != nil) {
				t.Fatalf("error %v", err)
			}
			if err == nil && b.of(tc.duration) != tc.want {
				t.Fatalf("bound of %v: %v, want %v", tc.duration, b.of(tc.duration), tc.want)
			}
		})
	}
}

// BenchmarkSimulateTrace replays the whole shared trace with the production
// one-minute tick, as sagequeue simulate does, per configuration at
// capacity 34.
func BenchmarkSimulateTrace(b *testing.B) {
	rows := openbRows(b)
	for _, config := range []string{"fifo.yaml", "backfill.yaml", "fairshare.yaml", "fairshare-backfill.yaml"} {
		w, err := LoadWorld(filepath.Join(traceDir, config), 34)
		if err != nil {
			b.Fatal(err)
		}
		jobs, err := w.Jobs(rows, "", Bound{Exact: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(config, ".yaml"), func(b *testing.B) {
			var r *Result
			for b.Loop() {
				r = Run(w, jobs, Options{})
			}
			b.ReportMetric(float64(r.Passes), "passes")
		})
	}
}
