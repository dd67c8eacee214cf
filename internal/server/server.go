// Package server is `sagequeue serve`: the Batch API, the engine, the local
// SageMaker endpoint and the embedded store in one process. It wires the
// same packages the Lambda functions use — only the store (bbolt instead of
// DynamoDB), the SageMaker endpoint (local processes instead of SageMaker)
// and the event bus (in-process instead of EventBridge) differ.
//
// The listener serves the Batch API, the dashboard and /metrics, nothing
// else. The engine reaches the local SageMaker endpoint in process, through
// the real SageMaker SDK client whose HTTP client calls the endpoint's
// handler: the endpoint runs whatever command a request names, so no socket
// may lead to it. The configuration file is applied in process too, before
// the listener answers anything.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/events"
	"github.com/sagequeue/sagequeue/internal/inproc"
	"github.com/sagequeue/sagequeue/internal/joblogs"
	"github.com/sagequeue/sagequeue/internal/localsm"
	"github.com/sagequeue/sagequeue/internal/metrics"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/plans"
	"github.com/sagequeue/sagequeue/internal/setup"
)

// Options configure a server.
type Options struct {
	// Listen is the address of the API (127.0.0.1:8642).
	Listen string
	// DataDir holds the store (sagequeue.db) and the training jobs (jobs/).
	DataDir string
	// ConfigFile, if set, is applied at start (see package setup) when it
	// differs from the configuration last applied to the data directory.
	ConfigFile string
	// Tick is the period of passes when nothing happens (1s).
	Tick time.Duration
	// StopGrace is how long a stopped job gets between SIGTERM and SIGKILL.
	StopGrace time.Duration
	// InstanceLimit caps the instances the local endpoint runs at once
	// (0: no cap beyond the environments' capacity).
	InstanceLimit int64
	// PlanEndMargin is how long before a training plan's window ends its
	// instances are taken back (SageMaker's 30 minutes when 0), for the
	// plans the local endpoint emulates and the scheduler alike.
	PlanEndMargin time.Duration
	// PlanPendingTimeout is how long a job may wait Pending for a plan's
	// capacity on the local endpoint before it fails with
	// InsufficientCapacityError (SageMaker's 2 days when 0).
	PlanPendingTimeout time.Duration
	// JobRetention is how long a finished job is kept (0: for ever).
	JobRetention time.Duration
	Logger       *slog.Logger
	// Limits bound the listener's connections (zero fields: defaults).
	Limits Limits
	// Ready, if set, is called with the listening address once the server
	// serves and the configuration is applied.
	Ready func(addr string)
	// Bus, if set, also receives every job state change event.
	Bus *events.LocalBus

	// The door (door.go, docs/security.md). AuthFile, when set, is the auth
	// file: every request is authenticated and authorized. Without one,
	// serve refuses a non-loopback Listen unless InsecureNoAuth.
	AuthFile       string
	InsecureNoAuth bool
	// TLSCert and TLSKey, when set, make serve speak HTTPS.
	TLSCert, TLSKey string
	// RunAs is the account training jobs run as when serve runs as root
	// (a user name, uid or uid:gid); "" runs them as serve itself.
	RunAs string
	// Reload, when set, makes serve read the auth file and the TLS
	// certificate again at every receive (the CLI sends SIGHUPs there).
	Reload <-chan struct{}
	// StopJobsOnExit makes the server stop its running training jobs when
	// it ends (they go back to their queue at the next start without using
	// an attempt). Otherwise they go on running and the next server adopts
	// them.
	StopJobsOnExit bool
	// ContainerRuntime, when set, is the command line of a Docker-compatible
	// container runtime (["podman"], ["docker"], with options of its own)
	// that runs payloads' TrainingImage as SageMaker does; ContainerRunArgs
	// go to each of its `run`s (e.g. --gpus all).
	ContainerRuntime []string
	ContainerRunArgs []string
	// Supervisor is the program that runs training jobs' supervisors (see
	// localsm.Config.Supervisor); "" runs them with this program.
	Supervisor string
}

// Run serves until ctx ends, then shuts down in order: stop taking requests,
// stop scheduling, let go of the running training jobs (they go on running,
// and the next server adopts them; with StopJobsOnExit, stop them), close
// the store.
func Run(ctx context.Context, o Options) error {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8642"
	}
	if o.DataDir == "" {
		return errors.New("a data directory is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Bus == nil {
		o.Bus = &events.LocalBus{}
	}
	door, err := openDoor(o)
	if err != nil {
		return err
	}
	var cfg *setup.Config
	if o.ConfigFile != "" {
		c, err := setup.Load(o.ConfigFile)
		if err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%s: %w", o.ConfigFile, err)
		}
		cfg = c
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return err
	}
	if err := door.confineDataDir(o.DataDir); err != nil {
		return err
	}
	st, err := openStore(o.DataDir, o.Logger)
	if err != nil {
		return err
	}
	defer st.Close()

	ln, err := listen(o.Listen, o.Limits)
	if err != nil {
		return err
	}
	base := door.scheme() + "://" + ln.Addr().String()

	// The engine's SageMaker client calls the local endpoint's handler in
	// process (the endpoint is made below: it delivers its events to the
	// runner, which needs the engine). No one checks its credentials.
	var local *localsm.Server
	sm := sagemaker.New(sagemaker.Options{
		BaseEndpoint: aws.String("http://sagemaker.in-process"), Region: model.LocalAccount.Region,
		Credentials: credentials.NewStaticCredentialsProvider("sagequeue-serve", "sagequeue-serve", ""),
		HTTPClient:  inproc.Client{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { local.ServeHTTP(w, r) })},
	})
	// One cache of the training plans for the scheduler and the API: the
	// local endpoint answers at once, so it is read often.
	planCache := plans.New(sm, 5*time.Second, nil)
	// The data directory is locked (store and jobs), so this process is its
	// only scheduler: a holder named after the directory lets a server
	// restarted after a kill -9 take its lease over at once instead of
	// waiting for the dead one's to expire.
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		ln.Close()
		return err
	}
	// Prometheus metrics at GET /metrics (docs/metrics.md).
	metricsServer := metrics.NewServer(st)
	eng, err := engine.New(engine.Config{
		Store: st, SageMaker: sm, Bus: o.Bus, Holder: "sagequeue serve " + dataDir,
		ReconcileAfter: 30 * time.Second, LocalDefaults: true, Logger: o.Logger, Observer: metricsServer,
		Plans: planCache, PlanEndMargin: o.PlanEndMargin,
		// As many concurrent writes as one group commit takes (bolt's
		// maxGroup): a pass promoting or admitting hundreds of jobs then
		// commits them in one or two fsyncs instead of one per 16.
		WriteConcurrency: 256,
	})
	if err != nil {
		ln.Close()
		return err
	}
	runner := engine.NewRunner(eng, o.Tick)
	if err := checkContainerRuntime(ctx, o.ContainerRuntime); err != nil {
		ln.Close()
		return err
	}
	local, err = localsm.New(localsm.Config{
		Dir: filepath.Join(o.DataDir, "jobs"), CheckpointDir: filepath.Join(o.DataDir, "checkpoints"),
		Region: model.LocalAccount.Region, Account: model.LocalAccount.ID,
		Emit: runner.Deliver, StopGrace: o.StopGrace, InstanceLimit: o.InstanceLimit, Logger: o.Logger,
		Plans: localPlans(cfg, time.Now()), PlanEndMargin: o.PlanEndMargin, PlanPendingTimeout: o.PlanPendingTimeout,
		RunAs:       door.jobAccounts(),
		KeepRunning: !o.StopJobsOnExit, ContainerRuntime: o.ContainerRuntime, ContainerRunArgs: o.ContainerRunArgs,
		Supervisor: o.Supervisor,
	})
	if err != nil {
		ln.Close()
		return err
	}
	apiConfig := api.Config{
		Store: st, Account: model.LocalAccount, Hooks: runner, Logger: o.Logger, Plans: planCache, PlanEndMargin: o.PlanEndMargin,
		LocalEndpoint: &api.LocalEndpoint{Images: len(o.ContainerRuntime) > 0},
		Logs: joblogs.Files{Path: func(name string) (string, error) {
			path, err := local.LogPath(name)
			if errors.Is(err, localsm.ErrNotFound) {
				// Not launched yet (or launching): no log so far.
				return "", fmt.Errorf("%s: %w", name, joblogs.ErrNoLogs)
			}
			return path, err
		}},
	}
	door.apiConfig(&apiConfig)
	batchAPI := api.New(apiConfig)
	instrumentedAPI := metricsServer.InstrumentAPI(batchAPI)
	loopback := isLoopback(ln.Addr())
	// Behind the door: authenticated, when serve has an auth file. The
	// local SageMaker endpoint is not among the routes: only the engine,
	// in process, may reach it.
	routes := door.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == metrics.Path {
			metricsServer.ServeHTTP(w, r)
			return
		}
		instrumentedAPI.ServeHTTP(w, r)
	}))
	srv := newHTTPServer(o.Limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loopback && !loopbackHost(r.Host) {
			// A web page can make a browser send requests to 127.0.0.1
			// under a name of its own that resolves there (DNS
			// rebinding) and read the answers as same-origin: a server
			// that listens on loopback answers loopback names only.
			http.Error(w, "sagequeue serve listens on loopback and answers requests for localhost or a loopback address only", http.StatusForbidden)
			return
		}
		routes.ServeHTTP(w, r)
	}))
	srv.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)

	// The configuration goes in before the listener answers anything: a
	// client that connects early waits in the listen queue instead of
	// hearing that its queue does not exist.
	if cfg != nil {
		// Through the door, signed with serve's own key like any client
		// of it, but in process.
		if err := applyConfig(ctx, o.Logger, st, door.wrap(batchAPI), door.credentials(), o.ConfigFile, cfg); err != nil {
			ln.Close()
			shutdown(o.Logger, nil, nil, local)
			return fmt.Errorf("applying %s: %w", o.ConfigFile, err)
		}
	}
	served := make(chan error, 1)
	go func() { served <- door.serve(srv, ln) }()
	if o.Reload != nil {
		go door.reload(ctx, o.Reload)
	}

	runCtx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	ran := make(chan error, 1)
	go func() { ran <- runner.Run(runCtx) }()
	retained := make(chan struct{})
	go func() {
		defer close(retained)
		retain(runCtx, st, o.JobRetention, o.Logger)
	}()
	o.Logger.Info("sagequeue serving", "addr", ln.Addr().String(), "url", base, "data", o.DataDir)
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		stopRunner()
		<-ran
		<-retained
		shutdown(o.Logger, nil, nil, local)
		return err
	}
	o.Logger.Info("sagequeue shutting down")
	shutdown(o.Logger, srv, func() { stopRunner(); <-ran; <-retained }, local)
	return nil
}

// localPlans are the training plans of the configuration for the local
// endpoint to emulate, their relative windows counted from start.
func localPlans(cfg *setup.Config, start time.Time) []localsm.Plan {
	if cfg == nil {
		return nil
	}
	var out []localsm.Plan
	for _, p := range cfg.TrainingPlans {
		lp := localsm.Plan{Name: p.Name, InstanceType: p.InstanceType, InstanceCount: int64(p.InstanceCount)}
		for _, w := range p.Windows {
			from, to := w.Times(start)
			lp.Windows = append(lp.Windows, localsm.Window{Start: from, End: to})
		}
		out = append(out, lp)
	}
	return out
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func shutdown(log *slog.Logger, srv *http.Server, stopRunner func(), local *localsm.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("stopping the HTTP server", "err", err)
		}
	}
	if stopRunner != nil {
		stopRunner()
	}
	if err := local.Shutdown(ctx); err != nil {
		log.Warn("stopping the training jobs", "err", err)
	}
}
