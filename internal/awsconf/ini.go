package awsconf

import (
	"os"
	"sort"
	"strings"
)

// The shared config and credentials files are read as the AWS SDK for Go
// v2 reads them (its config/internal/ini): the same tokens, the same
// leniency, the same merge of the two files. Where the SDK keeps a quirk
// for compatibility, so does this reader, since a profile must mean the
// same here as in the SDK the server binary falls back to.

// section is one [section] of a file: lower-cased keys and their values. A
// key given sub-properties (`s3 =` followed by indented `k = v` lines) has
// the value "", as the SDK's String of it is.
type section struct {
	values map[string]string
	// partial is set when the section holds an access key id without a
	// secret or the other way round, which the SDK refuses when the
	// profile is used.
	partial bool
}

// has reports whether the section sets key, even to "".
func (s *section) has(key string) bool {
	_, ok := s.values[key]
	return ok
}

// parseINI reads the sections of one file's text.
func parseINI(text string) map[string]*section {
	sections := map[string]*section{}
	var cur *section
	var ckey string
	// mapped are the keys of cur that hold sub-properties.
	mapped := map[string]bool{}
	setProperty := func(k, v string) {
		ckey = k
		cur.values[k] = v
		delete(mapped, k)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" || isLineComment(line) {
			continue
		}
		if name, ok := profileLine(line); ok {
			cur, ckey = sections[name], ""
			if cur == nil {
				cur = &section{values: map[string]string{}}
				sections[name] = cur
			}
			clear(mapped)
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if !indented {
			k, v, ok := splitProperty(strings.TrimRight(trimPropertyComment(line), " \t"))
			if ok && cur != nil {
				setProperty(strings.ToLower(k), unquote(v))
			}
			continue
		}
		if cur == nil {
			continue
		}
		trimmed := strings.TrimLeft(line, " \t")
		if k, v, ok := splitProperty(trimmed); ok {
			k, v = strings.ToLower(k), unquote(v)
			if ckey == "" || cur.values[ckey] != "" {
				// An orphaned sub-property is promoted to a property.
				setProperty(k, strings.TrimSpace(trimPropertyComment(v)))
			} else {
				mapped[ckey] = true
			}
			continue
		}
		// A continuation line extends a value that is not sub-properties.
		if ckey != "" && cur.values[ckey] != "" && !mapped[ckey] {
			cur.values[ckey] += "\n" + trimmed
		}
	}
	for _, s := range sections {
		s.partial = s.has(keyAccessKeyID) != s.has(keySecretAccessKey)
	}
	return sections
}

func isLineComment(line string) bool {
	t := strings.TrimLeft(line, " \t")
	return strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";")
}

// profileLine returns the name of a section line, "[ type name ]" ->
// "type name"; a comment may follow.
func profileLine(line string) (string, bool) {
	t, _, _ := strings.Cut(line, "#")
	t, _, _ = strings.Cut(t, ";")
	t = strings.TrimSpace(t)
	if !strings.HasPrefix(t, "[") || !strings.HasSuffix(t, "]") {
		return "", false
	}
	t = strings.TrimSpace(t[1 : len(t)-1])
	// The type is what comes before the first run of blanks.
	if i := strings.IndexAny(t, " \t"); i > 0 {
		rest := strings.TrimLeft(t[i:], " \t")
		if rest == "" {
			return "", true
		}
		return t[:i] + " " + rest, true
	}
	return t, true
}

func trimPropertyComment(s string) string {
	for _, c := range []string{" #", " ;", "\t#", "\t;"} {
		s, _, _ = strings.Cut(s, c)
	}
	return s
}

// splitProperty splits "k = v" (or, as legacy files have it, "k: v").
func splitProperty(s string) (k, v string, ok bool) {
	sep := "="
	eq, colon := strings.Index(s, "="), strings.Index(s, ":")
	if eq == -1 || colon != -1 && colon < eq {
		sep = ":"
	}
	k, v, ok = strings.Cut(s, sep)
	return strings.TrimSpace(k), strings.TrimSpace(v), ok
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// readINI reads a file's sections; a file that cannot be read counts as
// empty, as in the SDK.
func readINI(path string) map[string]*section {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseINI(string(b))
}

const profilePrefix = "profile "

// profiles merges the config file's profiles and the credentials file's
// into one set, as the SDK does: in the config file a profile is
// [profile name] ([default] may go without the prefix, and [profile
// default] wins over it), other sections are not profiles; in the
// credentials file a profile is [name], and [profile name] is ignored. The
// credentials file's values win.
func profiles(config, credentials map[string]*section) map[string]*section {
	out := map[string]*section{}
	names := make([]string, 0, len(config))
	for name := range config {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case strings.HasPrefix(name, profilePrefix):
			out[strings.TrimPrefix(name, profilePrefix)] = config[name]
		case strings.EqualFold(name, "default"):
			if _, renamed := config[profilePrefix+name]; !renamed {
				out[name] = config[name]
			}
		}
	}
	for name, src := range credentials {
		if strings.HasPrefix(name, profilePrefix) {
			continue
		}
		dst, ok := out[name]
		if !ok {
			out[name] = src
			continue
		}
		merged := &section{values: make(map[string]string, len(dst.values)), partial: src.partial}
		for k, v := range dst.values {
			merged.values[k] = v
		}
		if src.has(keyAccessKeyID) && src.has(keySecretAccessKey) {
			for _, k := range []string{keyAccessKeyID, keySecretAccessKey, keySessionToken} {
				if v, ok := src.values[k]; ok {
					merged.values[k] = v
				}
			}
		}
		for _, k := range mergedKeys {
			if v, ok := src.values[k]; ok {
				merged.values[k] = v
			}
		}
		out[name] = merged
	}
	return out
}

// mergedKeys are the keys (besides the static credentials) that the SDK
// takes from the credentials file for a profile the config file has too;
// the others it takes from the config file only.
var mergedKeys = []string{
	"role_arn", "source_profile", "credential_source", "external_id", "mfa_serial", "role_session_name",
	keyRegion, "endpoint_discovery_enabled", "credential_process", "web_identity_token_file",
	"s3_use_arn_region", "s3_disable_multiregion_access_points", "ec2_metadata_service_endpoint_mode",
	"ec2_metadata_service_endpoint", "ec2_metadata_v1_disabled", "use_dualstack_endpoint",
	"use_fips_endpoint", "defaults_mode", keyRetryMode, keyCABundle, "duration_seconds",
	keyMaxAttempts, "sso_session", "sso_account_id", "sso_region", "sso_role_name", "sso_start_url",
	"auth_scheme_preference", "login_session",
}
