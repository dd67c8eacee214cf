package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCredentialProcessThroughTheServerBinary: the client binary links none
// of the SDK's credential chain beyond static keys; a profile whose
// credentials come from a credential_process is resolved by the SDK in the
// server binary, which the client runs, and the client signs with what it
// answers: the guarded server takes the request as bob's.
func TestCredentialProcessThroughTheServerBinary(t *testing.T) {
	dir := t.TempDir()
	authFile := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(authFile, []byte(sharedAuthFile(bobSecret, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := StartServer(t, sharedConfig, ServerOptions{Key: aliceKey, Secret: aliceSecret, Args: []string{"--auth-file", authFile}})

	calls := filepath.Join(dir, "calls")
	program := filepath.Join(dir, "bob-creds")
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if err := os.WriteFile(program, []byte("#!/bin/sh\necho called >> "+calls+"\n"+
		"echo '{\"Version\": 1, \"AccessKeyId\": \""+bobKey+"\", \"SecretAccessKey\": \""+bobSecret+"\", \"Expiration\": \""+expires+"\"}'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte("[profile box]\nregion = local\ncredential_process = "+program+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, append([]string{"--endpoint", s.URL, "--profile", "box"}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AWS_CONFIG_FILE=" + config,
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"), "NO_COLOR=1"}
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}

	id, err := cli("submit", "-q", "research", "-n", "from-a-program", "--", "true")
	if err != nil {
		t.Fatalf("submit: %v: %s", err, id)
	}
	if d := s.Describe(id); d.JobId == nil || *d.JobId != id {
		t.Errorf("submitted %q, which the server does not know", id)
	}
	out, err := cli("queue", "update", "research", "--priority", "1")
	if err == nil || !strings.Contains(out, "User: bob is not authorized") {
		t.Errorf("bob updating a queue: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(calls); strings.Count(string(b), "called") != 2 {
		t.Errorf("credential_process ran %d times for two commands", strings.Count(string(b), "called"))
	}
}
