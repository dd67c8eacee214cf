package full

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagequeue/sagequeue/internal/awsconf"
)

// TestCredentialProcess: what the client leaves to the SDK, the SDK
// resolves: a profile whose credentials come from a program, with their
// expiry, and the profile's region.
func TestCredentialProcess(t *testing.T) {
	dir := t.TempDir()
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	script := filepath.Join(dir, "creds.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", "+
		"\"SecretAccessKey\": \"s\", \"SessionToken\": \"tok\", \"Expiration\": \""+expires.Format(time.RFC3339)+"\"}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte("[profile tool]\nregion = eu-west-3\ncredential_process = "+script+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
			os.Unsetenv(k)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", config)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))

	req := awsconf.Request{Profile: "tool"}
	if r, err := awsconf.Resolve(req); err != nil || r.Delegate == "" {
		t.Fatalf("Resolve answered %+v, %v itself: want it left to the SDK", r, err)
	}
	r, err := Load(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Credentials
	if r.Region != "eu-west-3" || c == nil || c.AccessKeyID != "AKIDPROCESS" || c.SecretAccessKey != "s" || c.SessionToken != "tok" ||
		c.Expires == nil || !c.Expires.Equal(expires) {
		t.Fatalf("got %+v, credentials %+v: want the program's, expiring at %s, and region eu-west-3", r, c, expires)
	}

	// A program that fails leaves no credentials, and says why.
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'token expired: run aws sso login' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err = Load(t.Context(), req)
	if err != nil || r.Credentials != nil || !strings.Contains(r.CredentialsError, "credential_process") && !strings.Contains(r.CredentialsError, "exit status 1") {
		t.Fatalf("a failing credential_process: %+v, %v", r, err)
	}
}
