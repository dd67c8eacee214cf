package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SigV4 as AWS specifies it: "Create a signed AWS API request",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
	scopeDateFmt = "20060102"
	// MaxSkew is how far a request's signing time may be from the server's
	// clock, either way, as at AWS.
	MaxSkew = 15 * time.Minute
)

// authHeader is a parsed Authorization header.
type authHeader struct {
	keyID, date, region, service, terminator string
	signedHeaders                            []string
	signature                                string
}

func parseAuthorization(v string) (*authHeader, *awsError) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if alg != sigAlgorithm {
		return nil, incompleteSignature(fmt.Sprintf("Unsupported Authorization header algorithm %q: sign requests with AWS Signature Version 4 (%s).", alg, sigAlgorithm))
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			parts[k] = val
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if parts[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	if len(missing) > 0 {
		return nil, incompleteSignature(strings.Join(missing, " "))
	}
	cred := strings.Split(parts["Credential"], "/")
	if len(cred) != 5 || cred[0] == "" {
		return nil, incompleteSignature(fmt.Sprintf("Credential %q must be <access key id>/<date>/<region>/<service>/aws4_request.", parts["Credential"]))
	}
	a := &authHeader{
		keyID: cred[0], date: cred[1], region: cred[2], service: cred[3], terminator: cred[4],
		signedHeaders: strings.Split(parts["SignedHeaders"], ";"), signature: parts["Signature"],
	}
	return a, nil
}

// requestTime is the signing time of a request: X-Amz-Date, else Date.
func requestTime(r *http.Request) (time.Time, string, *awsError) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(amzDateFmt, v)
		if err != nil {
			return time.Time{}, "", incompleteSignature(fmt.Sprintf("X-Amz-Date %q must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.", v))
		}
		return t, "x-amz-date", nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, "", incompleteSignature(fmt.Sprintf("Date %q is not an HTTP date.", v))
		}
		return t.UTC(), "date", nil
	}
	return time.Time{}, "", incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// verify checks the SigV4 signature of r, whose body is body, for service.
// It returns the user whose key signed it.
func verify(f keyring, r *http.Request, body []byte, service string, now time.Time) (*User, *awsError) {
	a, e := parseAuthorization(r.Header.Get("Authorization"))
	if e != nil {
		return nil, e
	}
	u := f.user(a.keyID)
	if u == nil {
		return nil, unrecognizedClient("unknown access key id " + a.keyID)
	}
	if r.Header.Get("X-Amz-Security-Token") != "" {
		// Temporary credentials come from STS; this server issues none.
		return u, unrecognizedClient("a session token came with access key id " + a.keyID)
	}
	if a.terminator != "aws4_request" {
		return u, invalidSignature(fmt.Sprintf("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", a.terminator))
	}
	if a.service != service {
		return u, invalidSignature(fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service))
	}
	if !f.regionAllowed(a.region) {
		return u, invalidSignature(fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. This server takes requests signed for: %s.", a.region, strings.Join(f.Regions, ", ")))
	}
	t, dateHeader, e := requestTime(r)
	if e != nil {
		return u, e
	}
	signed := map[string]bool{}
	for _, h := range a.signedHeaders {
		signed[h] = true
	}
	if !signed["host"] {
		return u, invalidSignature("'Host' must be a signed header.")
	}
	if !signed[dateHeader] {
		// An unsigned date could be replaced to replay the request.
		return u, invalidSignature(fmt.Sprintf("'%s' must be a signed header.", dateHeader))
	}
	if d := t.Format(scopeDateFmt); a.date != d {
		return u, invalidSignature(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, d, t.Format(amzDateFmt)))
	}
	now = now.UTC()
	switch {
	case t.Before(now.Add(-MaxSkew)):
		return u, invalidSignature(fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			t.Format(amzDateFmt), now.Add(-MaxSkew).Format(amzDateFmt), now.Format(amzDateFmt)))
	case t.After(now.Add(MaxSkew)):
		return u, invalidSignature(fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			t.Format(amzDateFmt), now.Add(MaxSkew).Format(amzDateFmt), now.Format(amzDateFmt)))
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" && v != payloadHash {
		if v == "UNSIGNED-PAYLOAD" || strings.HasPrefix(v, "STREAMING-") {
			return u, invalidSignature("x-amz-content-sha256: the payload must be signed; " + v + " is not accepted.")
		}
		return u, invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	canonical := canonicalRequest(r, a.signedHeaders, payloadHash)
	scope := strings.Join([]string{a.date, a.region, a.service, a.terminator}, "/")
	creqSum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{sigAlgorithm, t.Format(amzDateFmt), scope, hex.EncodeToString(creqSum[:])}, "\n")
	want := hex.EncodeToString(hmacSHA256(signingKey(u.Secret, a.date, a.region, a.service), []byte(toSign)))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(a.signature))) {
		return u, invalidSignature(signatureMismatch)
	}
	return u, nil
}

// signingKey derives the key of one day, region and service from a secret.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// canonicalRequest is the SigV4 canonical request of r.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// headerValue is a signed header's canonical value: the values trimmed, runs
// of spaces collapsed, joined with commas. Go's server keeps Host and
// (sometimes) Content-Length out of the header map.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return collapseSpaces(r.Host)
	case "content-length":
		if v := r.Header.Get("Content-Length"); v != "" {
			return collapseSpaces(v)
		}
		if r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
		return ""
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = collapseSpaces(v)
	}
	return strings.Join(out, ",")
}

// collapseSpaces trims a value and collapses runs of spaces, as the SDKs do.
func collapseSpaces(s string) string {
	s = strings.TrimSpace(s)
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// canonicalURI is the path URI-encoded once more, as every service but S3
// signs it.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the encoded names and values.
func canonicalQuery(u *url.URL) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range u.Query() {
		for _, v := range vs {
			pairs = append(pairs, pair{uriEncode(k, true), uriEncode(v, true)})
		}
	}
	// Sorted by encoded name, then value, after encoding.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

// uriEncode percent-encodes all but the unreserved characters (and "/"
// unless encodeSlash), upper-case hex, as SigV4 requires.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
