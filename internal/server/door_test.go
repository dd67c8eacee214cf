package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/smithy-go"

	"github.com/sagequeue/sagequeue/internal/server"
	"github.com/sagequeue/sagequeue/internal/server/servertest"
	"github.com/sagequeue/sagequeue/internal/testcert"
)

// runServer runs `sagequeue serve` in-process with a temporary data
// directory (and o.Listen, or a free loopback port), logging to logs, and
// returns the address it serves on.
func runServer(t *testing.T, config string, o server.Options, logs io.Writer) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	o.DataDir, o.ConfigFile = filepath.Join(dir, "data"), cfg
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	return servertest.Run(t, o)
}

// lockedBuffer collects a server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServeRefusesAnOpenDoor(t *testing.T) {
	authFile := writeAuthFile(t, strings.ReplaceAll(authYAML, "{role}", "admin"))
	for name, tc := range map[string]struct {
		o    server.Options
		want string
	}{
		"every IPv4 address": {server.Options{Listen: "0.0.0.0:0"}, "refusing to serve without authentication on a non-loopback address: anyone who can reach 0.0.0.0:0 could run commands on this machine. Give --auth-file FILE"},
		"every address":      {server.Options{Listen: ":0"}, "refusing to serve without authentication"},
		"every IPv6 address": {server.Options{Listen: "[::]:0"}, "refusing to serve without authentication"},
		"both an auth file and none": {server.Options{Listen: "127.0.0.1:0", AuthFile: authFile, InsecureNoAuth: true},
			"--auth-file and --insecure-no-auth contradict each other"},
		"a certificate without its key": {server.Options{Listen: "127.0.0.1:0", TLSCert: "cert.pem"}, "--tls-cert and --tls-key go together"},
		"a missing certificate":         {server.Options{Listen: "127.0.0.1:0", TLSCert: "missing.pem", TLSKey: "missing.key"}, "--tls-cert missing.pem"},
		"a missing auth file":           {server.Options{Listen: "0.0.0.0:0", AuthFile: "missing.yaml"}, "auth file: stat missing.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.o.DataDir = t.TempDir()
			tc.o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			err := server.Run(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if os.Geteuid() != 0 {
		err := server.Run(context.Background(), server.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), RunAs: "nobody",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "only root can start processes as another user") {
			t.Fatalf("--run-as without root: %v", err)
		}
	} else {
		// As root, jobs run as serve only when told so; an auth file that
		// maps users to accounts then cannot be honoured.
		mapped := writeAuthFile(t, "users: [{name: bob, accessKeyId: AKIABOB00000000000001, secret: bob-secret-0123456789xy, role: user, runAs: nobody}]")
		err := server.Run(context.Background(), server.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), AuthFile: mapped,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "runAs needs serve to run as root and its jobs confined") {
			t.Fatalf("runAs with jobs as root: %v", err)
		}
	}
}

func TestInsecureNoAuthWarns(t *testing.T) {
	logs := &lockedBuffer{}
	addr := runServer(t, metricsConfig, server.Options{Listen: "0.0.0.0:0", InsecureNoAuth: true}, logs)
	if !strings.Contains(logs.String(), "serving WITHOUT AUTHENTICATION on a non-loopback address (--insecure-no-auth)") {
		t.Fatalf("no warning in the log:\n%s", logs)
	}
	_, port, _ := net.SplitHostPort(addr)
	if _, err := batchClient("http://127.0.0.1:"+port).DescribeJobQueues(context.Background(), &batch.DescribeJobQueuesInput{}); err != nil {
		t.Fatalf("an unauthenticated request: %v", err)
	}
}

const authYAML = `
users:
  - {name: alice, accessKeyId: AKIAALICE0000000001, secret: alice-secret-0123456789, role: {role}}
`

func writeAuthFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// presented is the certificate a TLS server presents.
func presented(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestAuthenticatedTLSServer runs serve with an auth file and a
// certificate: its own clients (applying the configuration, launching
// training jobs on its local SageMaker endpoint) get through the same door,
// and SIGHUP (Reload) brings a new certificate and new keys.
func TestAuthenticatedTLSServer(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testcert.Write(t, certFile, keyFile, "first")
	authFile := writeAuthFile(t, strings.ReplaceAll(authYAML, "{role}", "admin"))
	reload := make(chan struct{})
	logs := &lockedBuffer{}
	addr := runServer(t, metricsConfig, server.Options{AuthFile: authFile, TLSCert: certFile, TLSKey: keyFile, Reload: reload}, logs)

	client := func(cert *x509.Certificate, key, secret string) *batch.Client {
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		return batch.New(batch.Options{BaseEndpoint: aws.String("https://" + addr), Region: "local", HTTPClient: hc,
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
	}
	alice := client(first, "AKIAALICE0000000001", "alice-secret-0123456789")
	// The configuration was applied through the door, and a job runs: the
	// engine reached the local SageMaker endpoint over TLS with serve's key.
	id := submit(t, alice, "first", 1, "true")
	waitFor(t, "the job to succeed", func() bool { return status(t, alice, id) == types.ServiceJobStatusSucceeded })
	if !strings.Contains(logs.String(), "requests are authenticated") {
		t.Errorf("the log does not say requests are authenticated:\n%s", logs)
	}
	if resp, err := http.Get("http://" + addr + "/"); err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP on the TLS port: HTTP %d", resp.StatusCode)
	}

	// A new certificate and a new key for alice, then SIGHUP.
	second := testcert.Write(t, certFile, keyFile, "second")
	writeFile(t, authFile, strings.ReplaceAll(strings.ReplaceAll(authYAML, "{role}", "admin"), "alice-secret-0123456789", "alice-rotated-9876543210"))
	reload <- struct{}{}
	waitFor(t, "the new certificate", func() bool { return presented(t, addr).Subject.CommonName == "second" })
	rotated := client(second, "AKIAALICE0000000001", "alice-rotated-9876543210")
	waitFor(t, "the new secret", func() bool {
		_, err := rotated.DescribeJobQueues(context.Background(), &batch.DescribeJobQueuesInput{})
		return err == nil
	})
	_, err := client(second, "AKIAALICE0000000001", "alice-secret-0123456789").DescribeJobQueues(context.Background(), &batch.DescribeJobQueuesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("the old secret after reload: %v", err)
	}
	// serve's own clients trust the new certificate at once.
	id = submit(t, rotated, "second", 1, "true")
	waitFor(t, "a job after the rotation to succeed", func() bool { return status(t, rotated, id) == types.ServiceJobStatusSucceeded })

	// A broken file on reload keeps the one in force.
	writeFile(t, authFile, "users: [")
	reload <- struct{}{}
	waitFor(t, "the reload error in the log", func() bool {
		return strings.Contains(logs.String(), "the auth file did not load; the previous one stays in force")
	})
	if _, err := rotated.DescribeJobQueues(context.Background(), &batch.DescribeJobQueuesInput{}); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
