package simulate

import (
	"fmt"
	"os"

	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// Request is one `sagequeue simulate`.
type Request struct {
	Config  string // configuration file
	Compare string // a second configuration file to run the same trace in ("" for none)
	Trace   string
	Format  string // FormatSagequeue (default) or FormatOpenB
	// Queue takes the jobs whose row names no queue ("" for the first queue
	// of the configuration).
	Queue string
	// Capacity, when above 0, replaces every environment's capacity.
	Capacity int64
	// Bound gives a runtime bound to jobs whose row has none.
	Bound Bound
	Options
}

// Simulate reads the trace and the configuration(s) and runs them. Bad
// input (a malformed row, an unknown queue or share) is an error before
// anything runs.
func Simulate(req Request) (a, b *Result, err error) {
	rows, src, err := readTrace(req.Trace, req.Format)
	if err != nil {
		return nil, nil, err
	}
	prepare := func(path string) (*World, []sim.Job, error) {
		w, err := LoadWorld(path, req.Capacity)
		if err != nil {
			return nil, nil, err
		}
		jobs, err := w.Jobs(rows, req.Queue, req.Bound)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", req.Trace, err)
		}
		return w, jobs, nil
	}
	wa, ja, err := prepare(req.Config)
	if err != nil {
		return nil, nil, err
	}
	var wb *World
	var jb []sim.Job
	if req.Compare != "" {
		if wb, jb, err = prepare(req.Compare); err != nil {
			return nil, nil, err
		}
	}
	a = Run(wa, ja, req.Options)
	a.Trace, a.Skipped = src.String(), src.Skipped
	if wb != nil {
		b = Run(wb, jb, req.Options)
		b.Trace, b.Skipped = a.Trace, a.Skipped
	}
	return a, b, nil
}

func readTrace(path, format string) ([]Row, Source, error) {
	src := Source{Path: path, Format: format}
	if src.Format == "" {
		src.Format = FormatSagequeue
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, src, err
	}
	defer f.Close()
	var rows []Row
	switch src.Format {
	case FormatSagequeue:
		rows, err = ReadSagequeue(f)
	case FormatOpenB:
		rows, src.Skipped, err = ReadOpenB(f)
	default:
		return nil, src, fmt.Errorf("--format must be %s or %s, got %q", FormatSagequeue, FormatOpenB, format)
	}
	if err != nil {
		return nil, src, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, src, fmt.Errorf("%s: the trace has no jobs", path)
	}
	return rows, src, nil
}
