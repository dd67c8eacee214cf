// Package full resolves the client's AWS configuration with the AWS SDK's
// own loader (config.LoadDefaultConfig): every credential source the SDK
// knows (SSO, assumed roles, credential_process, web identity, container
// and instance credentials) and every endpoint setting. It links the SDK's
// STS, SSO, SSO-OIDC and sign-in clients, so only the server binary uses
// it: the client resolves the common cases itself (package awsconf) and
// asks the server binary for the rest (`sagequeue-server credentials`).
package full

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/sagequeue/sagequeue/internal/awsconf"
)

// unsignedWait bounds the search for credentials that an endpoint which
// does not require them may go without.
const unsignedWait = 5 * time.Second

// Load resolves req as the SDK does. Credentials it cannot find are no
// error: Resolved.CredentialsError says why, and the client decides.
func Load(ctx context.Context, req awsconf.Request) (awsconf.Resolved, error) {
	var opts []func(*config.LoadOptions) error
	if req.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(req.Profile))
	}
	if req.Region != "" {
		opts = append(opts, config.WithRegion(req.Region))
	}
	if req.CABundle != "" {
		pem, err := os.ReadFile(req.CABundle)
		if err != nil {
			return awsconf.Resolved{}, fmt.Errorf("--ca-bundle: %w", err)
		}
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	if !req.Signed {
		// No instance metadata for an endpoint that does not require
		// credentials: off EC2 it only adds seconds of timeouts.
		opts = append(opts, func(o *config.LoadOptions) error {
			o.EC2IMDSClientEnableState = imds.ClientDisabled
			return nil
		})
	}
	load := func() (aws.Config, error) { return config.LoadDefaultConfig(ctx, opts...) }
	if !req.HTTPS {
		load = withoutCABundle(load)
	}
	cfg, err := load()
	if err != nil {
		return awsconf.Resolved{}, err
	}
	r := awsconf.Resolved{
		Region:      cfg.Region,
		RetryMode:   string(cfg.RetryMode),
		MaxAttempts: cfg.RetryMaxAttempts,
		AppID:       cfg.AppID,
	}
	if cfg.DefaultsMode != aws.DefaultsModeLegacy { // legacy: none set
		r.DefaultsMode = string(cfg.DefaultsMode)
	}
	if cfg.Credentials != nil {
		rctx := ctx
		if !req.Signed {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(ctx, unsignedWait)
			defer cancel()
		}
		c, err := cfg.Credentials.Retrieve(rctx)
		switch {
		case err != nil:
			r.CredentialsError = err.Error()
		case c.HasKeys():
			r.Credentials = &awsconf.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
				SessionToken: c.SessionToken, Source: c.Source}
			if c.CanExpire {
				exp := c.Expires
				r.Credentials.Expires = &exp
			}
		}
	}
	if req.AWS {
		// What the Batch client makes of the endpoint settings (a
		// service-specific endpoint_url, FIPS, dual-stack).
		o := batch.NewFromConfig(cfg).Options()
		r.BaseEndpoint = aws.ToString(o.BaseEndpoint)
		r.UseFIPS = o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled
		r.UseDualStack = o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled
	}
	if req.HTTPS {
		r.CABundle, err = caBundle(ctx, req)
		if err != nil {
			return awsconf.Resolved{}, err
		}
	}
	return r, nil
}

// withoutCABundle makes load ignore AWS_CA_BUNDLE, which plain HTTP does
// not use: the SDK would read and parse the file (and fail on a missing
// one) all the same. The SDK reads the variable only from the environment,
// so it is unset while loading and set again after.
func withoutCABundle(load func() (aws.Config, error)) func() (aws.Config, error) {
	return func() (aws.Config, error) {
		v, set := os.LookupEnv("AWS_CA_BUNDLE")
		if !set {
			return load()
		}
		os.Unsetenv("AWS_CA_BUNDLE")
		defer os.Setenv("AWS_CA_BUNDLE", v)
		return load()
	}
}

// caBundle is the CA bundle's file as the SDK picks it: --ca-bundle, then
// AWS_CA_BUNDLE, then the profile's ca_bundle.
func caBundle(ctx context.Context, req awsconf.Request) (string, error) {
	if req.CABundle != "" {
		return req.CABundle, nil
	}
	if v := os.Getenv("AWS_CA_BUNDLE"); v != "" {
		return v, nil
	}
	profile := req.Profile
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		if profile == "" {
			profile = os.Getenv(k)
		}
	}
	if profile == "" {
		profile = config.DefaultSharedConfigProfile
	}
	var files []func(*config.LoadSharedConfigOptions)
	if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
		files = append(files, func(o *config.LoadSharedConfigOptions) { o.ConfigFiles = []string{f} })
	}
	if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		files = append(files, func(o *config.LoadSharedConfigOptions) { o.CredentialsFiles = []string{f} })
	}
	sc, err := config.LoadSharedConfigProfile(ctx, profile, files...)
	if err != nil {
		// LoadDefaultConfig accepted the files: the profile is merely
		// absent.
		return "", nil
	}
	return sc.CustomCABundle, nil
}
