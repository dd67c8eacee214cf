package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/sagequeue/sagequeue/internal/safetext"
)

// table writes aligned columns; Flush prints them.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		// A tab or newline inside a cell would break the columns.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// safe makes text the server returns and the CLI prints (status reasons,
// tags, error messages) harmless to a terminal: without escape sequences,
// control or bidirectional formatting characters, on one line. The server
// cleans what it stores; this also covers servers that do not (AWS Batch
// passes a training job's failure reason through).
func safe(s string) string { return safetext.Clean(s) }

// dash shows an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to at most n characters, ending in "...".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-3]) + "..."
}

// reasonWidth is how much of a statusReason a table shows.
const reasonWidth = 60

// epoch converts epoch milliseconds to a time in the App's zone.
func (a *App) epoch(ms int64) time.Time {
	return time.UnixMilli(ms).In(a.Location)
}

// shortTime formats epoch milliseconds for a table: the time of day for
// today, the day and minute within the year, the date otherwise.
func (a *App) shortTime(ms *int64) string {
	if ms == nil || *ms == 0 {
		return "-"
	}
	t := a.epoch(*ms)
	now := a.Now().In(a.Location)
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04:05")
	case t.Year() == now.Year():
		return t.Format("Jan 02 15:04")
	}
	return t.Format("2006-01-02")
}

// longTime formats epoch milliseconds in full, for detail views.
func (a *App) longTime(ms *int64) string {
	if ms == nil || *ms == 0 {
		return "-"
	}
	return a.epoch(*ms).Format("2006-01-02 15:04:05 MST")
}

// number formats a float without trailing zeros.
func number(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// nameFromARN returns the part of a Batch ARN after the resource kind
// ("arn:...:job-queue/research" -> "research"), or s when it is no ARN.
func nameFromARN(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	if _, name, ok := strings.Cut(s, "/"); ok {
		return name
	}
	return s
}
