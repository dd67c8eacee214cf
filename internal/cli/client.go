package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// localRegion is the region of a sagequeue server when nothing else names one.
const localRegion = "local"

// awsFallbackRegion is the region used with --endpoint aws when the AWS
// config and environment name none.
const awsFallbackRegion = "us-east-1"

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
	req := a.awsRequest()
	signingName, signingRegion := a.signing() // signing.go
	r, err := a.resolveAWS(ctx, req)          // awsconfig.go
	if err != nil {
		return nil, err
	}
	cfg := aws.Config{
		Region:           r.Region,
		RetryMode:        aws.RetryMode(r.RetryMode),
		RetryMaxAttempts: r.MaxAttempts,
		AppID:            r.AppID,
		DefaultsMode:     aws.DefaultsMode(r.DefaultsMode),
	}
	switch {
	case !req.HTTPS:
		cfg.HTTPClient = newOneShotHTTP() // oneshot.go
	case r.CABundle != "":
		if cfg.HTTPClient, err = caBundleClient(r.CABundle); err != nil {
			return nil, err
		}
	}
	cfg.Credentials = a.credentialsProvider(req, r)
	if cfg.Region == "" {
		cfg.Region = signingRegion
	}
	if err := a.checkSigning(ctx, cfg, signingName); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = localRegion
		if req.AWS {
			cfg.Region = awsFallbackRegion
		}
	}
	a.client = batch.NewFromConfig(cfg, append([]func(*batch.Options){func(o *batch.Options) {
		switch {
		case !req.AWS:
			o.BaseEndpoint = aws.String(a.Endpoint)
		case r.BaseEndpoint != "":
			o.BaseEndpoint = aws.String(r.BaseEndpoint)
		}
		if r.UseFIPS {
			o.EndpointOptions.UseFIPSEndpoint = aws.FIPSEndpointStateEnabled
		}
		if r.UseDualStack {
			o.EndpointOptions.UseDualStackEndpoint = aws.DualStackEndpointStateEnabled
		}
	}}, signingOptions(signingName, signingRegion)...)...)
	return a.client, nil
}

// hasCredentials reports whether the client's configuration yields credentials.
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
