package simulate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Trace formats.
const (
	// FormatSagequeue is sagequeue's own CSV: a header naming the columns,
	// then one job per row (see Columns).
	FormatSagequeue = "sagequeue"
	// FormatOpenB is the pod list of Alibaba's GPU cluster trace
	// (cluster-trace-gpu-v2023, openb_pod_list_*.csv).
	FormatOpenB = "openb"
)

// Columns of the sagequeue format, the first four required. Times are
// seconds: arrival from the start of the trace, duration how long the job
// trains, maxRuntime its StoppingCondition.MaxRuntimeInSeconds.
var Columns = []string{"id", "arrival", "duration", "instances", "queue", "share", "priority", "maxRuntime"}

// Row is one job of a trace.
type Row struct {
	Line      int
	ID        string
	Arrival   time.Duration // from the start of the trace
	Duration  time.Duration
	Instances int64
	Queue     string // name or ARN; "" for the default queue
	Share     string
	Priority  int32
	// MaxRuntime is the job's runtime bound; 0 leaves it to the Bound rule.
	MaxRuntime time.Duration
}

// RowError is a bad field of a trace: the whole trace is refused.
type RowError struct {
	Line   int
	Column string
	Err    string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Err)
}

// Skipped counts the rows of a trace that are not jobs, by reason.
type Skipped map[string]int

// Total is the number of skipped rows.
func (s Skipped) Total() (n int) {
	for _, v := range s {
		n += v
	}
	return n
}

// table is a CSV file with a header, read row by row with line numbers.
type table struct {
	r      *csv.Reader
	cols   map[string]int
	header []string
	line   int
	rec    []string
}

func newTable(r io.Reader, known []string, required []string) (*table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the trace is empty: it needs a header line naming its columns (" + strings.Join(known, ",") + ")")
	}
	if err != nil {
		return nil, csvError(err)
	}
	t := &table{r: cr, cols: map[string]int{}, header: header}
	line, _ := cr.FieldPos(0)
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !contains(known, h) {
			return nil, &RowError{Line: line, Column: h, Err: "unknown column; the columns are " + strings.Join(known, ",")}
		}
		if _, dup := t.cols[h]; dup {
			return nil, &RowError{Line: line, Column: h, Err: "named twice in the header"}
		}
		t.cols[h] = i
	}
	for _, c := range required {
		if _, ok := t.cols[c]; !ok {
			return nil, &RowError{Line: line, Err: fmt.Sprintf("the header has no column %s (required: %s)", c, strings.Join(required, ","))}
		}
	}
	return t, nil
}

// next reads the next row; false at the end.
func (t *table) next() (bool, error) {
	rec, err := t.r.Read()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, csvError(err)
	}
	t.rec = rec
	t.line, _ = t.r.FieldPos(0)
	if len(rec) != len(t.header) {
		return false, &RowError{Line: t.line, Err: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(t.header))}
	}
	return true, nil
}

// get is a field of the current row, "" when the column is absent.
func (t *table) get(col string) string {
	i, ok := t.cols[col]
	if !ok {
		return ""
	}
	return strings.TrimSpace(t.rec[i])
}

func (t *table) fail(col, format string, args ...any) error {
	return &RowError{Line: t.line, Column: col, Err: fmt.Sprintf(format, args...)}
}

// seconds reads a required non-negative number of seconds.
func (t *table) seconds(col string) (time.Duration, error) {
	s := t.get(col)
	if s == "" {
		return 0, t.fail(col, "is missing")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, t.fail(col, "must be a number of seconds, got %q", s)
	}
	if f < 0 {
		return 0, t.fail(col, "must not be negative, got %s", s)
	}
	if f > maxSeconds {
		return 0, t.fail(col, "must be at most %d seconds (about 290 years), got %s", int64(maxSeconds), s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// maxSeconds keeps times far from overflowing epoch milliseconds.
const maxSeconds = 9e9

// integer reads an integer in [lo, hi]; missing gives def when optional.
func (t *table) integer(col string, lo, hi int64, optional bool, def int64) (int64, error) {
	s := t.get(col)
	if s == "" {
		if optional {
			return def, nil
		}
		return 0, t.fail(col, "is missing")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, t.fail(col, "must be a whole number, got %q", s)
	}
	if n < lo || n > hi {
		if n < 0 {
			return 0, t.fail(col, "must not be negative, got %d", n)
		}
		return 0, t.fail(col, "must be between %d and %d, got %d", lo, hi, n)
	}
	return n, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &RowError{Line: pe.Line, Err: pe.Err.Error()}
	}
	return err
}

// ReadSagequeue reads a trace in the sagequeue format. Every row is a job;
// a missing or negative field is an error naming its line and column.
func ReadSagequeue(r io.Reader) ([]Row, error) {
	t, err := newTable(r, Columns, Columns[:4])
	if err != nil {
		return nil, err
	}
	var rows []Row
	ids := map[string]int{}
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return rows, err
		}
		row := Row{Line: t.line, ID: t.get("id"), Queue: t.get("queue"), Share: t.get("share")}
		if row.ID == "" {
			return nil, t.fail("id", "is missing")
		}
		if prev, dup := ids[row.ID]; dup {
			return nil, t.fail("id", "%s was already used on line %d", row.ID, prev)
		}
		ids[row.ID] = t.line
		if row.Arrival, err = t.seconds("arrival"); err != nil {
			return nil, err
		}
		if row.Duration, err = t.seconds("duration"); err != nil {
			return nil, err
		}
		if row.Instances, err = t.integer("instances", 1, math.MaxInt32, false, 0); err != nil {
			return nil, err
		}
		p, err := t.integer("priority", 0, 9999, true, 0)
		if err != nil {
			return nil, err
		}
		row.Priority = int32(p)
		m, err := t.integer("maxRuntime", 1, maxSeconds, true, 0)
		if err != nil {
			return nil, err
		}
		row.MaxRuntime = time.Duration(m) * time.Second
		rows = append(rows, row)
	}
}

// openbColumns are the columns of the openb pod list.
var openbColumns = []string{
	"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase",
	"creation_time", "deletion_time", "scheduled_time",
}

// Shares of the openb mapping, from the qos column.
const (
	ShareLatencySensitive = "ls" // qos LS or Guaranteed
	ShareBestEffort       = "be" // qos BE or Burstable
)

// ReadOpenB reads an openb pod list: one job per pod with num_gpu >= 1,
// of num_gpu instances, arriving at creation_time, training for
// deletion_time - scheduled_time, in share ls (qos LS, Guaranteed) or be
// (BE, Burstable). Pods without a GPU or without a scheduled_time are
// skipped and counted; a malformed field is an error.
func ReadOpenB(r io.Reader) ([]Row, Skipped, error) {
	t, err := newTable(r, openbColumns, []string{"name", "num_gpu", "qos", "creation_time", "deletion_time", "scheduled_time"})
	if err != nil {
		return nil, nil, err
	}
	var rows []Row
	skipped := Skipped{}
	for {
		ok, err := t.next()
		if err != nil || !ok {
			return rows, skipped, err
		}
		gpus, err := t.integer("num_gpu", 0, math.MaxInt32, false, 0)
		if err != nil {
			return nil, nil, err
		}
		if gpus == 0 {
			skipped["no GPU"]++
			continue
		}
		if t.get("scheduled_time") == "" {
			skipped["no scheduled_time"]++
			continue
		}
		row := Row{Line: t.line, ID: t.get("name"), Instances: gpus}
		if row.ID == "" {
			return nil, nil, t.fail("name", "is missing")
		}
		switch q := t.get("qos"); q {
		case "LS", "Guaranteed":
			row.Share = ShareLatencySensitive
		case "BE", "Burstable":
			row.Share = ShareBestEffort
		default:
			return nil, nil, t.fail("qos", "must be LS, Guaranteed, BE or Burstable, got %q", q)
		}
		if row.Arrival, err = t.seconds("creation_time"); err != nil {
			return nil, nil, err
		}
		scheduled, err := t.seconds("scheduled_time")
		if err != nil {
			return nil, nil, err
		}
		deleted, err := t.seconds("deletion_time")
		if err != nil {
			return nil, nil, err
		}
		if deleted < scheduled {
			return nil, nil, t.fail("deletion_time", "is before scheduled_time (%v < %v)", deleted.Seconds(), scheduled.Seconds())
		}
		row.Duration = deleted - scheduled
		rows = append(rows, row)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
