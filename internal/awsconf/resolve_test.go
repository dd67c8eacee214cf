package awsconf_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagequeue/sagequeue/internal/awsconf"
	"github.com/sagequeue/sagequeue/internal/awsconf/full"
	"github.com/sagequeue/sagequeue/internal/testcert"
)

// resolveCase is one rule of the resolution: the environment, the shared
// files (written to a temporary HOME, or where the environment points with
// "$DIR/..."), the request, and what Resolve answers.
type resolveCase struct {
	env         map[string]string
	config      string // ~/.aws/config
	credentials string // ~/.aws/credentials
	files       map[string]string
	req         awsconf.Request

	want     awsconf.Resolved // Delegate only tested for "" or not
	delegate bool
	err      string
}

func creds(id, secret, token string) *awsconf.Credentials {
	return &awsconf.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}
}

var resolveCases = map[string]resolveCase{
	"nothing configured": {},
	"keys in the environment": {
		env:  map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok"},
		want: awsconf.Resolved{Credentials: creds("AKIDENV", "s", "tok")},
	},
	"the legacy names of the keys": {
		env:  map[string]string{"AWS_ACCESS_KEY": "AKIDOLD", "AWS_SECRET_KEY": "s"},
		want: awsconf.Resolved{Credentials: creds("AKIDOLD", "s", "")},
	},
	"an access key without a secret is no credentials": {
		env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV"},
	},
	"AWS_REGION over AWS_DEFAULT_REGION": {
		env:  map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"},
		want: awsconf.Resolved{Region: "eu-west-1"},
	},
	"AWS_DEFAULT_REGION alone": {
		env:  map[string]string{"AWS_DEFAULT_REGION": "us-west-2"},
		want: awsconf.Resolved{Region: "us-west-2"},
	},
	"--region over the environment and the profile": {
		env:    map[string]string{"AWS_REGION": "eu-west-1"},
		config: "[default]\nregion = ap-south-1\n",
		req:    awsconf.Request{Region: "ca-central-1"},
		want:   awsconf.Resolved{Region: "ca-central-1"},
	},
	"the environment's region over the profile's": {
		env:    map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"},
		config: "[default]\nregion = ap-south-1\n",
		want:   awsconf.Resolved{Region: "eu-west-1"},
	},
	"the default profile of the credentials file": {
		credentials: "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s\n",
		want:        awsconf.Resolved{Credentials: creds("AKIDDEFAULT", "s", "")},
	},
	"the default profile of the config file, as aws configure writes it": {
		config: "[default]\nregion = eu-central-1\noutput = json\ncli_pager =\naws_access_key_id = AKIDCONF\naws_secret_access_key = s\n",
		want:   awsconf.Resolved{Region: "eu-central-1", Credentials: creds("AKIDCONF", "s", "")},
	},
	"[profile x] of the config file named by AWS_PROFILE": {
		env:         map[string]string{"AWS_PROFILE": "x"},
		config:      "[default]\nregion = eu-west-1\n[profile x]\nregion = us-east-2\n",
		credentials: "[x]\naws_access_key_id = AKIDX\naws_secret_access_key = s\naws_session_token = t\n",
		want:        awsconf.Resolved{Region: "us-east-2", Credentials: creds("AKIDX", "s", "t")},
	},
	"[x] of the config file is no profile": {
		env:    map[string]string{"AWS_PROFILE": "x"},
		config: "[x]\nregion = us-east-2\n",
		err:    "failed to get shared config profile, x",
	},
	"[profile x] of the credentials file is no profile": {
		req:         awsconf.Request{Profile: "x"},
		credentials: "[profile x]\naws_access_key_id = AKIDX\naws_secret_access_key = s\n",
		err:         "failed to get shared config profile, x",
	},
	"[profile default] over [default]": {
		config: "[profile default]\nregion = us-east-2\n[default]\nregion = eu-west-1\n",
		want:   awsconf.Resolved{Region: "us-east-2"},
	},
	"the credentials file's keys over the config file's": {
		config:      "[default]\naws_access_key_id = AKIDCONF\naws_secret_access_key = c\nregion = eu-west-1\n",
		credentials: "[default]\naws_access_key_id = AKIDCRED\naws_secret_access_key = k\n",
		want:        awsconf.Resolved{Region: "eu-west-1", Credentials: creds("AKIDCRED", "k", "")},
	},
	"--profile over keys in the environment": {
		env:         map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s"},
		req:         awsconf.Request{Profile: "p"},
		credentials: "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n",
		want:        awsconf.Resolved{Credentials: creds("AKIDP", "s", "")},
	},
	"keys in the environment over AWS_PROFILE": {
		env:         map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_PROFILE": "p"},
		credentials: "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\nregion = us-west-1\n",
		want:        awsconf.Resolved{Region: "us-west-1", Credentials: creds("AKIDENV", "s", "")},
	},
	"a missing AWS_DEFAULT_PROFILE is no error": {
		env:         map[string]string{"AWS_DEFAULT_PROFILE": "gone"},
		credentials: "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s\n",
	},
	"AWS_DEFAULT_PROFILE names the profile": {
		env:         map[string]string{"AWS_DEFAULT_PROFILE": "p"},
		credentials: "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n",
		want:        awsconf.Resolved{Credentials: creds("AKIDP", "s", "")},
	},
	"a missing --profile is an error": {
		req: awsconf.Request{Profile: "gone"},
		err: "failed to get shared config profile, gone",
	},
	"AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE": {
		env: map[string]string{"AWS_CONFIG_FILE": "$DIR/elsewhere/config", "AWS_SHARED_CREDENTIALS_FILE": "$DIR/elsewhere/creds"},
		files: map[string]string{
			"elsewhere/config": "[profile gpu-box]\nregion = local\n",
			"elsewhere/creds":  "[gpu-box]\naws_access_key_id = AKIDBOX\naws_secret_access_key = s\n",
		},
		config: "[default]\nregion = eu-west-1\n",
		req:    awsconf.Request{Profile: "gpu-box"},
		want:   awsconf.Resolved{Region: "local", Credentials: creds("AKIDBOX", "s", "")},
	},
	"what the INI files allow": {
		credentials: "# keys\n[ default ] ; the default\nAWS_Access_Key_ID = \"AKIDQUOTED\" ; a comment\n\taws_secret_access_key: 's#1'\n" +
			"s3 =\n  max_concurrent_requests = 10\nregion = eu-north-1\n  and a continuation\r\n",
		want: awsconf.Resolved{Region: "eu-north-1\nand a continuation\r", Credentials: creds("AKIDQUOTED", "s#1", "")},
	},
	"retries and the application id": {
		env:    map[string]string{"AWS_MAX_ATTEMPTS": "3", "AWS_SDK_UA_APP_ID": "nightly"},
		config: "[default]\nretry_mode = adaptive\nmax_attempts = 7\nsdk_ua_app_id = other\n",
		want:   awsconf.Resolved{RetryMode: "adaptive", MaxAttempts: 3, AppID: "nightly"},
	},
	"AWS_MAX_ATTEMPTS=0 leaves the profile's": {
		env:    map[string]string{"AWS_MAX_ATTEMPTS": "0", "AWS_RETRY_MODE": "standard"},
		config: "[default]\nmax_attempts = 2\n",
		want:   awsconf.Resolved{RetryMode: "standard", MaxAttempts: 2},
	},
	"a CA bundle for HTTPS: --ca-bundle first": {
		env:    map[string]string{"AWS_CA_BUNDLE": "$DIR/env.pem"},
		config: "[default]\nca_bundle = $DIR/profile.pem\n",
		files:  map[string]string{"env.pem": certificate, "profile.pem": certificate, "flag.pem": certificate},
		req:    awsconf.Request{HTTPS: true, CABundle: "$DIR/flag.pem"},
		want:   awsconf.Resolved{CABundle: "$DIR/flag.pem"},
	},
	"a CA bundle for HTTPS: AWS_CA_BUNDLE over the profile": {
		env:    map[string]string{"AWS_CA_BUNDLE": "$DIR/env.pem"},
		config: "[default]\nca_bundle = $DIR/profile.pem\n",
		files:  map[string]string{"env.pem": certificate, "profile.pem": certificate},
		req:    awsconf.Request{HTTPS: true},
		want:   awsconf.Resolved{CABundle: "$DIR/env.pem"},
	},
	"a CA bundle for HTTPS: the profile's": {
		config: "[default]\nca_bundle = $DIR/profile.pem\n",
		files:  map[string]string{"profile.pem": certificate},
		req:    awsconf.Request{HTTPS: true},
		want:   awsconf.Resolved{CABundle: "$DIR/profile.pem"},
	},
	"no CA bundle for plain HTTP": {
		env: map[string]string{"AWS_CA_BUNDLE": "/env.pem"},
	},
	"endpoint settings do not apply to a sagequeue endpoint": {
		env:    map[string]string{"AWS_ENDPOINT_URL": "https://proxy.example.com", "AWS_USE_FIPS_ENDPOINT": "true"},
		config: "[default]\nendpoint_url = https://other.example.com\nuse_dualstack_endpoint = true\n",
	},
	"instance metadata disabled": {
		env: map[string]string{"AWS_EC2_METADATA_DISABLED": "TRUE"},
		req: awsconf.Request{Signed: true, AWS: true, HTTPS: true},
	},

	// What only the SDK resolves.
	"credential_process":     {credentials: "[default]\ncredential_process = /bin/creds\n", delegate: true},
	"an assumed role":        {config: "[profile r]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n", req: awsconf.Request{Profile: "r"}, delegate: true},
	"SSO":                    {config: "[default]\nsso_session = s\nsso_account_id = 1\nsso_role_name = r\n[sso-session s]\nsso_region = us-east-1\nsso_start_url = https://x.awsapps.com/start\n", delegate: true},
	"a console login":        {config: "[default]\nlogin_session = arn:aws:iam::1:user/u\n", delegate: true},
	"web identity":           {env: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/r"}, delegate: true},
	"container credentials":  {env: map[string]string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds"}, delegate: true},
	"instance metadata":      {req: awsconf.Request{Signed: true, AWS: true, HTTPS: true}, delegate: true},
	"a key it does not know": {config: "[default]\nregion = eu-west-1\nsomething_new = 1\n", delegate: true},
	"partial credentials":    {credentials: "[default]\naws_access_key_id = AKIDHALF\n", delegate: true},
	"a defaults mode":        {env: map[string]string{"AWS_DEFAULTS_MODE": "standard"}, delegate: true},
	"a bad retry mode":       {env: map[string]string{"AWS_RETRY_MODE": "fast"}, delegate: true},
	"a bad max_attempts":     {config: "[default]\nmax_attempts = many\n", delegate: true},
	"endpoint settings for AWS": {
		env: map[string]string{"AWS_ENDPOINT_URL_BATCH": "https://batch.example.com"}, req: awsconf.Request{AWS: true, HTTPS: true, Signed: true},
		delegate: true,
	},
	"a profile's endpoint_url for AWS": {
		config: "[default]\naws_access_key_id = A\naws_secret_access_key = s\nendpoint_url = https://batch.example.com\n",
		req:    awsconf.Request{AWS: true, HTTPS: true, Signed: true}, delegate: true,
	},
	"keys in the environment before the profile's credential_process": {
		env:         map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "s", "AWS_PROFILE": "p"},
		credentials: "[p]\ncredential_process = /bin/creds\n",
		want:        awsconf.Resolved{Credentials: creds("AKIDENV", "s", "")},
	},
}

// certificate stands for a PEM certificate in resolveCase.files.
const certificate = "<a certificate>"

// setup writes the case's files under a fresh HOME and returns its
// environment and request, with $DIR expanded to HOME.
func (c resolveCase) setup(t *testing.T) (map[string]string, awsconf.Request, awsconf.Resolved) {
	t.Helper()
	home := t.TempDir()
	expand := func(s string) string { return strings.ReplaceAll(s, "$DIR", home) }
	files := map[string]string{".aws/config": c.config, ".aws/credentials": c.credentials}
	for name, text := range c.files {
		files[name] = text
	}
	for name, text := range files {
		if text == "" {
			continue
		}
		path := filepath.Join(home, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if text == certificate {
			testcert.Write(t, path, path+".key", "ca")
			continue
		}
		if err := os.WriteFile(path, []byte(expand(text)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The SDK reads HOME once, when it starts: name the files outright.
	env := map[string]string{"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, ".aws/config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, ".aws/credentials")}
	for k, v := range c.env {
		env[k] = expand(v)
	}
	req, want := c.req, c.want
	req.CABundle, want.CABundle = expand(req.CABundle), expand(want.CABundle)
	return env, req, want
}

func TestResolve(t *testing.T) {
	for name, c := range resolveCases {
		t.Run(name, func(t *testing.T) {
			env, req, want := c.setup(t)
			req.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			got, err := awsconf.Resolve(req)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.delegate {
				if got.Delegate == "" {
					t.Fatalf("answered %+v, want it left to the SDK", got)
				}
				return
			}
			if got.Delegate != "" {
				t.Fatalf("left to the SDK (%s), want an answer", got.Delegate)
			}
			if got.Credentials != nil {
				got.Credentials.Source = ""
			}
			if !same(got, want) {
				t.Errorf("got %s\nwant %s", show(got), show(want))
			}
		})
	}
}

// TestResolveAgreesWithTheSDK runs every case that Resolve answers through
// the SDK's own loader (config.LoadDefaultConfig, as the server binary
// does), with the case's environment as the process's: the two must agree,
// or a user would get one thing from the client and another from the SDK.
func TestResolveAgreesWithTheSDK(t *testing.T) {
	for name, c := range resolveCases {
		if c.delegate {
			continue
		}
		t.Run(name, func(t *testing.T) {
			env, req, _ := c.setup(t)
			clearAWSEnv(t)
			for k, v := range env {
				t.Setenv(k, v)
			}
			light, lerr := awsconf.Resolve(req)
			sdk, serr := full.Load(context.Background(), req)
			if (lerr != nil) != (serr != nil) {
				t.Fatalf("Resolve: %v; the SDK: %v", lerr, serr)
			}
			if lerr != nil {
				return
			}
			if sdk.Credentials != nil {
				sdk.Credentials.Source = ""
			}
			if light.Credentials != nil {
				light.Credentials.Source = ""
			}
			if !same(light, sdk) {
				t.Errorf("Resolve %s\nthe SDK  %s", show(light), show(sdk))
			}
		})
	}
}

// clearAWSEnv unsets the AWS_ variables of the process for the test.
func clearAWSEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v) // restored at the end
			os.Unsetenv(k)
		}
	}
}

func same(a, b awsconf.Resolved) bool {
	ca, cb := a.Credentials, b.Credentials
	a.Credentials, b.Credentials = nil, nil
	a.CredentialsError, b.CredentialsError = "", ""
	if a != b || (ca == nil) != (cb == nil) {
		return false
	}
	return ca == nil || *ca == *cb
}

func show(r awsconf.Resolved) string {
	c := r.Credentials
	r.Credentials = nil
	if c != nil {
		return fmt.Sprintf("%+v %+v", r, *c)
	}
	return fmt.Sprintf("%+v", r)

}
