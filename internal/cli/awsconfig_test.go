package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/awsconf/full"
)

// withProfileFile points the AWS config file at a file holding text.
func withProfileFile(t *testing.T, text string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", path)
}

// fakeServerBinary writes a stand-in for the server binary that records its
// arguments and runs script, and returns its path and the record's.
func fakeServerBinary(t *testing.T, script string) (bin, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	bin, argsFile = filepath.Join(dir, ServerBinary), filepath.Join(dir, "args")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$*\" >> "+argsFile+"\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

// TestDelegatedAWSConfiguration: what the client does not resolve itself
// (here a credential_process) it asks the server binary for, passing the
// global flags; it signs with what comes back, and relays a refusal.
func TestDelegatedAWSConfiguration(t *testing.T) {
	srv := newAuthServer(t)
	withProfileFile(t, "[profile tool]\ncredential_process = /no/such/program\n")
	bin, argsFile := fakeServerBinary(t, `echo '{"region":"eu-west-3","credentials":{"accessKeyId":"AKIDFROMSDK","secretAccessKey":"s","sessionToken":"tok","expires":"`+
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}}'`)
	run := func(args ...string) result {
		var out, errb bytes.Buffer
		a := &App{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			switch k {
			case "SAGEQUEUE_SERVER":
				return bin
			case "SAGEQUEUE_ENDPOINT":
				return srv.URL
			}
			return ""
		}}
		code := a.Run(t.Context(), args)
		return result{code: code, stdout: out.String(), stderr: errb.String()}
	}
	wantCode(t, run("--profile", "tool", "env", "describe"), ExitOK)
	if auth := srv.last(t); !strings.Contains(auth, "Credential=AKIDFROMSDK/") || !strings.Contains(auth, "/eu-west-3/batch/aws4_request") {
		t.Errorf("Authorization %q: want the server binary's credentials and region", auth)
	}
	b, _ := os.ReadFile(argsFile)
	if got, want := strings.TrimSpace(string(b)), "--endpoint "+srv.URL+" --profile tool credentials"; got != want {
		t.Errorf("the server binary ran with %q, want %q", got, want)
	}

	// Keys in the environment need no server binary, even with the profile.
	os.Remove(argsFile)
	t.Setenv("AWS_PROFILE", "tool")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	wantCode(t, run("env", "describe"), ExitOK)
	if auth := srv.last(t); !strings.Contains(auth, "Credential=AKIDENV/") {
		t.Errorf("Authorization %q: want the environment's keys", auth)
	}
	if _, err := os.Stat(argsFile); err == nil {
		t.Error("the server binary ran for keys in the environment")
	}

	// The SDK's refusal is the command's.
	bin, _ = fakeServerBinary(t, "echo 'sagequeue: AWS configuration: failed to get shared config profile, tool' >&2\nexit 2\n")
	r := run("--profile", "tool", "env", "describe")
	wantCode(t, r, ExitUsage)
	if r.stderr != "sagequeue: AWS configuration: failed to get shared config profile, tool\n" {
		t.Errorf("stderr %q", r.stderr)
	}

	// Without a server binary, the message says what needs it.
	t.Setenv("PATH", t.TempDir())
	bin = ""
	r = run("--profile", "tool", "env", "describe")
	wantCode(t, r, ExitUsage)
	for _, want := range []string{"profile tool sets credential_process", "resolved by the AWS SDK in the server binary " + ServerBinary, "go build -o bin/ ./cmd/..."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
}

// TestServerBinaryResolvesWithTheSDK: in the server binary, the same
// profile is resolved in-process by the SDK, and the hidden credentials
// command prints it.
func TestServerBinaryResolvesWithTheSDK(t *testing.T) {
	srv := newAuthServer(t)
	dir := t.TempDir()
	program := filepath.Join(dir, "creds.sh")
	if err := os.WriteFile(program, []byte(`#!/bin/sh
echo '{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "s"}'
`), 0o755); err != nil {
		t.Fatal(err)
	}
	withProfileFile(t, "[profile tool]\nregion = ap-east-1\ncredential_process = "+program+"\n")
	var out, errb bytes.Buffer
	a := &App{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Server: ServerParts{AWSConfig: full.Load}}
	if code := a.Run(t.Context(), []string{"--endpoint", srv.URL, "--profile", "tool", "env", "describe"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if auth := srv.last(t); !strings.Contains(auth, "Credential=AKIDPROCESS/") || !strings.Contains(auth, "/ap-east-1/batch/aws4_request") {
		t.Errorf("Authorization %q: want credential_process's keys in ap-east-1", auth)
	}
	a = &App{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Server: ServerParts{AWSConfig: full.Load}}
	out.Reset()
	if code := a.Run(t.Context(), []string{"--endpoint", srv.URL, "--profile", "tool", "credentials"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got := out.String(); !strings.Contains(got, `"region":"ap-east-1"`) || !strings.Contains(got, `"accessKeyId":"AKIDPROCESS"`) {
		t.Errorf("credentials printed %s", got)
	}
}
