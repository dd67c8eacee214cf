package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Dim is one CloudWatch dimension: a name and its value.
type Dim struct{ Name, Value string }

// EMF collects metrics during one Lambda invocation and writes them, at
// Flush, as CloudWatch Embedded Metric Format documents: one JSON object a
// line, which CloudWatch Logs turns into metrics without any API call.
//
// Counters are summed into one value per flush; distributions keep their
// values (as EMF arrays, so CloudWatch can compute percentiles); gauges keep
// the last value. It is safe for concurrent use.
type EMF struct {
	// Namespace of every metric ("sagequeue").
	Namespace string
	// Dimensions are put on every metric (Function).
	Dimensions []Dim
	// W receives the documents (standard output in Lambda).
	W io.Writer
	// Now is the clock of the documents' timestamps (time.Now).
	Now func() time.Time

	mu     sync.Mutex
	groups map[string]*emfGroup
	order  []string
}

type emfGroup struct {
	dims    []Dim
	metrics map[string]*emfMetric
	names   []string
}

type emfMetric struct {
	unit   string
	values []float64
}

// EMF limits: a document may declare at most 100 metrics, and a metric's
// value array may hold at most 100 values.
const (
	emfMaxMetrics = 100
	emfMaxValues  = 100
)

type emfMode int

const (
	emfSum emfMode = iota
	emfLast
	emfAppend
)

// Add adds v to a counter.
func (e *EMF) Add(name, unit string, v float64, dims ...Dim) { e.record(name, unit, v, emfSum, dims) }

// Set sets a gauge.
func (e *EMF) Set(name, unit string, v float64, dims ...Dim) { e.record(name, unit, v, emfLast, dims) }

// Observe adds a value to a distribution.
func (e *EMF) Observe(name, unit string, v float64, dims ...Dim) {
	e.record(name, unit, v, emfAppend, dims)
}

func (e *EMF) record(name, unit string, v float64, mode emfMode, dims []Dim) {
	all := make([]Dim, 0, len(e.Dimensions)+len(dims))
	all = append(all, e.Dimensions...)
	for _, d := range dims {
		if d.Value == "" {
			// CloudWatch refuses empty dimension values.
			d.Value = "-"
		}
		all = append(all, d)
	}
	var key strings.Builder
	for _, d := range all {
		key.WriteString(d.Name)
		key.WriteByte(0)
		key.WriteString(d.Value)
		key.WriteByte(0)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.groups == nil {
		e.groups = map[string]*emfGroup{}
	}
	g := e.groups[key.String()]
	if g == nil {
		g = &emfGroup{dims: all, metrics: map[string]*emfMetric{}}
		e.groups[key.String()] = g
		e.order = append(e.order, key.String())
	}
	m := g.metrics[name]
	if m == nil {
		m = &emfMetric{unit: unit}
		g.metrics[name] = m
		g.names = append(g.names, name)
	}
	switch {
	case mode == emfAppend || len(m.values) == 0:
		m.values = append(m.values, v)
	case mode == emfSum:
		m.values[0] += v
	default:
		m.values[0] = v
	}
}

// Flush writes what was recorded since the last flush, one document per
// set of dimension values (more when the limits of EMF require), and
// forgets it. Nothing recorded writes nothing.
func (e *EMF) Flush() error {
	e.mu.Lock()
	groups, order := e.groups, e.order
	e.groups, e.order = nil, nil
	e.mu.Unlock()
	if e.W == nil {
		return nil
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	ts := now().UnixMilli()
	var out []byte
	for _, k := range order {
		for _, doc := range groups[k].documents(e.Namespace, ts) {
			line, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("metrics: encoding an EMF document: %w", err)
			}
			out = append(append(out, line...), '\n')
		}
	}
	if len(out) == 0 {
		return nil
	}
	_, err := e.W.Write(out)
	return err
}

// documents splits a group into EMF documents within the limits.
func (g *emfGroup) documents(namespace string, ts int64) []map[string]any {
	names := append([]string(nil), g.names...)
	sort.Strings(names)
	dimNames := make([]string, len(g.dims))
	for i, d := range g.dims {
		dimNames[i] = d.Name
	}
	var docs []map[string]any
	// Round r carries values [r*100, (r+1)*100) of every metric that has
	// that many, at most 100 metrics a document.
	for round := 0; ; round++ {
		var batch []string
		for _, n := range names {
			if len(g.metrics[n].values) > round*emfMaxValues {
				batch = append(batch, n)
			}
		}
		if len(batch) == 0 {
			return docs
		}
		for len(batch) > 0 {
			take := batch[:min(len(batch), emfMaxMetrics)]
			batch = batch[len(take):]
			doc := map[string]any{}
			for _, d := range g.dims {
				doc[d.Name] = d.Value
			}
			defs := make([]map[string]string, 0, len(take))
			for _, n := range take {
				m := g.metrics[n]
				def := map[string]string{"Name": n}
				if m.unit != "" {
					def["Unit"] = m.unit
				}
				defs = append(defs, def)
				vals := m.values[round*emfMaxValues : min(len(m.values), (round+1)*emfMaxValues)]
				if len(m.values) == 1 {
					doc[n] = vals[0]
				} else {
					doc[n] = vals
				}
			}
			doc["_aws"] = map[string]any{
				"Timestamp": ts,
				"CloudWatchMetrics": []map[string]any{{
					"Namespace":  namespace,
					"Dimensions": [][]string{dimNames},
					"Metrics":    defs,
				}},
			}
			docs = append(docs, doc)
		}
	}
}
