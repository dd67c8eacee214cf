package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	sqserver "github.com/sagequeue/sagequeue/internal/server"
	"github.com/sagequeue/sagequeue/internal/server/servertest"
	"github.com/sagequeue/sagequeue/internal/testcert"
)

const cliAuthFile = `
users:
  - {name: alice, accessKeyId: AKIAALICE0000000001, secret: alice-secret-0123456789, role: admin}
  - {name: bob, accessKeyId: AKIABOB00000000000001, secret: bob-secret-0123456789xy, role: user, queues: [q]}
`

// startGuarded runs serve in-process with an auth file and a self-signed
// certificate, and returns its URL and the certificate's file.
func startGuarded(t *testing.T) (url, caBundle string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"config.yaml": liveConfig, "auth.yaml": cliAuthFile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.Write(t, cert, key, "sagequeue test")
	addr := servertest.Run(t, sqserver.Options{
		DataDir: filepath.Join(dir, "data"), ConfigFile: filepath.Join(dir, "config.yaml"),
		AuthFile: filepath.Join(dir, "auth.yaml"), TLSCert: cert, TLSKey: key,
	})
	return "https://" + addr, cert
}

// TestCLIAgainstAGuardedServer: the CLI signs with the credentials of the
// environment or a profile, trusts a self-signed certificate given with
// --ca-bundle, and says what to do when the server wants credentials.
func TestCLIAgainstAGuardedServer(t *testing.T) {
	url, ca := startGuarded(t)

	r := runCLI(t, url, "", "queue", "describe")
	wantCode(t, r, ExitUnavailable)
	if !strings.Contains(r.stderr, "cannot trust "+url+": x509: certificate signed by unknown authority; if it is the server's own (self-signed) certificate, give it with --ca-bundle FILE") {
		t.Errorf("without --ca-bundle the error should be about the certificate: %s", r.stderr)
	}
	r = runCLI(t, url, "", "--ca-bundle", filepath.Join(t.TempDir(), "missing.pem"), "queue", "describe")
	wantCode(t, r, ExitUsage)

	r = runCLI(t, url, "", "--ca-bundle", ca, "queue", "describe")
	wantCode(t, r, ExitRefused)
	if !strings.Contains(r.stderr, "Missing Authentication Token") && !strings.Contains(r.stderr, "security token included in the request is invalid") ||
		!strings.Contains(r.stderr, "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Errorf("without credentials: %s", r.stderr)
	}

	// Keys in the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIABOB00000000000001")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "bob-secret-0123456789xy")
	r = runCLI(t, url, "", "--ca-bundle", ca, "submit", "-q", "q", "-n", "bobs", "--", "true")
	wantCode(t, r, ExitOK)
	r = runCLI(t, url, "", "--ca-bundle", ca, "submit", "-q", "fair", "--share", "a", "-n", "not-his", "--", "true")
	wantCode(t, r, ExitRefused)
	if !strings.Contains(r.stderr, "User: bob is not authorized to perform: batch:SubmitServiceJob on resource: arn:aws:batch:local:000000000000:job-queue/fair") {
		t.Errorf("a submission to another queue: %s", r.stderr)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
	r = runCLI(t, url, "", "--ca-bundle", ca, "queue", "describe")
	wantCode(t, r, ExitRefused)
	if !strings.Contains(r.stderr, "signature we calculated does not match") || strings.Contains(r.stderr, "no AWS credentials were found") {
		t.Errorf("a wrong secret: %s", r.stderr)
	}

	// A profile of the shared credentials file, and AWS_CA_BUNDLE.
	os.Unsetenv("AWS_ACCESS_KEY_ID")
	os.Unsetenv("AWS_SECRET_ACCESS_KEY")
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[gpu-box]\naws_access_key_id = AKIAALICE0000000001\naws_secret_access_key = alice-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CA_BUNDLE", ca)
	r = runCLI(t, url, "", "--profile", "gpu-box", "queue", "update", "q", "--priority", "11")
	wantCode(t, r, ExitOK)
}
