package cloud

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/metrics"
	"github.com/sagequeue/sagequeue/internal/store"
)

// MetricsNamespace is the CloudWatch namespace of the functions' metrics.
const MetricsNamespace = "sagequeue"

// functionMetrics are the metrics of one function: the same metrics
// `sagequeue serve` serves to Prometheus (docs/metrics.md), collected during
// an invocation and written at its end as CloudWatch Embedded Metric Format
// documents on standard output. CloudWatch Logs makes metrics of them with
// no API call and no extra permission. Every metric has the dimension
// Function. A nil *functionMetrics (no Deps.Metrics) records nothing.
type functionMetrics struct {
	emf *metrics.EMF
	rec *metrics.Recorder
	log *slog.Logger
}

func (d Deps) newMetrics() *functionMetrics {
	if d.Metrics == nil {
		return nil
	}
	e := &metrics.EMF{
		Namespace: MetricsNamespace, Dimensions: []metrics.Dim{{Name: "Function", Value: string(d.Config.Function)}},
		W: d.Metrics, Now: d.Now,
	}
	return &functionMetrics{emf: e, rec: metrics.NewCloudWatch(e), log: d.Logger}
}

// observer is the engine's Observer: nil (an interface holding nothing)
// when there are no metrics, so the engine does not call a nil recorder.
func (m *functionMetrics) observer() engine.Observer {
	if m == nil {
		return nil
	}
	return m.rec
}

// instrument counts and times the API's requests (submit).
func (m *functionMetrics) instrument(h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return m.rec.InstrumentAPI(h)
}

// collectState reads the job and capacity gauges from the store. The
// schedule function does it at the one-minute tick: often enough for
// alarms, and a bounded number of reads whatever the traffic.
func (m *functionMetrics) collectState(ctx context.Context, st store.Store) {
	if m != nil {
		m.rec.CollectState(ctx, st)
	}
}

// eventFieldsSkipped counts the fields of an event that did not decode.
func (m *functionMetrics) eventFieldsSkipped(fields []string) {
	if m != nil {
		m.rec.EventFieldsSkipped(fields)
	}
}

// flush writes what the invocation recorded. A failure to write is logged:
// metrics never fail an invocation.
func (m *functionMetrics) flush() {
	if m == nil {
		return
	}
	if err := m.emf.Flush(); err != nil {
		m.log.Warn("writing metrics", "err", err)
	}
}
