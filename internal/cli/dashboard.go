package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

func init() { register(groupServer, []string{"dashboard"}, newDashboardCmd) }

// DefaultDashboardListen is where `sagequeue dashboard` serves by default.
const DefaultDashboardListen = "127.0.0.1:8643"

// dashboardOps are the operations the dashboard proxy forwards: the ones
// the dashboard reads with. It changes nothing, so neither may a page that
// reaches the proxy.
var dashboardOps = map[string]bool{
	"describeservicejob": true, "listservicejobs": true, "searchservicejobs": true, "getservicejoblogs": true,
	"getjobqueuesnapshot": true, "getdashboard": true, "getutilization": true, "describetrainingplans": true,
	"describejobqueues": true, "describeserviceenvironments": true,
	"describeschedulingpolicies": true, "listschedulingpolicies": true,
}

// maxProxyBody bounds a request body the proxy forwards (the API's limit).
const maxProxyBody = 64 * 1024

func newDashboardCmd(a *App) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard of a sagequeue deployment on this machine",
		Long: `Serve sagequeue's web dashboard on a local port and forward its API calls to
--endpoint, signed with your AWS credentials (SigV4; service execute-api for
an API Gateway endpoint, or --signing-name), since a browser cannot sign them. Open the URL it
prints. It forwards only the read operations the dashboard uses.

Against a local sagequeue serve this is not needed: the dashboard is at the
server's own address (http://127.0.0.1:8642/ by default).

It runs in the server binary, ` + ServerBinary + `, which holds the dashboard's
files (build both binaries with go build -o bin/ ./cmd/...).`,
		Example: `  sagequeue dashboard --endpoint https://abc123.execute-api.eu-west-1.amazonaws.com
  sagequeue dashboard --profile research --listen 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.Endpoint == EndpointAWS {
				return usagef("the dashboard needs a sagequeue endpoint: AWS Batch has none of the operations it reads")
			}
			hosts, err := dashboardHosts(listen)
			if err != nil {
				return usagef("--listen: %v", err)
			}
			if a.Server.Dashboard == nil {
				// The dashboard's files are in the server binary only.
				return a.runServerBinary(cmd)
			}
			if _, err := a.Batch(cmd.Context()); err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return refusedf("cannot listen on %s: %v", listen, err)
			}
			p := &dashboardProxy{app: a, files: a.Server.Dashboard, hosts: hosts}
			if _, port, err := net.SplitHostPort(ln.Addr().String()); err == nil {
				p.port = port
			}
			srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			fmt.Fprintf(a.Stdout, "sagequeue dashboard of %s: open http://%s/ (Ctrl-C to stop)\n", a.Endpoint, ln.Addr())
			select {
			case err := <-served:
				return err
			case <-ctx.Done():
			}
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shut)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", DefaultDashboardListen, "loopback address to serve the dashboard on")
	return cmd
}

// dashboardHosts checks that listen is a loopback address (the proxy signs
// with the user's credentials: nobody else may reach it) and returns the
// host names a browser may use for it; the port is added per request.
func dashboardHosts(listen string) (map[string]bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s is not a loopback address (127.0.0.1, [::1] or localhost): the dashboard signs requests with your AWS credentials", listen)
	}
	return map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, host: true}, nil
}

// dashboardProxy serves the embedded dashboard and forwards its API calls.
// Calls go through the App's Batch client, so they are signed as every
// command's are (signing.go: execute-api in the endpoint's region for an
// API Gateway endpoint, or --signing-name).
type dashboardProxy struct {
	app   *App
	files DashboardFiles
	hosts map[string]bool
	port  string
}

func (p *dashboardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A page of another site that resolves its own name to 127.0.0.1 (DNS
	// rebinding) is same-origin with itself, not with us: check the Host.
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || !p.hosts[strings.Trim(host, "[]")] || p.port != "" && port != p.port {
		proxyError(w, http.StatusForbidden, "AccessDeniedException", "unexpected Host "+r.Host)
		return
	}
	op, isAPI := strings.CutPrefix(r.URL.Path, "/v1/")
	if !isAPI {
		p.files.ServeHTTP(w, r)
		return
	}
	switch {
	case r.Method != http.MethodPost:
		proxyError(w, http.StatusMethodNotAllowed, "ClientException", r.URL.Path+" must be called with POST")
		return
	case p.files.CrossSite(r):
		proxyError(w, http.StatusForbidden, "AccessDeniedException", "cross-site requests from web browsers are refused")
		return
	case !dashboardOps[strings.ToLower(op)]:
		proxyError(w, http.StatusForbidden, "AccessDeniedException",
			"the dashboard proxy forwards only the read operations the dashboard uses, not "+op)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxProxyBody+1))
	if err != nil || len(body) > maxProxyBody {
		proxyError(w, http.StatusBadRequest, "ClientException", fmt.Sprintf("request body: must be JSON of at most %d bytes", maxProxyBody))
		return
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if !json.Valid(body) {
		proxyError(w, http.StatusBadRequest, "ClientException", "request body: is not valid JSON")
		return
	}
	var out json.RawMessage
	if err := p.app.callExtension(r.Context(), strings.ToLower(op), json.RawMessage(body), &out); err != nil {
		p.forwardError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// forwardError answers with the service's error, or a 502 when there was
// no answer.
func (p *dashboardProxy) forwardError(w http.ResponseWriter, err error) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		status := http.StatusBadRequest
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
			status = re.HTTPStatusCode()
		}
		msg := apiErr.ErrorMessage()
		if msg == "" {
			msg = apiErr.ErrorCode()
		}
		proxyError(w, status, apiErr.ErrorCode(), msg)
		return
	}
	proxyError(w, http.StatusBadGateway, "ServerException", p.app.transportMessage(err))
}

func proxyError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("X-Amzn-ErrorType", kind)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": kind, "message": msg})
}
