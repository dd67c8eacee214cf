package metrics

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/store"
)

// waitingAndActive are the statuses the Jobs gauge reports. Finished jobs
// are counted as they finish (JobsFinished): counting them in the store
// would cost a read of the whole history.
var waitingAndActive = []model.JobStatus{model.StatusSubmitted, model.StatusRunnable, model.StatusScheduled, model.StatusStarting, model.StatusRunning}

var activeStatuses = []model.JobStatus{model.StatusScheduled, model.StatusStarting, model.StatusRunning}

// CollectState reads the job and capacity gauges from the store. It costs
// what a scheduling pass reads, whatever the backlog: the configuration,
// the jobs holding capacity (a list capacity bounds), the SUBMITTED count of
// every queue (store.CountSubmitted) and the RUNNABLE count of every line
// (store.Lines), which the store keeps, and the head of each line. A failed read counts in StateErrors and leaves the gauges as
// they were.
func (r *Recorder) CollectState(ctx context.Context, st store.Store) {
	s, err := readState(ctx, st, r.now().UnixMilli())
	if err != nil {
		r.sink.add(StateErrors, 1, nil)
		return
	}
	for _, d := range stateDefs {
		r.sink.reset(d)
	}
	for _, q := range s.queues {
		for _, status := range waitingAndActive {
			r.sink.set(Jobs, float64(s.jobs[q][status]), labels(q, string(status)))
		}
		r.sink.set(QueueInstancesInUse, float64(s.queueInUse[q]), labels(q))
		r.sink.set(QueueHeadWait, s.headWait[q], labels(q))
	}
	for _, e := range s.envs {
		r.sink.set(EnvInstancesInUse, float64(s.envInUse[e.name]), labels(e.name))
		r.sink.set(EnvInstancesCapacity, float64(e.capacity), labels(e.name))
	}
	for k, v := range s.shareUsage {
		r.sink.set(ShareUsage, v, labels(k[0], k[1]))
	}
	for k, v := range s.shareInUse {
		r.sink.set(ShareInstancesInUse, float64(v), labels(k[0], k[1]))
	}
	for k, v := range s.quotaInUse {
		r.sink.set(QuotaShareInstancesInUse, float64(v), labels(k[0], k[1], k[2]))
		r.sink.set(QuotaShareBorrowed, float64(max(v-s.quota[k], 0)), labels(k[0], k[1], k[2]))
	}
}

type envState struct {
	name     string
	capacity int64
}

type state struct {
	queues     []string // names, sorted as the store lists them
	jobs       map[string]map[model.JobStatus]int64
	queueInUse map[string]int64
	headWait   map[string]float64
	envs       []envState
	envInUse   map[string]int64
	shareUsage map[[2]string]float64
	shareInUse map[[2]string]int64
	// quotaInUse and quota are per queue, quota share and instance type.
	quotaInUse map[[3]string]int64
	quota      map[[3]string]int64
}

func readState(ctx context.Context, st store.Store, now int64) (*state, error) {
	s := &state{
		jobs: map[string]map[model.JobStatus]int64{}, queueInUse: map[string]int64{}, headWait: map[string]float64{},
		envInUse: map[string]int64{}, shareUsage: map[[2]string]float64{}, shareInUse: map[[2]string]int64{},
		quotaInUse: map[[3]string]int64{}, quota: map[[3]string]int64{},
	}
	envs, err := st.ListEnvironments(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range envs {
		capacity := e.MaxInstances()
		if !e.Enabled() {
			capacity = 0
		}
		s.envs = append(s.envs, envState{name: e.Name, capacity: capacity})
	}
	policies, err := st.ListPolicies(ctx)
	if err != nil {
		return nil, err
	}
	decay := map[string]float64{}
	for _, p := range policies {
		decay[p.Arn] = p.FairsharePolicy.DecaySeconds()
	}
	queues, err := st.ListQueues(ctx)
	if err != nil {
		return nil, err
	}
	fair := map[string]bool{}
	for _, q := range queues {
		s.queues = append(s.queues, q.Name)
		s.jobs[q.Name] = map[model.JobStatus]int64{}
		fair[q.Name] = q.FairShare()
		lines, err := st.Lines(ctx, q.Arn)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			s.jobs[q.Name][model.StatusRunnable] += l.Runnable
			heads, _, err := st.Heads(ctx, q.Arn, l.Share, 1)
			if err != nil {
				return nil, err
			}
			if len(heads) > 0 && heads[0].CreatedAt > 0 {
				s.headWait[q.Name] = max(s.headWait[q.Name], float64(now-heads[0].CreatedAt)/1000)
			}
		}
		if q.QuotaShares() {
			shares, err := st.ListQuotaShares(ctx, q.Name)
			if err != nil {
				return nil, err
			}
			for _, sh := range shares {
				for _, l := range sh.CapacityLimits {
					k := [3]string{q.Name, sh.Name, l.CapacityUnit}
					s.quota[k] = l.MaxCapacity
					s.quotaInUse[k] += 0 // an idle share shows 0 in use
				}
			}
		}
		if q.FairShare() {
			tau, ok := decay[q.SchedulingPolicyArn]
			if !ok {
				tau = (*model.FairsharePolicy)(nil).DecaySeconds()
			}
			usage, err := st.ListUsage(ctx, q.Arn)
			if err != nil {
				return nil, err
			}
			for _, u := range usage {
				s.shareUsage[[2]string{q.Name, u.Share}] = u.At(now, tau)
			}
		}
	}
	submitted, err := st.CountSubmitted(ctx)
	if err != nil {
		return nil, err
	}
	for arn, n := range submitted {
		if q := nameOf(arn); s.jobs[q] != nil {
			s.jobs[q][model.StatusSubmitted] += n
		}
	}
	active, err := store.ListAll(ctx, st, store.JobQuery{Statuses: activeStatuses})
	if err != nil {
		return nil, err
	}
	for _, j := range active {
		q := nameOf(j.JobQueue)
		if s.jobs[q] == nil {
			continue // a job of a queue deleted meanwhile
		}
		s.jobs[q][j.Status]++
		if j.Status.HoldsCapacity() {
			s.queueInUse[q] += j.Instances
			s.envInUse[nameOf(j.ServiceEnvironment)] += j.Instances
			if fair[q] && j.ShareIdentifier != "" {
				s.shareInUse[[2]string{q, j.ShareIdentifier}] += j.Instances
			}
			if j.QuotaShareName != "" {
				s.quotaInUse[[3]string{q, j.QuotaShareName, j.InstanceType}] += j.Instances
			}
		}
	}
	return s, nil
}

// operationPattern is what an operation name looks like; anything else is
// reported as "unknown" so that stray paths cannot grow the label set.
var operationPattern = regexp.MustCompile(`^[a-z]{1,64}$`)

// InstrumentAPI wraps the Batch API handler to count its requests by
// operation and status, and time them.
func (r *Recorder) InstrumentAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasPrefix(req.URL.Path, "/v1/") {
			next.ServeHTTP(w, req) // not an operation (the web dashboard's pages)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, req)
		op := strings.ToLower(strings.TrimPrefix(req.URL.Path, "/v1/"))
		if !operationPattern.MatchString(op) || sw.Header().Get("X-Amzn-ErrorType") == "UnknownOperationException" {
			op = "unknown"
		}
		r.sink.add(APIRequests, 1, labels(op, strconv.Itoa(sw.status)))
		r.sink.observe(APILatency, time.Since(start).Seconds(), labels(op))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Path is where `sagequeue serve` serves its metrics.
const Path = "/metrics"

// Server is the metrics of `sagequeue serve`: a Prometheus registry with
// every metric, the job and capacity gauges read from the store at each
// scrape. It is the engine's Observer.
type Server struct {
	*Recorder
	Registry *Registry
}

// NewServer returns the metrics of a server over st.
func NewServer(st store.Store) *Server {
	reg := NewRegistry()
	rec := NewPrometheus(reg)
	reg.OnScrape(func(ctx context.Context) { rec.CollectState(ctx, st) })
	return &Server{Recorder: rec, Registry: reg}
}

// ServeHTTP serves the metrics (GET /metrics).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Registry.Handler().ServeHTTP(w, r)
}
