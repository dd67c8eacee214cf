package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// localRegion is the region of a sagequeue server when nothing else names one.
const localRegion = "local"

// awsFallbackRegion is the region used with --endpoint aws when the AWS
// config and environment name none.
const awsFallbackRegion = "us-east-1"

// Dummy credentials for a sagequeue server when none are configured: a local
// server does not check signatures, and the SDK will not send a request
// without credentials.
const (
	dummyAccessKey = "sagequeue"
	dummySecretKey = "sagequeue"
)

func checkEndpointURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf(`%q must be an http:// or https:// URL, or "aws"`, s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// Batch returns the Batch client for the global flags, building it on first use.
func (a *App) Batch(ctx context.Context) (*batch.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	isAWS := a.Endpoint == EndpointAWS
	signingName, signingRegion := a.signing() // signing.go
	// A deployed sagequeue (API Gateway, IAM) checks signatures: it takes
	// real credentials, as AWS does.
	signed := isAWS || signingName != ""
	var cfg aws.Config
	plainHTTP := !isAWS && strings.HasPrefix(a.Endpoint, "http://")
	if !signed && a.Profile == "" && a.Region == "" && a.CABundle == "" && nothingToLoad(plainHTTP) {
		// A sagequeue server, and no AWS configuration anywhere: loading
		// would find nothing, so load nothing (it costs a tenth of a local
		// submit's CPU).
		cfg = aws.Config{Region: localRegion, Credentials: credentials.NewStaticCredentialsProvider(dummyAccessKey, dummySecretKey, "")}
		a.anonymous = true
	} else {
		var err error
		if cfg, err = a.loadConfig(ctx, signed, signingName, signingRegion); err != nil {
			return nil, err
		}
	}
	a.client = batch.NewFromConfig(cfg, append([]func(*batch.Options){func(o *batch.Options) {
		if !isAWS {
			o.BaseEndpoint = aws.String(a.Endpoint)
		}
	}}, signingOptions(signingName, signingRegion)...)...)
	return a.client, nil
}

// loadConfig loads the AWS configuration (profile, region, credentials) the
// way the SDK does, with the defaults of a sagequeue server or AWS.
func (a *App) loadConfig(ctx context.Context, signed bool, signingName, signingRegion string) (aws.Config, error) {
	isAWS := a.Endpoint == EndpointAWS
	var opts []func(*config.LoadOptions) error
	if a.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.Profile))
	}
	if a.Region != "" {
		opts = append(opts, config.WithRegion(a.Region))
	}
	if a.CABundle != "" {
		pem, err := os.ReadFile(a.CABundle)
		if err != nil {
			return aws.Config{}, usagef("--ca-bundle: %v", err)
		}
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	if !signed {
		// No instance metadata lookups for a sagequeue server: off EC2 they
		// only add seconds of timeouts before the dummy credentials.
		opts = append(opts, func(o *config.LoadOptions) error {
			o.EC2IMDSClientEnableState = imds.ClientDisabled
			return nil
		})
	}
	load := func() (aws.Config, error) { return config.LoadDefaultConfig(ctx, opts...) }
	if !isAWS && strings.HasPrefix(a.Endpoint, "http://") {
		load = withoutCABundle(load)
	}
	cfg, err := load()
	if err != nil {
		return aws.Config{}, usagef("AWS configuration: %v", err)
	}
	if cfg.Region == "" {
		cfg.Region = signingRegion
	}
	if err := a.checkSigning(ctx, cfg, signingName); err != nil {
		return aws.Config{}, err
	}
	if cfg.Region == "" {
		cfg.Region = localRegion
		if isAWS {
			cfg.Region = awsFallbackRegion
		}
	}
	if !signed && !hasCredentials(ctx, cfg) {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(dummyAccessKey, dummySecretKey, "")
		a.anonymous = true
	}
	return cfg, nil
}

// nothingToLoad reports whether the SDK's configuration loading would find
// nothing: no AWS_* variable in the environment (but AWS_CA_BUNDLE for plain
// HTTP, which does not use it) and no shared config or credentials file.
func nothingToLoad(plainHTTP bool) bool {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") && !(plainHTTP && strings.HasPrefix(kv, caBundleEnv+"=")) {
			return false
		}
	}
	for _, f := range []string{config.DefaultSharedConfigFilename(), config.DefaultSharedCredentialsFilename()} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	return true
}

// caBundleEnv names a file of CA certificates the SDK adds to its HTTP
// client's (config.EnvConfig.CustomCABundle).
const caBundleEnv = "AWS_CA_BUNDLE"

// withoutCABundle makes load ignore AWS_CA_BUNDLE. Plain HTTP has no
// certificates to check, yet the SDK parses the whole bundle while it loads
// the configuration: with a system bundle of ~150 certificates that is
// several milliseconds of CPU, more than a submit to a local server costs.
// The SDK reads the variable only from the environment, so it is unset while
// loading and set again after.
func withoutCABundle(load func() (aws.Config, error)) func() (aws.Config, error) {
	return func() (aws.Config, error) {
		v, set := os.LookupEnv(caBundleEnv)
		if !set {
			return load()
		}
		os.Unsetenv(caBundleEnv)
		defer os.Setenv(caBundleEnv, v)
		return load()
	}
}

// hasCredentials reports whether the AWS credential chain yields credentials.
func hasCredentials(ctx context.Context, cfg aws.Config) bool {
	if cfg.Credentials == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := cfg.Credentials.Retrieve(ctx)
	return err == nil && c.HasKeys()
}

// classifyAPI maps an error returned by the SDK to an exit code and a message.
// ok is false for errors that did not come from an operation.
func (a *App) classifyAPI(cmd *cobra.Command, err error) (code int, msg string, ok bool) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		msg = safe(apiErr.ErrorMessage())
		if msg == "" {
			msg = apiErr.ErrorCode()
		}
		status := 0
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			status = re.HTTPStatusCode()
		}
		switch {
		case apiErr.ErrorCode() == "ServerException" || status >= 500:
			if status >= 500 && msg == apiErr.ErrorCode() {
				msg = fmt.Sprintf("%s (HTTP %d)", msg, status)
			}
			return ExitUnavailable, msg, true
		case isNotFound(apiErr) && cmd != nil && cmd.Annotations[annotationNotFound] != "":
			return ExitNotFound, msg, true
		}
		if status != 0 && status != 400 && msg == apiErr.ErrorCode() {
			msg = fmt.Sprintf("%s (HTTP %d)", msg, status)
		}
		if a.anonymous && authRefusal(apiErr.ErrorCode()) {
			msg += fmt.Sprintf(" (%s checks who calls it, and no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to the keys you were given, or use --profile)", a.Endpoint)
		}
		return ExitRefused, msg, true
	}
	var opErr *smithy.OperationError
	if errors.As(err, &opErr) {
		return ExitUnavailable, a.transportMessage(err), true
	}
	var ce *smithy.CanceledError
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ExitUnavailable, a.transportMessage(err), true
	}
	return 0, "", false
}

// authRefusal reports the error codes of a request the server did not
// authenticate.
func authRefusal(code string) bool {
	switch code {
	case "MissingAuthenticationTokenException", "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException":
		return true
	}
	return false
}

// isNotFound reports whether a Batch error says that the thing asked for does
// not exist.
func isNotFound(apiErr smithy.APIError) bool {
	if apiErr.ErrorCode() != "ClientException" {
		return false
	}
	return strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "not found")
}

// transportMessage says why an operation got no answer from the service.
func (a *App) transportMessage(err error) string {
	where := a.Endpoint
	if where == EndpointAWS {
		where = "AWS Batch"
	}
	var netErr *net.OpError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &certErr):
		return fmt.Sprintf("cannot trust %s: %v; if it is the server's own (self-signed) certificate, give it with --ca-bundle FILE", where, certErr.Err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer from %s: timed out", where)
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.As(err, &netErr):
		hint := ""
		if a.Endpoint != EndpointAWS {
			hint = " (is sagequeue serve running there? --endpoint or SAGEQUEUE_ENDPOINT name the server)"
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return fmt.Sprintf("cannot reach %s: %v%s", where, dnsErr, hint)
		}
		return fmt.Sprintf("cannot reach %s: %v%s", where, netErr.Err, hint)
	}
	var opErr *smithy.OperationError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return fmt.Sprintf("%s: %v", opErr.OperationName, opErr.Err)
	}
	return err.Error()
}
