// Package awsconf resolves the AWS configuration the sagequeue client needs
// — region, credentials, CA bundle, retries — from the environment and the
// shared config and credentials files, the way the AWS SDK for Go v2 does,
// without linking the SDK's config package. That package links the STS,
// SSO, SSO-OIDC and sign-in clients (for assumed roles, SSO and console
// logins), whose initialisation cost a quarter of a `sagequeue submit`.
//
// Resolve answers the common cases itself: no configuration at all, keys in
// the environment, and profiles that hold static keys. For everything else
// the SDK's chain does (SSO, role_arn and source_profile, credential_process,
// web identity, container and instance credentials, endpoint settings for
// AWS itself) it says so in Resolved.Delegate, and the client asks the
// server binary, which runs the SDK's own loader (package full) and answers
// with the same Resolved. So no user of profiles or SSO loses anything;
// they pay the server binary's start-up instead.
package awsconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Request is what the client asks for.
type Request struct {
	// Profile is --profile (a profile named in code: its credentials win
	// over the environment's, as with the SDK's WithSharedConfigProfile).
	Profile string
	// Region is --region.
	Region string
	// CABundle is --ca-bundle.
	CABundle string
	// Signed: the endpoint checks signatures for sure (AWS, or API
	// Gateway), so the SDK's last resort, instance metadata (IMDS), is
	// worth asking. Other endpoints get placeholder credentials when none
	// are configured.
	Signed bool
	// AWS: the endpoint is AWS itself, where the SDK's endpoint settings
	// (endpoint_url, FIPS, dual-stack) apply.
	AWS bool
	// HTTPS: the endpoint speaks TLS, so a CA bundle matters.
	HTTPS bool
	// LookupEnv reads the environment (os.LookupEnv when nil).
	LookupEnv func(string) (string, bool)
}

// Resolved is the configuration for the client. The server binary prints it
// as JSON when it answers for the SDK.
type Resolved struct {
	Region string `json:"region,omitempty"`
	// Credentials are nil when none were found.
	Credentials *Credentials `json:"credentials,omitempty"`
	// CredentialsError says why the SDK found no credentials, when it
	// looked and failed.
	CredentialsError string `json:"credentialsError,omitempty"`
	// CABundle is the PEM file of the certificates to trust for HTTPS
	// instead of the system's.
	CABundle    string `json:"caBundle,omitempty"`
	RetryMode   string `json:"retryMode,omitempty"`
	MaxAttempts int    `json:"maxAttempts,omitempty"`
	AppID       string `json:"appId,omitempty"`
	// For AWS itself: what the SDK's endpoint settings resolve to.
	BaseEndpoint string `json:"baseEndpoint,omitempty"`
	UseFIPS      bool   `json:"useFIPS,omitempty"`
	UseDualStack bool   `json:"useDualStack,omitempty"`
	DefaultsMode string `json:"defaultsMode,omitempty"`

	// Delegate, when not "", says what only the SDK's own loader can
	// resolve: the other fields are then not to be used.
	Delegate string `json:"-"`
}

// Credentials are AWS credentials.
type Credentials struct {
	AccessKeyID     string     `json:"accessKeyId"`
	SecretAccessKey string     `json:"secretAccessKey"`
	SessionToken    string     `json:"sessionToken,omitempty"`
	Expires         *time.Time `json:"expires,omitempty"`
	// Source says where they came from (for messages).
	Source string `json:"source,omitempty"`
}

// Keys of the shared files that Resolve reads.
const (
	keyAccessKeyID     = "aws_access_key_id"
	keySecretAccessKey = "aws_secret_access_key"
	keySessionToken    = "aws_session_token"
	keyRegion          = "region"
	keyCABundle        = "ca_bundle"
	keyRetryMode       = "retry_mode"
	keyMaxAttempts     = "max_attempts"
	keyAppID           = "sdk_ua_app_id"
)

// credentialKeys are the keys of a profile that name a way to get
// credentials other than static keys: only the SDK resolves those.
var credentialKeys = []string{
	"role_arn", "source_profile", "credential_source", "web_identity_token_file", "credential_process",
	"sso_session", "sso_start_url", "sso_region", "sso_account_id", "sso_role_name", "login_session",
}

// endpointKeys are the keys of a profile that change the endpoint of AWS
// itself; a sagequeue endpoint is given outright, so they do not apply to it.
var endpointKeys = []string{"endpoint_url", "services", "ignore_configured_endpoint_urls", "use_fips_endpoint", "use_dualstack_endpoint"}

// endpointEnv are the variables that do the same.
var endpointEnv = []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BATCH", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"}

// ignoredKeys are keys of a profile that the SDK reads without error and
// that change nothing for a Batch client (or that only the AWS CLI reads):
// a profile with them is still answered here. A key in none of these lists
// sends the profile to the SDK, which knows what it means.
var ignoredKeys = map[string]bool{
	"output": true, "s3": true, "s3_use_arn_region": true, "s3_disable_multiregion_access_points": true,
	"s3_disable_express_session_auth": true, "endpoint_discovery_enabled": true, "aws_account_id": true,
	"external_id": true, "mfa_serial": true, "role_session_name": true, "duration_seconds": true,
	"ec2_metadata_service_endpoint": true, "ec2_metadata_v1_disabled": true, "parameter_validation": true,
	"tcp_keepalive": true, "api_versions": true, "metadata_service_timeout": true, "metadata_service_num_attempts": true,
}

// Resolve resolves what it can of req; see the package comment. An error is
// a configuration the SDK refuses too (a profile named that does not exist).
func Resolve(req Request) (Resolved, error) {
	lookup := req.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	// The SDK takes an empty variable for an unset one.
	env := func(k string) string {
		v, _ := lookup(k)
		return v
	}
	var r Resolved

	// The profile: --profile, then AWS_PROFILE, AWS_DEFAULT_PROFILE. One
	// named by --profile or AWS_PROFILE must exist; the default need not.
	name, mustExist := req.Profile, req.Profile != "" || env("AWS_PROFILE") != ""
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		if name == "" {
			name = env(k)
		}
	}
	if name == "" {
		name = "default"
	}
	home := env("HOME")
	configFile, credentialsFile := env("AWS_CONFIG_FILE"), env("AWS_SHARED_CREDENTIALS_FILE")
	if configFile == "" && home != "" {
		configFile = filepath.Join(home, ".aws", "config")
	}
	if credentialsFile == "" && home != "" {
		credentialsFile = filepath.Join(home, ".aws", "credentials")
	}
	profile := profiles(readINI(configFile), readINI(credentialsFile))[name]
	if profile == nil {
		if mustExist {
			return r, fmt.Errorf("failed to get shared config profile, %s", name)
		}
		profile = &section{values: map[string]string{}}
	}
	if profile.partial {
		return delegate(fmt.Sprintf("profile %s holds partial credentials", name))
	}
	for k := range profile.values {
		if !knownKey(k) {
			return delegate(fmt.Sprintf("profile %s sets %s", name, k))
		}
	}
	if req.AWS {
		for _, k := range endpointKeys {
			if profile.has(k) {
				return delegate(fmt.Sprintf("profile %s sets %s", name, k))
			}
		}
		for _, k := range endpointEnv {
			if env(k) != "" {
				return delegate(k + " is set")
			}
		}
	}
	if env("AWS_DEFAULTS_MODE") != "" || profile.has("defaults_mode") {
		return delegate("a defaults mode is set")
	}

	// Credentials, in the order of the SDK's chain: a profile named in
	// code; keys in the environment; a web identity in the environment;
	// the profile's own (static keys here, anything else by the SDK);
	// container credentials; instance metadata.
	fromProfile := func() (string, error) {
		for _, k := range credentialKeys {
			if profile.has(k) {
				return fmt.Sprintf("profile %s sets %s", name, k), nil
			}
		}
		id, secret := profile.values[keyAccessKeyID], profile.values[keySecretAccessKey]
		if id != "" && secret != "" {
			r.Credentials = &Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: profile.values[keySessionToken],
				Source: "profile " + name}
			return "", nil
		}
		if env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" || env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "" {
			return "container credentials (AWS_CONTAINER_CREDENTIALS_*)", nil
		}
		if req.Signed && !strings.EqualFold(env("AWS_EC2_METADATA_DISABLED"), "true") {
			return "instance metadata (IMDS)", nil
		}
		return "", nil
	}
	envID, envSecret := firstEnv(env, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), firstEnv(env, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	var why string
	switch {
	case req.Profile != "":
		why, _ = fromProfile()
	case envID != "" && envSecret != "":
		r.Credentials = &Credentials{AccessKeyID: envID, SecretAccessKey: envSecret, SessionToken: env("AWS_SESSION_TOKEN"), Source: "environment"}
	case env("AWS_WEB_IDENTITY_TOKEN_FILE") != "":
		why = "AWS_WEB_IDENTITY_TOKEN_FILE is set"
	default:
		why, _ = fromProfile()
	}
	if why != "" {
		return delegate(why)
	}

	r.Region = firstOf(req.Region, env("AWS_REGION"), env("AWS_DEFAULT_REGION"), profile.values[keyRegion])
	if req.HTTPS {
		r.CABundle = firstOf(req.CABundle, env("AWS_CA_BUNDLE"), profile.values[keyCABundle])
	}
	r.AppID = firstOf(env("AWS_SDK_UA_APP_ID"), profile.values[keyAppID])

	// Retries. The SDK refuses a bad value in the profile even where the
	// environment overrides it; such values are left to it, so that the
	// message is its own.
	if v, ok := profile.values[keyMaxAttempts]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return delegate(fmt.Sprintf("profile %s: max_attempts is not a number", name))
		}
		r.MaxAttempts = int(n)
	}
	if v := env("AWS_MAX_ATTEMPTS"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return delegate("AWS_MAX_ATTEMPTS is not a number")
		}
		if n != 0 { // the SDK takes 0 for unset
			r.MaxAttempts = int(n)
		}
	}
	for _, mode := range []struct {
		v   string
		set bool
	}{{profile.values[keyRetryMode], profile.has(keyRetryMode)}, {env("AWS_RETRY_MODE"), env("AWS_RETRY_MODE") != ""}} {
		if !mode.set {
			continue
		}
		if mode.v != "standard" && mode.v != "adaptive" {
			return delegate(fmt.Sprintf("retry mode %q is neither standard nor adaptive", mode.v))
		}
		r.RetryMode = mode.v
	}
	return r, nil
}

// delegate is the answer for what only the SDK resolves.
func delegate(why string) (Resolved, error) { return Resolved{Delegate: why}, nil }

// knownKey reports whether Resolve knows what a profile's key means for
// the client.
func knownKey(k string) bool {
	switch k {
	case keyAccessKeyID, keySecretAccessKey, keySessionToken, keyRegion, keyCABundle, keyRetryMode, keyMaxAttempts, keyAppID, "defaults_mode":
		return true
	}
	for _, list := range [][]string{credentialKeys, endpointKeys} {
		for _, c := range list {
			if k == c {
				return true
			}
		}
	}
	return ignoredKeys[k] || strings.HasPrefix(k, "cli_")
}

func firstEnv(env func(string) string, keys ...string) string {
	for _, k := range keys {
		if v := env(k); v != "" {
			return v
		}
	}
	return ""
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
