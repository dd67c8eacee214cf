// Package metrics is sagequeue's telemetry: a small Prometheus registry
// (counters, gauges and histograms written in the text exposition format
// 0.0.4, served at /metrics by `sagequeue serve`), a writer of CloudWatch
// Embedded Metric Format documents (what the Lambda functions print), and
// Recorder, which turns what the engine, the API and the store report into
// sagequeue's metrics for either of them. docs/metrics.md lists every
// metric.
//
// The registry is written here rather than taken from the Prometheus client
// library to keep the module's dependencies as they are; it implements only
// what sagequeue needs.
package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Kind is the type of a metric family.
type Kind int

// The kinds of metrics.
const (
	Counter Kind = iota
	Gauge
	Histogram
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "untyped"
}

var (
	namePattern  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelPattern = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry holds metric families and writes them in the Prometheus text
// format. It is safe for concurrent use.
type Registry struct {
	mu         sync.Mutex
	families   map[string]*Family
	collectors []func(context.Context)

	// scrape serializes scrapes: collectors reset and refill gauges, and two
	// scrapes interleaving would each see the other's half-filled gauges.
	scrape sync.Mutex
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: map[string]*Family{}}
}

// Family is one metric with its series, one per combination of label
// values.
type Family struct {
	name    string
	help    string
	kind    Kind
	labels  []string
	buckets []float64 // upper bounds, ascending, without +Inf

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	values []string
	value  float64  // counters and gauges
	counts []uint64 // histograms: observations per bucket (not cumulative), the last for +Inf
	count  uint64
	sum    float64
}

// NewCounter registers a counter family. Registering a name twice panics:
// it is a programming error.
func (r *Registry) NewCounter(name, help string, labels ...string) *Family {
	return r.register(name, help, Counter, nil, labels)
}

// NewGauge registers a gauge family.
func (r *Registry) NewGauge(name, help string, labels ...string) *Family {
	return r.register(name, help, Gauge, nil, labels)
}

// NewHistogram registers a histogram family with the given bucket upper
// bounds (ascending; +Inf is implied).
func (r *Registry) NewHistogram(name, help string, buckets []float64, labels ...string) *Family {
	if len(buckets) == 0 || !sort.Float64sAreSorted(buckets) {
		panic(fmt.Sprintf("metrics: histogram %s needs ascending buckets", name))
	}
	for _, b := range buckets {
		if math.IsInf(b, 0) || math.IsNaN(b) {
			panic(fmt.Sprintf("metrics: histogram %s: bucket %v (+Inf is implied)", name, b))
		}
	}
	return r.register(name, help, Histogram, append([]float64(nil), buckets...), labels)
}

func (r *Registry) register(name, help string, kind Kind, buckets []float64, labels []string) *Family {
	if !namePattern.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelPattern.MatchString(l) || strings.HasPrefix(l, "__") || l == "le" && kind == Histogram {
			panic(fmt.Sprintf("metrics: %s: invalid label name %q", name, l))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.families[name]; ok {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	f := &Family{name: name, help: help, kind: kind, labels: append([]string(nil), labels...), buckets: buckets, series: map[string]*series{}}
	r.families[name] = f
	return f
}

// OnScrape adds a function that runs before every scrape, to set gauges
// whose values are read from elsewhere (the store) only when asked for.
func (r *Registry) OnScrape(fn func(context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, fn)
}

// Name returns the family's name.
func (f *Family) Name() string { return f.name }

// Kind returns the family's kind.
func (f *Family) Kind() Kind { return f.kind }

// get returns the series of the label values, creating it.
func (f *Family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values (%s), got %d", f.name, len(f.labels), strings.Join(f.labels, ", "), len(values)))
	}
	key := strings.Join(values, "\xff")
	s := f.series[key]
	if s == nil {
		s = &series{values: append([]string(nil), values...)}
		if f.kind == Histogram {
			s.counts = make([]uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// Add adds delta to a counter or gauge. Counters only go up: a negative
// delta on a counter is ignored.
func (f *Family) Add(delta float64, labelValues ...string) {
	if f.kind == Histogram || f.kind == Counter && !(delta >= 0) {
		return
	}
	f.mu.Lock()
	f.get(labelValues).value += delta
	f.mu.Unlock()
}

// Inc adds one to a counter or gauge.
func (f *Family) Inc(labelValues ...string) { f.Add(1, labelValues...) }

// Set sets a gauge.
func (f *Family) Set(value float64, labelValues ...string) {
	if f.kind != Gauge {
		return
	}
	f.mu.Lock()
	f.get(labelValues).value = value
	f.mu.Unlock()
}

// Observe records one observation in a histogram.
func (f *Family) Observe(value float64, labelValues ...string) {
	if f.kind != Histogram || math.IsNaN(value) {
		return
	}
	f.mu.Lock()
	s := f.get(labelValues)
	i := sort.SearchFloat64s(f.buckets, value) // first bucket whose bound >= value
	s.counts[i]++
	s.count++
	s.sum += value
	f.mu.Unlock()
}

// Reset drops every series: a gauge family refilled at each scrape forgets
// the queues and environments that no longer exist.
func (f *Family) Reset() {
	f.mu.Lock()
	f.series = map[string]*series{}
	f.mu.Unlock()
}

// Value returns the value of a counter's or gauge's series, and for a
// histogram its count; ok is false when the series does not exist. For
// tests and for readers in the same process.
func (f *Family) Value(labelValues ...string) (v float64, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.series[strings.Join(labelValues, "\xff")]
	if s == nil {
		return 0, false
	}
	if f.kind == Histogram {
		return float64(s.count), true
	}
	return s.value, true
}

// ContentType is the content type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText runs the scrape functions and writes every family in the text
// exposition format 0.0.4, families sorted by name and series by label
// values, so the output is stable.
func (r *Registry) WriteText(ctx context.Context, w io.Writer) error {
	r.scrape.Lock()
	defer r.scrape.Unlock()
	r.mu.Lock()
	collectors := slices.Clone(r.collectors)
	fams := make([]*Family, 0, len(r.families))
	for _, f := range r.families {
		fams = append(fams, f)
	}
	r.mu.Unlock()
	for _, c := range collectors {
		c(ctx)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var b bytes.Buffer
	for _, f := range fams {
		f.write(&b)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (f *Family) write(b *bytes.Buffer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(b, "# HELP %s %s\n", f.name, escapeHelp(f.help))
	fmt.Fprintf(b, "# TYPE %s %s\n", f.name, f.kind)
	keys := make([]string, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := f.series[k]
		if f.kind != Histogram {
			fmt.Fprintf(b, "%s%s %s\n", f.name, labelText(f.labels, s.values, "", ""), formatFloat(s.value))
			continue
		}
		var cum uint64
		for i, bound := range f.buckets {
			cum += s.counts[i]
			fmt.Fprintf(b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.values, "le", formatFloat(bound)), cum)
		}
		fmt.Fprintf(b, "%s_bucket%s %d\n", f.name, labelText(f.labels, s.values, "le", "+Inf"), s.count)
		fmt.Fprintf(b, "%s_sum%s %s\n", f.name, labelText(f.labels, s.values, "", ""), formatFloat(s.sum))
		fmt.Fprintf(b, "%s_count%s %d\n", f.name, labelText(f.labels, s.values, "", ""), s.count)
	}
}

// labelText renders {a="x",b="y"} (with an extra label when extra is set),
// or nothing for no labels.
func labelText(names, values []string, extra, extraValue string) string {
	if len(names) == 0 && extra == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	if extra != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(extra)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(extraValue))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Handler serves the registry to Prometheus: GET (or HEAD) only.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "metrics are read with GET", http.StatusMethodNotAllowed)
			return
		}
		var b bytes.Buffer
		if err := r.WriteText(req.Context(), &b); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		if req.Method == http.MethodGet {
			_, _ = w.Write(b.Bytes())
		}
	})
}
