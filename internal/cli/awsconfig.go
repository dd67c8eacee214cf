package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/spf13/cobra"

	"github.com/sagequeue/sagequeue/internal/awsconf"
)

// The client's AWS configuration: region, credentials, CA bundle and
// retries come from package awsconf, which reads the environment and the
// shared files as the SDK does for the common cases. What only the SDK's
// own loader resolves (SSO, assumed roles, credential_process, web
// identity, container and instance credentials) the server binary
// resolves: in-process there (ServerParts.AWSConfig), and for the client by
// running `sagequeue-server credentials`, which prints the result as JSON.
// The client binary so links none of the SDK's STS, SSO, SSO-OIDC and
// sign-in clients, which cost a quarter of a submit's CPU at start-up.

func init() { register(groupServer, []string{credentialsCmd}, newCredentialsCmd) }

// awsRequest is what the global flags ask of the AWS configuration.
func (a *App) awsRequest() awsconf.Request {
	isAWS := a.Endpoint == EndpointAWS
	signingName, _ := a.signing()
	return awsconf.Request{
		Profile:  a.Profile,
		Region:   a.Region,
		CABundle: a.CABundle,
		// A deployed sagequeue (API Gateway, IAM) checks signatures: it
		// takes real credentials, as AWS does.
		Signed: isAWS || signingName != "",
		AWS:    isAWS,
		HTTPS:  isAWS || strings.HasPrefix(a.Endpoint, "https://"),
	}
}

// resolveAWS resolves the AWS configuration for req, asking the SDK (in the
// server binary) only when awsconf cannot answer.
func (a *App) resolveAWS(ctx context.Context, req awsconf.Request) (awsconf.Resolved, error) {
	r, err := awsconf.Resolve(req)
	if err != nil {
		return r, usagef("AWS configuration: %v", err)
	}
	if r.Delegate == "" {
		return r, nil
	}
	return a.delegateAWS(ctx, req, r.Delegate)
}

// delegateAWS resolves req with the AWS SDK's loader: in-process in the
// server binary, else by running it. why says what needs the SDK.
func (a *App) delegateAWS(ctx context.Context, req awsconf.Request, why string) (awsconf.Resolved, error) {
	if a.Server.AWSConfig != nil {
		r, err := a.Server.AWSConfig(ctx, req)
		if err != nil {
			return r, usagef("AWS configuration: %v", err)
		}
		return r, nil
	}
	path, err := a.findServerBinary("the AWS configuration (" + why + ") is resolved by the AWS SDK")
	if err != nil {
		return awsconf.Resolved{}, err
	}
	args := []string{"--endpoint", a.Endpoint}
	for _, f := range []struct{ name, v string }{
		{"--profile", a.Profile}, {"--region", a.Region}, {"--ca-bundle", a.CABundle}, {"--signing-name", a.SigningName},
	} {
		if f.v != "" {
			args = append(args, f.name, f.v)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append(args, credentialsCmd)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	// What the SDK's helpers said (a credential_process's warnings) is
	// the user's to see; the last line of a failure is the error.
	said := strings.TrimSpace(stderr.String())
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		before, last := "", said
		if i := strings.LastIndexByte(said, '\n'); i >= 0 {
			before, last = said[:i+1], said[i+1:]
		}
		io.WriteString(a.Stderr, before)
		msg := strings.TrimPrefix(strings.TrimSpace(last), "sagequeue: ")
		if msg == "" {
			msg = fmt.Sprintf("%s %s ended with exit code %d", path, credentialsCmd, exit.ExitCode())
		}
		return awsconf.Resolved{}, &exitError{code: exit.ExitCode(), err: errors.New(msg)}
	}
	if said != "" {
		fmt.Fprintln(a.Stderr, said)
	}
	if err != nil {
		return awsconf.Resolved{}, usagef("running %s: %v", path, err)
	}
	var r awsconf.Resolved
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, usagef("%s %s answered %q: %v", path, credentialsCmd, firstLine(stdout.String()), err)
	}
	return r, nil
}

// credentialsProvider is what the client signs with: the resolved
// credentials, refreshed through the SDK when they expire; placeholder ones
// for an endpoint that may not check signatures; or an error saying why
// there are none.
func (a *App) credentialsProvider(req awsconf.Request, r awsconf.Resolved) aws.CredentialsProvider {
	c := r.Credentials
	switch {
	case c == nil && !req.Signed:
		// A local server does not check signatures: the request goes
		// unsigned (the SDK skips signing for anonymous credentials, which
		// spares the hashing of every request).
		a.anonymous = true
		return aws.AnonymousCredentials{}
	case c == nil:
		why := r.CredentialsError
		if why == "" {
			why = "no AWS credentials were found: configure them (aws configure, AWS_PROFILE, --profile)"
		}
		return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return aws.Credentials{}, errors.New(why) })
	case c.Expires == nil:
		return credentials.StaticCredentialsProvider{Value: awsCredentials(c)}
	default:
		return aws.NewCredentialsCache(&delegated{a: a, req: req, next: c})
	}
}

func awsCredentials(c *awsconf.Credentials) aws.Credentials {
	out := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Source: c.Source}
	if c.Expires != nil {
		out.CanExpire, out.Expires = true, *c.Expires
	}
	return out
}

// delegated are credentials that expire (a role's, SSO's): the SDK in the
// server binary renews them.
type delegated struct {
	a    *App
	req  awsconf.Request
	next *awsconf.Credentials // the first ones, already resolved
}

func (d *delegated) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c := d.next
	d.next = nil
	if c == nil {
		r, err := d.a.delegateAWS(ctx, d.req, "renewing expired credentials")
		if err != nil {
			return aws.Credentials{}, err
		}
		if c = r.Credentials; c == nil {
			return aws.Credentials{}, fmt.Errorf("renewing expired credentials: %s", r.CredentialsError)
		}
	}
	return awsCredentials(c), nil
}

// caBundleClient is an HTTP client that trusts the certificates of a PEM
// file instead of the system's, as the SDK's AWS_CA_BUNDLE does.
func caBundleClient(path string) (*awshttp.BuildableClient, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("CA bundle: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("CA bundle %s holds no PEM certificate", path)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
	}), nil
}

// credentialsCmd is the hidden command of the server binary that resolves
// the AWS configuration for the client.
const credentialsCmd = "credentials"

func newCredentialsCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:    credentialsCmd,
		Hidden: true,
		Short:  "Print the AWS configuration (credentials included) that the AWS SDK resolves for the global flags, as JSON",
		Long: `Print, as JSON, the AWS configuration that the AWS SDK resolves for the global
flags (--endpoint, --profile, --region, --ca-bundle, --signing-name) and the
environment: region, credentials with their expiry, CA bundle, retries.
The client runs it in the server binary for what it does not resolve itself
(SSO, assumed roles, credential_process, web identity, container and
instance credentials). The output holds secrets.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.Server.AWSConfig == nil {
				return a.runServerBinary(cmd)
			}
			r, err := a.delegateAWS(cmd.Context(), a.awsRequest(), "")
			if err != nil {
				return err
			}
			return json.NewEncoder(a.Stdout).Encode(r)
		},
	}
}
