package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Source describes the trace a run read, for the report's header.
type Source struct {
	Path    string
	Format  string
	Skipped Skipped
}

func (s Source) String() string { return fmt.Sprintf("%s (%s)", s.Path, s.Format) }

// skippedText says which rows of the trace were not jobs ("" for none).
func skippedText(skipped map[string]int) string {
	n := Skipped(skipped).Total()
	if n == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(skipped)) {
		parts = append(parts, fmt.Sprintf("%s %s", count(skipped[k]), k))
	}
	return fmt.Sprintf("; %s rows skipped (%s)", count(n), strings.Join(parts, ", "))
}

// WriteJSON writes one result as an object, or two (--compare) as
// {"a": ..., "b": ...}.
func WriteJSON(w io.Writer, a, b *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if b == nil {
		return enc.Encode(a)
	}
	return enc.Encode(map[string]*Result{"a": a, "b": b})
}

// WriteTable writes a result for people.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Trace:\t%s: %s jobs%s\n", r.Trace, count(r.Jobs), skippedText(r.Skipped))
	fmt.Fprintf(tw, "Config:\t%s: %s\n", r.Config, r.world.describe())
	fmt.Fprintf(tw, "Simulated:\t%s%s: %s passes in %.2f s\n", human(r.SimulatedSeconds), r.tickText(), count(r.Passes), r.WallSeconds)
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "Utilization\t%s\tof the capacity, over the simulated time\n", pct(r.Utilization))
	fmt.Fprintf(tw, "Idle while waiting\t%s\tof the capacity, while jobs waited\n", pct(r.IdleWhileWaiting))
	fmt.Fprintf(tw, "Jobs\t%s placed\t%s unfinished, %s never started, %s ended by time limits, %s stopped at their runtime bound\n",
		count(r.Placed), count(r.Unfinished), count(r.NeverStarted), count(r.Terminated), count(r.StoppedAtBound))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	waits := &grid{}
	waits.add("WAIT", "JOBS", "MEAN", "P50", "P95", "MAX")
	row := func(name string, s Waits) {
		waits.add(name, count(s.Jobs), human(s.Mean), human(s.P50), human(s.P95), human(s.Max))
	}
	row("all", r.WaitSeconds)
	for _, q := range r.world.Queues {
		row("queue "+q.Name, r.Queues[q.Name])
	}
	for _, k := range r.shareOrder {
		row(k, r.Shares[k].WaitSeconds)
	}
	waits.write(w)
	if r.WaitSeconds.Unstarted > 0 {
		fmt.Fprintf(w, "(%s jobs never started: they count with their wait until the end of the run)\n", count(r.WaitSeconds.Unstarted))
	}
	fmt.Fprintln(w)
	shares := &grid{}
	shares.add("SHARE", "WEIGHT", "TARGET", "ACHIEVED", "STARTED", "COMPETING")
	for _, row := range r.shareRows() {
		shares.add(row.Name, row.Weight, row.Target, row.Achieved, row.Started, row.Competing)
	}
	shares.write(w)
	_, err := fmt.Fprintln(w, `(while a share competed, i.e. had jobs waiting together with another share of its queue: TARGET is its due part
of what the competing shares held, by weight; ACHIEVED the part it held; STARTED its part of the capacity-time handed out)`)
	return err
}

// WriteCompare writes two results side by side with their differences.
func WriteCompare(w io.Writer, a, b *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Trace:\t%s: %s jobs%s\n", a.Trace, count(a.Jobs), skippedText(a.Skipped))
	fmt.Fprintf(tw, "A:\t%s: %s\n", a.Config, a.world.describe())
	fmt.Fprintf(tw, "B:\t%s: %s\n", b.Config, b.world.describe())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	g := &grid{}
	g.add("", "A "+filepath.Base(a.Config), "B "+filepath.Base(b.Config), "B - A")
	points := func(name string, x, y float64) {
		g.add(name, pct(x), pct(y), fmt.Sprintf("%+.1f pts", (y-x)*100))
	}
	seconds := func(name string, x, y float64) {
		g.add(name, human(x), human(y), change(x, y))
	}
	counts := func(name string, x, y int) {
		g.add(name, count(x), count(y), fmt.Sprintf("%+d", y-x))
	}
	points("utilization", a.Utilization, b.Utilization)
	points("idle while waiting", a.IdleWhileWaiting, b.IdleWhileWaiting)
	counts("placed", a.Placed, b.Placed)
	counts("unfinished", a.Unfinished, b.Unfinished)
	seconds("wait mean", a.WaitSeconds.Mean, b.WaitSeconds.Mean)
	seconds("wait p50", a.WaitSeconds.P50, b.WaitSeconds.P50)
	seconds("wait p95", a.WaitSeconds.P95, b.WaitSeconds.P95)
	seconds("wait max", a.WaitSeconds.Max, b.WaitSeconds.Max)
	for _, k := range a.shareOrder {
		sb, ok := b.Shares[k]
		if !ok {
			continue
		}
		sa := a.Shares[k]
		seconds(k+" wait mean", sa.WaitSeconds.Mean, sb.WaitSeconds.Mean)
		if sa.Achieved != nil && sb.Achieved != nil {
			points(k+" achieved", *sa.Achieved, *sb.Achieved)
		}
	}
	counts("passes", a.Passes, b.Passes)
	return g.write(w)
}

// grid is a table with its first column aligned left and the others right.
type grid struct{ rows [][]string }

func (g *grid) add(cells ...string) { g.rows = append(g.rows, cells) }

func (g *grid) write(w io.Writer) error {
	var widths []int
	for _, r := range g.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, r := range g.rows {
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describe says what a configuration holds, in a line.
func (w *World) describe() string {
	var queues []string
	for _, q := range w.Queues {
		kind := "FIFO"
		if q.FairShare() {
			kind = "fair share"
		}
		if q.Backfill {
			kind += ", backfill"
		}
		queues = append(queues, fmt.Sprintf("%s (%s)", q.Name, kind))
	}
	return fmt.Sprintf("%s instances; queue %s", count(int(w.Capacity())), strings.Join(queues, ", "))
}

func (r *Result) tickText() string {
	if r.TickSeconds == 0 {
		return " with no tick"
	}
	return " with a " + human(r.TickSeconds) + " tick"
}

func pct(f float64) string { return fmt.Sprintf("%.1f %%", f*100) }

func pctOf(f *float64) string {
	if f == nil {
		return "-"
	}
	return pct(*f)
}

// change is y against x in percent.
func change(x, y float64) string {
	if x == 0 {
		if y == 0 {
			return "0 %"
		}
		return "+" + human(y)
	}
	return fmt.Sprintf("%+.1f %%", (y-x)/x*100)
}

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// human writes seconds as the two largest units: 3d 4h, 12m 5s, 40s.
func human(seconds float64) string {
	if seconds < 1 {
		if seconds <= 0 {
			return "0s"
		}
		return fmt.Sprintf("%.2fs", seconds)
	}
	d := time.Duration(math.Round(seconds)) * time.Second
	units := []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, u := range units {
		if d >= u.d {
			text := fmt.Sprintf("%d%s", d/u.d, u.name)
			if i+1 < len(units) {
				if rest := (d % u.d) / units[i+1].d; rest > 0 {
					text += fmt.Sprintf(" %d%s", rest, units[i+1].name)
				}
			}
			return text
		}
	}
	return "0s"
}
