package simulate

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/sched/sim"
)

// buckets is the resolution of the charts: one point per bucket of time.
const buckets = 600

// WriteHTML writes one self-contained page (inline SVG and CSS, nothing
// fetched) with the summary of one or two runs and their charts: the use of
// capacity over time, the jobs waiting, and the instances each share held.
func WriteHTML(w io.Writer, command string, a, b *Result) error {
	page := htmlPage{Command: command, Generated: time.Now().UTC().Format(time.RFC3339)}
	runs := []*Result{a}
	if b != nil {
		runs = append(runs, b)
	}
	for i, r := range runs {
		tl := r.report.Timeline(buckets, r.report.Start+int64(spanOf(runs)*1000)) // one axis for every run
		name := string(rune('A' + i))
		page.Runs = append(page.Runs, htmlRun{
			Name: name, Result: r, Describe: r.world.describe(), Color: seriesColors[i],
			Shares: r.shareRows(), Alloc: allocChart(r, tl, spanOf(runs)),
		})
		page.timelines = append(page.timelines, tl)
	}
	page.Use = useChart(runs, page.timelines)
	page.Waiting = waitingChart(runs, page.timelines)
	return pageTemplate.Execute(w, &page)
}

type htmlPage struct {
	Command, Generated string
	Runs               []htmlRun
	Use, Waiting       template.HTML
	timelines          []sim.Timeline
}

type htmlRun struct {
	Name     string
	Result   *Result
	Describe string
	Color    string
	Shares   []shareRow
	Alloc    template.HTML
}

type shareRow struct {
	Name                                    string
	Weight, Target, Achieved, Started, Mean string
	P95, Competing                          string
}

func (r *Result) shareRows() []shareRow {
	var rows []shareRow
	for _, k := range r.shareOrder {
		s := r.Shares[k]
		weight := "-"
		if s.Target != nil {
			weight = fmt.Sprintf("%g", s.Weight)
		}
		rows = append(rows, shareRow{
			Name: k, Weight: weight, Target: pctOf(s.Target), Achieved: pctOf(s.Achieved), Started: pctOf(s.Started),
			Mean: human(s.WaitSeconds.Mean), P95: human(s.WaitSeconds.P95), Competing: human(s.CompetingSeconds),
		})
	}
	return rows
}

var seriesColors = []string{"#2563eb", "#ea580c"}
var shareColors = []string{"#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#ca8a04", "#db2777", "#4b5563"}

// chart is one SVG line or area chart over the simulated time.
type chart struct {
	title, unit string
	span        float64 // seconds on the x axis
	top         float64 // the y axis goes from 0 to top
	b           strings.Builder
}

const (
	chartW, chartH                 = 960, 240
	padL, padR, padT, padB         = 56, 16, 28, 30
	plotW, plotH           float64 = chartW - padL - padR, chartH - padT - padB
)

func newChart(title, unit string, span, top float64) *chart {
	c := &chart{title: title, unit: unit, span: span, top: niceTop(top)}
	fmt.Fprintf(&c.b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	fmt.Fprintf(&c.b, `<text x="%d" y="18" class="title">%s</text>`, padL, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		v := c.top * float64(i) / 4
		y := c.y(v)
		fmt.Fprintf(&c.b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&c.b, `<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`, padL-6, y+4, shortNumber(v))
	}
	days := span / 86400
	step, label := 1.0, "d"
	switch {
	case days > 60:
		step = 14
	case days > 20:
		step = 7
	case days < 2:
		step, label = 1.0/24*math.Max(1, math.Ceil(days*24/12)), "h"
	}
	for t := 0.0; t <= days+1e-9; t += step {
		x := c.x(t * 86400)
		text := fmt.Sprintf("%gd", t)
		if label == "h" {
			text = fmt.Sprintf("%gh", math.Round(t*24))
		}
		fmt.Fprintf(&c.b, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, x, chartH-10, text)
	}
	return c
}

func (c *chart) x(seconds float64) float64 { return padL + seconds/math.Max(c.span, 1)*plotW }
func (c *chart) y(v float64) float64       { return padT + plotH - v/math.Max(c.top, 1e-9)*plotH }

// path draws values (one per bucket of width seconds) as a step line, or
// an area down to base when base is not nil.
func (c *chart) path(values, base []float64, width float64, color, label string, fill bool) {
	var d strings.Builder
	for i, v := range values {
		x0, x1 := c.x(float64(i)*width), c.x(math.Min(float64(i+1)*width, c.span))
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f,%.1f L%.1f,%.1f ", cmd, x0, c.y(v), x1, c.y(v))
	}
	if fill {
		for i := len(values) - 1; i >= 0; i-- {
			var b float64
			if base != nil {
				b = base[i]
			}
			x0, x1 := c.x(float64(i)*width), c.x(math.Min(float64(i+1)*width, c.span))
			fmt.Fprintf(&d, "L%.1f,%.1f L%.1f,%.1f ", x1, c.y(b), x0, c.y(b))
		}
		fmt.Fprintf(&c.b, `<path d="%sZ" fill="%s" fill-opacity="0.55" stroke="none"><title>%s</title></path>`, d.String(), color, template.HTMLEscapeString(label))
		return
	}
	fmt.Fprintf(&c.b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5"><title>%s</title></path>`, d.String(), color, template.HTMLEscapeString(label))
}

func (c *chart) hline(v float64, label string) {
	y := c.y(v)
	fmt.Fprintf(&c.b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="limit"/><text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`,
		padL, chartW-padR, y, y, chartW-padR, y-4, template.HTMLEscapeString(label))
}

func (c *chart) legend(items [][2]string) {
	x := float64(padL + 24 + 7*len(c.title))
	for _, it := range items {
		fmt.Fprintf(&c.b, `<rect x="%.0f" y="9" width="10" height="10" fill="%s"/><text x="%.0f" y="18" class="tick">%s</text>`, x, it[1], x+14, template.HTMLEscapeString(it[0]))
		x += 22 + 7*float64(len(it[0]))
	}
}

func (c *chart) html() template.HTML {
	c.b.WriteString(`</svg>`)
	return template.HTML(c.b.String()) // #nosec G203 -- built here from numbers and escaped labels
}

func spanOf(runs []*Result) float64 {
	var span float64
	for _, r := range runs {
		span = math.Max(span, r.SimulatedSeconds)
	}
	return span
}

// useChart: the instances in use over time, against the capacity.
func useChart(runs []*Result, tls []sim.Timeline) template.HTML {
	var top float64
	for _, r := range runs {
		top = math.Max(top, float64(r.Capacity))
	}
	c := newChart("Instances in use", "instances", spanOf(runs), top*1.05)
	var legend [][2]string
	for i, tl := range tls {
		total := make([]float64, len(tl.InUse[0]))
		for _, env := range tl.InUse {
			for b, v := range env {
				total[b] += v
			}
		}
		c.path(total, nil, float64(tl.Width)/1000, seriesColors[i], runName(i, runs[i]), len(tls) == 1)
		if len(tls) > 1 {
			c.path(total, nil, float64(tl.Width)/1000, seriesColors[i], runName(i, runs[i]), false)
		}
		legend = append(legend, [2]string{runName(i, runs[i]), seriesColors[i]})
	}
	for i, r := range runs {
		if i == 0 || r.Capacity != runs[0].Capacity {
			c.hline(float64(r.Capacity), fmt.Sprintf("capacity %d", r.Capacity))
		}
	}
	c.legend(legend)
	return c.html()
}

// waitingChart: the jobs waiting over time.
func waitingChart(runs []*Result, tls []sim.Timeline) template.HTML {
	var top float64
	totals := make([][]float64, len(tls))
	for i, tl := range tls {
		totals[i] = make([]float64, buckets)
		for _, share := range tl.Waiting {
			for b, v := range share {
				totals[i][b] += v
			}
		}
		for _, v := range totals[i] {
			top = math.Max(top, v)
		}
	}
	c := newChart("Jobs waiting", "jobs", spanOf(runs), math.Max(top, 1))
	var legend [][2]string
	for i, tl := range tls {
		c.path(totals[i], nil, float64(tl.Width)/1000, seriesColors[i], runName(i, runs[i]), false)
		legend = append(legend, [2]string{runName(i, runs[i]), seriesColors[i]})
	}
	c.legend(legend)
	return c.html()
}

// allocChart: the instances each share held, stacked.
func allocChart(r *Result, tl sim.Timeline, span float64) template.HTML {
	c := newChart("Instances held per share ("+filepath.Base(r.Config)+")", "instances", span, float64(r.Capacity)*1.05)
	base := make([]float64, buckets)
	var legend [][2]string
	for k, share := range tl.Alloc {
		top := make([]float64, buckets)
		for b := range top {
			top[b] = base[b] + share[b]
		}
		name := r.world.queueName(tl.Shares[k].Queue) + "/" + shareName(tl.Shares[k].Share)
		color := shareColors[k%len(shareColors)]
		c.path(top, base, float64(tl.Width)/1000, color, name, true)
		legend = append(legend, [2]string{name, color})
		base = top
	}
	c.hline(float64(r.Capacity), fmt.Sprintf("capacity %d", r.Capacity))
	c.legend(legend)
	return c.html()
}

func runName(i int, r *Result) string {
	return fmt.Sprintf("%c: %s", 'A'+i, filepath.Base(r.Config))
}

func (w *World) queueName(arn string) string {
	if q := w.queue(arn); q != nil {
		return q.Name
	}
	return arn
}

// niceTop rounds a maximum up to 1, 2, 2.5 or 5 times a power of ten.
func niceTop(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func shortNumber(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", math.Round(v/1e5)/10)
	case v >= 1e4:
		return fmt.Sprintf("%gk", math.Round(v/100)/10)
	}
	return fmt.Sprintf("%g", math.Round(v*10)/10)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"pct": pct, "human": human, "count": count,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sagequeue simulate{{range .Runs}} · {{.Result.Config}}{{end}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#111827;padding:0 16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.muted{color:#6b7280}code{font:12px ui-monospace,Menlo,monospace;background:#f3f4f6;padding:2px 4px;border-radius:3px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 12px 4px 0;text-align:right;white-space:nowrap}
th{font-weight:600;border-bottom:1px solid #d1d5db}td:first-child,th:first-child{text-align:left}
.run{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
svg{width:100%;height:auto;display:block;margin:8px 0 4px;background:#fff}
svg .title{font-weight:600;font-size:13px}svg .tick{font-size:11px;fill:#4b5563}
svg .grid{stroke:#e5e7eb}svg .limit{stroke:#dc2626;stroke-dasharray:4 3}
</style></head><body>
<h1>sagequeue simulate</h1>
<div class="muted"><code>{{.Command}}</code><br>Trace {{(index .Runs 0).Result.Trace}} · {{count (index .Runs 0).Result.Jobs}} jobs · generated {{.Generated}}</div>
<h2>Summary</h2>
<table><tr><th>run</th><th>config</th><th>utilization</th><th>idle while waiting</th><th>placed</th><th>unfinished</th><th>wait mean</th><th>p50</th><th>p95</th><th>max</th><th>passes</th></tr>
{{range .Runs}}<tr><td><span class="run" style="background:{{.Color}}"></span>{{.Name}}</td><td>{{.Result.Config}}</td><td>{{pct .Result.Utilization}}</td><td>{{pct .Result.IdleWhileWaiting}}</td><td>{{count .Result.Placed}}</td><td>{{count .Result.Unfinished}}</td><td>{{human .Result.WaitSeconds.Mean}}</td><td>{{human .Result.WaitSeconds.P50}}</td><td>{{human .Result.WaitSeconds.P95}}</td><td>{{human .Result.WaitSeconds.Max}}</td><td>{{count .Result.Passes}}</td></tr>
{{end}}</table>
{{range .Runs}}<div class="muted">{{.Name}}: {{.Describe}}</div>{{end}}
<h2>Use of capacity</h2>
{{.Use}}
<h2>Queue length</h2>
{{.Waiting}}
{{range .Runs}}<h2>Shares, run {{.Name}}</h2>
{{.Alloc}}
<table><tr><th>share</th><th>weight</th><th>target</th><th>achieved</th><th>started</th><th>competing</th><th>wait mean</th><th>wait p95</th></tr>
{{range .Shares}}<tr><td>{{.Name}}</td><td>{{.Weight}}</td><td>{{.Target}}</td><td>{{.Achieved}}</td><td>{{.Started}}</td><td>{{.Competing}}</td><td>{{.Mean}}</td><td>{{.P95}}</td></tr>
{{end}}</table>
{{end}}
<p class="muted">Utilization is over the simulated time. Idle while waiting is the part of the capacity no job used while at least one job waited. While a share competed (had jobs waiting together with another share of its queue), target is its due part of what the competing shares held, by weight; achieved the part it held; started its part of the capacity-time handed out. Jobs that never started count with their wait until the end of the run.</p>
</body></html>
`))
