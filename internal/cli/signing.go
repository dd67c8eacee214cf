package cli

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
)

// SigningExecuteAPI is the SigV4 signing name of API Gateway: the deployed
// sagequeue API (an HTTP API with IAM authorization) checks signatures made
// for it, while the Batch client signs for "batch".
const SigningExecuteAPI = "execute-api"

// executeAPIHost is the default host of an API Gateway API,
// <api id>.execute-api.<region>.amazonaws.com (amazonaws.com.cn in China);
// its region is the signing region.
// It is compiled on first use, and only for hosts that may match: every
// command pays for what the package initialises.
var executeAPIHost = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+\.execute-api\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$`)
})

// signing returns the SigV4 signing name and region the Batch client must
// use for the endpoint, "" for the SDK's own (batch, the client's region):
//
//   - --signing-name (or SAGEQUEUE_SIGNING_NAME) when given: a custom domain
//     in front of the API, or a proxy that checks signatures for another
//     service;
//   - execute-api, and the region in the host, for an API Gateway endpoint.
func (a *App) signing() (name, region string) {
	name = a.SigningName
	if name == "" && a.Getenv != nil { // an App made by a program, not Main, may have none
		name = a.Getenv("SAGEQUEUE_SIGNING_NAME")
	}
	if a.Endpoint == EndpointAWS {
		return name, ""
	}
	u, err := url.Parse(a.Endpoint)
	if err != nil {
		return name, ""
	}
	if !strings.Contains(u.Hostname(), ".execute-api.") {
		return name, ""
	}
	if m := executeAPIHost().FindStringSubmatch(u.Hostname()); m != nil {
		if name == "" {
			name = SigningExecuteAPI
		}
		return name, m[1]
	}
	return name, ""
}

// signingOptions are the Batch client options that sign for name and
// region: the SDK's supported overrides of the signing name and region
// (batch.WithSigV4SigningName, WithSigV4SigningRegion), which take
// precedence over what endpoint and auth scheme resolution say.
func signingOptions(name, region string) []func(*batch.Options) {
	var opts []func(*batch.Options)
	if name != "" {
		opts = append(opts, batch.WithSigV4SigningName(name))
	}
	if region != "" {
		opts = append(opts, batch.WithSigV4SigningRegion(region))
	}
	return opts
}

// checkSigning refuses, before any request, what a signed request to a
// deployed sagequeue could only fail with: no region to sign for, or no
// credentials to sign with.
func (a *App) checkSigning(ctx context.Context, cfg aws.Config, name string) error {
	if name == "" || a.Endpoint == EndpointAWS {
		return nil
	}
	if cfg.Region == "" {
		return usagef("--region is required to sign requests to %s for %s (its host names no region)", a.Endpoint, name)
	}
	if !hasCredentials(ctx, cfg) {
		return usagef("%s checks SigV4 signatures (%s) and no AWS credentials were found: configure them (aws configure, AWS_PROFILE, --profile)", a.Endpoint, name)
	}
	return nil
}
