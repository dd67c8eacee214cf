package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWithoutServerBinary: the client binary has no serve of its own
// (nor the dashboard's files, nor the simulator); without the server binary,
// serve, dashboard and simulate say how to build it.
func TestServeWithoutServerBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, args := range [][]string{
		{"serve", "--config", "examples/local.yaml"},
		{"dashboard", "--listen", "127.0.0.1:0"},
		{"simulate", "--config", "c.yaml", "--trace", "t.csv"},
	} {
		r := runCLI(t, "http://127.0.0.1:9", "", args...)
		wantCode(t, r, ExitUsage)
		for _, want := range []string{"sagequeue " + args[0], ServerBinary, "go build -o bin/ ./cmd/..."} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr %q lacks %q", args, r.stderr, want)
			}
		}
	}
}

// TestServeRunsServerBinary: serve hands the whole command line, global
// flags and all, to the server binary and ends as it ends.
func TestServeRunsServerBinary(t *testing.T) {
	dir := t.TempDir()
	server := filepath.Join(dir, ServerBinary)
	script := "#!/bin/sh\necho \"args: $*\"\necho oops >&2\nexit 7\n"
	if err := os.WriteFile(server, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	a := &App{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "SAGEQUEUE_SERVER" {
			return server
		}
		return ""
	}}
	args := []string{"--color", "never", "serve", "--data-dir", "d", "--help"}
	if code := a.Run(t.Context(), args); code != 7 {
		t.Errorf("exit %d, want the server's 7; stderr %q", code, errb.String())
	}
	if got, want := out.String(), "args: "+strings.Join(args, " ")+"\n"; got != want {
		t.Errorf("the server binary got %q, want %q", got, want)
	}
	if errb.String() != "oops\n" {
		t.Errorf("stderr %q: want the server's own", errb.String())
	}

	// The real program replaces itself with the server (same pid, signals).
	var gotPath string
	var gotArgv []string
	a = &App{Stdout: &out, Stderr: &errb, Getenv: a.Getenv, Exec: func(path string, argv, env []string) error {
		gotPath, gotArgv = path, argv
		return nil
	}}
	if code := a.Run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if gotPath != server || strings.Join(gotArgv, " ") != server+" serve --listen 127.0.0.1:0" {
		t.Errorf("exec %s %q", gotPath, gotArgv)
	}

	// A SAGEQUEUE_SERVER that is no program is named.
	r := (&App{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "SAGEQUEUE_SERVER" {
			return dir
		}
		return ""
	}}).Run(t.Context(), []string{"serve"})
	if r != ExitUsage || !strings.Contains(errb.String(), "SAGEQUEUE_SERVER="+dir+" is not an executable file") {
		t.Errorf("exit %d, stderr %q", r, errb.String())
	}
}

// TestPlainHTTPIgnoresCABundle: AWS_CA_BUNDLE, which only HTTPS needs, is
// not read for a plain-HTTP server (parsing a system bundle costs more than
// a local submit), and stays set for everything else.
func TestPlainHTTPIgnoresCABundle(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-bundle.pem")
	if err := os.WriteFile(bad, []byte("no certificates here"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", bad)
	noEnv := func(string) string { return "" }
	if _, err := (&App{Endpoint: "http://127.0.0.1:9", Getenv: noEnv}).Batch(t.Context()); err != nil {
		t.Errorf("plain HTTP: %v", err)
	}
	if got := os.Getenv("AWS_CA_BUNDLE"); got != bad {
		t.Errorf("AWS_CA_BUNDLE is %q after loading, want %q back", got, bad)
	}
	// HTTPS keeps the SDK's behaviour: the bundle is loaded, and a bad one refused.
	if _, err := (&App{Endpoint: "https://sagequeue.example.com", Getenv: noEnv}).Batch(t.Context()); err == nil {
		t.Error("HTTPS with a bad AWS_CA_BUNDLE: no error, want the SDK's")
	}
}

// TestNoAWSConfiguration: with no AWS configuration anywhere, a local
// server's client has region local and the dummy credentials; the
// environment's settings win over them.
func TestNoAWSConfiguration(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no ~/.aws
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			os.Unsetenv(k)
			t.Cleanup(func() { os.Setenv(k, v) })
		}
	}
	noEnv := func(string) string { return "" }
	client, err := (&App{Endpoint: "http://127.0.0.1:9", Getenv: noEnv}).Batch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The SDK drops anonymous credentials from its options: no signing.
	if client.Options().Credentials != nil || client.Options().Region != localRegion {
		t.Errorf("region %q, credentials %T: want %q and none", client.Options().Region, client.Options().Credentials, localRegion)
	}

	t.Setenv("AWS_REGION", "eu-west-2")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	client, err = (&App{Endpoint: "http://127.0.0.1:9", Getenv: noEnv}).Batch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := client.Options().Credentials.Retrieve(t.Context())
	if err != nil || client.Options().Region != "eu-west-2" || creds.AccessKeyID != "AKIDFROMENV" {
		t.Errorf("region %q, credentials %q (%v): want the environment's", client.Options().Region, creds.AccessKeyID, err)
	}
}
