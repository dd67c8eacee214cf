package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sagequeue/sagequeue/internal/api"
	"github.com/sagequeue/sagequeue/internal/auth"
	"github.com/sagequeue/sagequeue/internal/engine"
	"github.com/sagequeue/sagequeue/internal/runas"
)

// door is what stands between the network and serve: authentication
// (package auth), TLS, and the account training jobs run as.
type door struct {
	log   *slog.Logger
	guard *auth.Guard // nil without an auth file
	cert  *certReloader
	// runAs is the account of jobs when serve runs as root, "" for serve's
	// own (only with --insecure-run-as-root, or when serve is not root).
	runAs string
	root  bool
}

// errOpenDoor refuses a non-loopback listener without authentication.
var errOpenDoor = errors.New("refusing to serve without authentication on a non-loopback address")

// openDoor checks the options and loads what they name.
func openDoor(o Options) (*door, error) {
	d := &door{log: o.Logger, root: os.Geteuid() == 0, runAs: o.RunAs}
	loopback, err := loopbackListen(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", o.Listen, err)
	}
	switch {
	case o.AuthFile != "" && o.InsecureNoAuth:
		return nil, errors.New("--auth-file and --insecure-no-auth contradict each other: give one")
	case o.AuthFile == "" && !loopback && !o.InsecureNoAuth:
		return nil, fmt.Errorf("%w: anyone who can reach %s could run commands on this machine. "+
			"Give --auth-file FILE (users, access keys and roles: see docs/security.md), listen on 127.0.0.1, "+
			"or, if you must, --insecure-no-auth", errOpenDoor, o.Listen)
	case o.AuthFile == "" && !loopback:
		o.Logger.Warn("serving WITHOUT AUTHENTICATION on a non-loopback address (--insecure-no-auth): anyone who can reach it can submit jobs that run commands on this machine, and change or stop anything",
			"listen", o.Listen)
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	if o.TLSCert != "" {
		d.cert = &certReloader{certFile: o.TLSCert, keyFile: o.TLSKey, log: o.Logger}
		if err := d.cert.load(); err != nil {
			return nil, err
		}
	}
	if d.runAs != "" {
		if !d.root {
			return nil, fmt.Errorf("--run-as %s: serve runs as uid %d, and only root can start processes as another user", d.runAs, os.Geteuid())
		}
		a, err := runas.Lookup(d.runAs)
		if err != nil {
			return nil, fmt.Errorf("--run-as: %w", err)
		}
		o.Logger.Info("training jobs run as an unprivileged account", "runAs", a.String())
	} else if d.root {
		o.Logger.Warn("training jobs run as root (--insecure-run-as-root): a job can read and change everything on this machine, the store and other jobs included")
	}
	if o.AuthFile != "" && d.cert == nil && !loopback {
		o.Logger.Warn("serving without TLS on a non-loopback address: signatures keep keys secret, but requests, answers and dashboard logins travel in clear; give --tls-cert and --tls-key",
			"listen", o.Listen)
	}
	if o.AuthFile != "" {
		g, err := auth.New(auth.Options{File: o.AuthFile, TLS: d.cert != nil, Logger: o.Logger, Check: d.checkAuthFile})
		if err != nil {
			return nil, err
		}
		d.guard = g
		o.Logger.Info("requests are authenticated", "authFile", o.AuthFile, "users", len(g.File().Users))
	}
	return d, nil
}

// checkAuthFile refuses runAs mappings that serve cannot honour.
func (d *door) checkAuthFile(f *auth.File) error {
	if f.HasRunAs() && d.runAs == "" {
		return errors.New("runAs needs serve to run as root and its jobs confined (without --insecure-run-as-root); remove runAs, or run serve as root")
	}
	return nil
}

// loopbackListen reports whether a listen address only takes connections
// from this machine: a loopback IP, or a name all of whose addresses are
// loopback. An empty host, 0.0.0.0 or :: listen everywhere.
func loopbackListen(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "" {
		return false, nil
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback(), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false, err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false, nil
		}
	}
	return len(ips) > 0, nil
}

// scheme is the URL scheme serve answers on.
func (d *door) scheme() string {
	if d.cert != nil {
		return "https"
	}
	return "http"
}

// credentials are what serve signs its own requests with (applying
// --config, through the door in process): the guard's own key, or any key
// without one.
func (d *door) credentials() aws.CredentialsProvider {
	if d.guard != nil {
		id, secret := d.guard.ServerKey()
		return credentials.NewStaticCredentialsProvider(id, secret, "")
	}
	return credentials.NewStaticCredentialsProvider("sagequeue-local", "sagequeue-local", "")
}

// listen wraps a listener in TLS when serve has a certificate.
func (d *door) serve(srv *http.Server, ln net.Listener) error {
	if d.cert == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: d.cert.get}
	return srv.ServeTLS(ln, "", "")
}

// wrap puts next behind the guard, when there is one.
func (d *door) wrap(next http.Handler) http.Handler {
	if d.guard == nil {
		return next
	}
	return d.guard.Wrap(next)
}

// apiConfig sets the API's identity and access control.
func (d *door) apiConfig(c *api.Config) {
	if d.guard != nil {
		c.Identity, c.Access = auth.CallerName, d.guard
	}
}

// jobAccounts is localsm's RunAs: nil (jobs run as serve) when serve is
// not root or runs jobs as root.
func (d *door) jobAccounts() func(tags map[string]string) (*runas.Account, error) {
	if d.runAs == "" || !d.root {
		return nil
	}
	return d.jobAccount
}

// jobAccount is the account of a job: its submitter's runAs from the auth
// file, else --run-as.
func (d *door) jobAccount(tags map[string]string) (*runas.Account, error) {
	spec := d.runAs
	if d.guard != nil {
		if r := d.guard.File().RunAsOf(tags[engine.TagSubmittedBy]); r != "" {
			spec = r
		}
	}
	return runas.Lookup(spec)
}

// reload reads the auth file and the certificate again on every signal; a
// part that fails to load keeps its previous version.
func (d *door) reload(ctx context.Context, signals <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
		}
		if d.guard == nil && d.cert == nil {
			d.log.Info("reload: nothing to reload (no --auth-file, no --tls-cert)")
			continue
		}
		if d.guard != nil {
			if err := d.guard.Reload(); err != nil {
				d.log.Error("reload: the auth file did not load; the previous one stays in force", "err", err)
			}
		}
		if d.cert != nil {
			if err := d.cert.load(); err != nil {
				d.log.Error("reload: the TLS certificate did not load; the previous one stays in force", "err", err)
			}
		}
	}
}

// certReloader holds the TLS certificate and loads it again on demand.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cur               atomic.Pointer[tls.Certificate]
}

func (c *certReloader) load() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.certFile, c.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("--tls-cert %s: %w", c.certFile, err)
	}
	pair.Leaf = leaf
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		c.log.Warn("the TLS certificate has expired: clients will refuse it", "cert", c.certFile, "notAfter", leaf.NotAfter)
	case leaf.NotAfter.Sub(now) < 7*24*time.Hour:
		c.log.Warn("the TLS certificate expires within a week: renew it and send serve SIGHUP", "cert", c.certFile, "notAfter", leaf.NotAfter)
	}
	c.cur.Store(&pair)
	c.log.Info("TLS certificate loaded", "cert", c.certFile, "subject", leaf.Subject.String(), "dnsNames", leaf.DNSNames, "notAfter", leaf.NotAfter)
	return nil
}

func (c *certReloader) current() *tls.Certificate { return c.cur.Load() }

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// confineDataDir keeps confined jobs out of the data directory: they may
// pass through it to their own directories, but not list it, and the store
// is the server's alone (bbolt creates it 0600). The directories above it
// must let them through.
func (d *door) confineDataDir(dir string) error {
	if d.runAs == "" || !d.root {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.Chmod(abs, 0o711); err != nil {
		return err
	}
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("--data-dir %s: jobs run as %s cannot reach their directories under it, because %s (mode %04o) does not let others through: "+
				"put the data directory elsewhere (/var/lib/sagequeue, say) or chmod o+x %s", dir, d.runAs, p, fi.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
