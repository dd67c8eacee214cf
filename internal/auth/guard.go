package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// MaxBodyBytes bounds the body of a signed request: its hash is checked, so
// it is read whole.
const MaxBodyBytes = 1 << 20

// ServerUser is the name of serve's own identity, with which it applies its
// configuration file and launches training jobs on its local SageMaker
// endpoint.
const ServerUser = "sagequeue-serve"

// Options configure a Guard.
type Options struct {
	// File is the path of the auth file.
	File string
	// TLS says the server serves HTTPS: session cookies are then Secure.
	TLS bool
	// Check, when set, is asked about every auth file before it is used (at
	// start and on Reload): serve refuses runAs mappings it cannot honour.
	Check func(*File) error
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Guard authenticates every request of a server (Wrap) and authorizes its
// operations (Allow).
type Guard struct {
	opts     Options
	log      *slog.Logger
	file     atomic.Pointer[File]
	internal *User
	sessions *sessionStore
	logins   *loginLimiter
}

// New reads the auth file and returns a Guard over it.
func New(o Options) (*Guard, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Guard{
		opts: o, log: o.Logger.With("component", "auth"),
		sessions: newSessionStore(), logins: newLoginLimiter(),
		internal: &User{Name: ServerUser, AccessKeyID: "SQSERVE" + randomString(20), Secret: randomString(40), Role: RoleAdmin},
	}
	f, err := g.load()
	if err != nil {
		return nil, err
	}
	g.file.Store(f)
	return g, nil
}

func (g *Guard) load() (*File, error) {
	f, err := LoadFile(g.opts.File)
	if err != nil {
		return nil, err
	}
	if g.opts.Check != nil {
		if err := g.opts.Check(f); err != nil {
			return nil, fmt.Errorf("auth file %s: %w", g.opts.File, err)
		}
	}
	return f, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness: " + err.Error())
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n]
}

// Reload reads the auth file again. A file that does not load changes
// nothing: the previous one stays in force.
func (g *Guard) Reload() error {
	f, err := g.load()
	if err != nil {
		return err
	}
	g.file.Store(f)
	g.log.Info("auth file reloaded", "file", g.opts.File, "users", len(f.Users))
	return nil
}

// File returns the auth file in force.
func (g *Guard) File() *File { return g.file.Load() }

// ServerKey returns the access key of serve's own identity (an admin that
// no file names, made at start): serve's own clients sign with it.
func (g *Guard) ServerKey() (accessKeyID, secret string) {
	return g.internal.AccessKeyID, g.internal.Secret
}

// keyring finds users by access key id: the file's, and serve's own.
type keyring struct {
	*File
	internal *User
}

func (k keyring) user(id string) *User {
	if subtle.ConstantTimeCompare([]byte(id), []byte(k.internal.AccessKeyID)) == 1 {
		return k.internal
	}
	return k.File.user(id)
}

func (k keyring) regionAllowed(region string) bool {
	return k.File.regionAllowed(region)
}

// Wrap returns next behind the guard: every request is authenticated
// before next sees it, and carries its Identity in its context.
//
//   - Requests with an Authorization header are checked as SigV4 (for the
//     service sagemaker when they call the local SageMaker endpoint, which
//     only admins may, and batch otherwise).
//   - GET /metrics also takes HTTP Basic authentication (access key id and
//     secret), which Prometheus scrapers speak.
//   - Other requests need a dashboard session: pages redirect to the login
//     page, API calls are refused as AWS refuses an unsigned request.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case loginPath:
			g.login(w, r)
			return
		case logoutPath:
			g.logout(w, r)
			return
		case loginCSSPath:
			serveLoginCSS(w, r)
			return
		}
		sageMaker := strings.HasPrefix(r.Header.Get("X-Amz-Target"), "SageMaker.")
		authz := r.Header.Get("Authorization")
		if (r.URL.Path == faviconPath || r.URL.Path == "/favicon.ico") && (r.Method == http.MethodGet || r.Method == http.MethodHead) && authz == "" && !sageMaker {
			// The login page's icon (and the one browsers ask for by
			// themselves): the same for everyone.
			next.ServeHTTP(w, r)
			return
		}
		var id *Identity
		switch {
		case strings.HasPrefix(authz, "Basic ") && r.URL.Path == metricsPath:
			id = g.basic(w, r)
		case authz != "":
			id = g.signed(w, r, sageMaker)
		default:
			id = g.session(w, r, sageMaker)
		}
		if id == nil {
			return // refused
		}
		if id.Session {
			w.Header().Set(UserHeader, id.Name)
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// signed checks a SigV4-signed request.
func (g *Guard) signed(w http.ResponseWriter, r *http.Request, sageMaker bool) *Identity {
	service := "batch"
	if sageMaker {
		service = "sagemaker"
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		g.refuse(w, r, "", incompleteSignature("the request body could not be read: "+err.Error()))
		return nil
	}
	if len(body) > MaxBodyBytes {
		g.refuse(w, r, "", &awsError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLargeException",
			msg: fmt.Sprintf("Request body must be at most %d bytes.", MaxBodyBytes)})
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	u, e := verify(keyring{g.file.Load(), g.internal}, r, body, service, g.opts.Now())
	if e != nil {
		keyID := ""
		if u != nil {
			keyID = u.AccessKeyID
		} else if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
			keyID = a.keyID
		}
		g.refuse(w, r, keyID, e)
		return nil
	}
	if sageMaker && u.Role != RoleAdmin {
		// The local SageMaker endpoint runs any command it is given: it is
		// for serve's engine, and admins.
		g.refuse(w, r, u.AccessKeyID, &awsError{status: http.StatusForbidden, code: "AccessDeniedException",
			msg: fmt.Sprintf("User: %s is not authorized to perform: sagemaker:%s because only role admin may call the local SageMaker endpoint; submit jobs to a queue instead",
				u.Name, strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "SageMaker."))})
		return nil
	}
	return identityOf(u, false)
}

// basic checks HTTP Basic credentials (for GET /metrics).
func (g *Guard) basic(w http.ResponseWriter, r *http.Request) *Identity {
	keyID, secret, _ := r.BasicAuth()
	u := keyring{g.file.Load(), g.internal}.user(keyID)
	if u == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(u.Secret)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="sagequeue", charset="UTF-8"`)
		g.refuse(w, r, keyID, &awsError{status: http.StatusUnauthorized, code: "UnrecognizedClientException",
			msg: "The access key id or secret is not valid.", reason: "bad Basic credentials"})
		return nil
	}
	return identityOf(u, false)
}

// session checks a request without an Authorization header: it needs a
// dashboard session.
func (g *Guard) session(w http.ResponseWriter, r *http.Request, sageMaker bool) *Identity {
	page := (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != metricsPath && !sageMaker
	c, err := r.Cookie(g.cookieName())
	if err != nil || c.Value == "" || sageMaker {
		switch {
		case page && (r.URL.Path == "/" || r.URL.Path == "/index.html"):
			http.Redirect(w, r, loginPath, http.StatusSeeOther)
		case r.URL.Path == metricsPath:
			w.Header().Set("WWW-Authenticate", `Basic realm="sagequeue", charset="UTF-8"`)
			g.refuse(w, r, "", &awsError{status: http.StatusUnauthorized, code: "MissingAuthenticationTokenException", msg: "Missing Authentication Token"})
		default:
			g.refuse(w, r, "", missingToken())
		}
		return nil
	}
	id, e := g.sessionIdentity(c.Value)
	if e != nil {
		g.clearCookie(w)
		if page {
			http.Redirect(w, r, loginPath, http.StatusSeeOther)
			g.log.Warn("request refused", "code", e.code, "reason", e.msg, "remote", r.RemoteAddr, "path", r.URL.Path)
			return nil
		}
		g.refuse(w, r, "", e)
		return nil
	}
	return id
}

// sessionIdentity is the identity of a session token, or why it has none.
func (g *Guard) sessionIdentity(token string) (*Identity, *awsError) {
	se, state := g.sessions.get(token, g.opts.Now())
	switch state {
	case sessionExpired:
		return nil, expiredToken("The dashboard session has expired: log in again.")
	case sessionUnknown:
		return nil, unrecognizedClient("unknown session")
	}
	u := g.file.Load().user(se.keyID)
	if u == nil || u.fingerprint() != se.fp {
		g.sessions.delete(token)
		return nil, expiredToken("The dashboard session has ended: its access key was removed or its secret changed. Log in again.")
	}
	return identityOf(u, true), nil
}

// refuse answers a refused request as AWS does and logs it with the key id,
// never the secret.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, keyID string, e *awsError) {
	reason := e.msg
	if e.reason != "" {
		reason = e.reason
	}
	g.log.Warn("request refused", "code", e.code, "accessKeyId", keyID, "reason", reason, "remote", r.RemoteAddr, "path", r.URL.Path)
	writeAWSError(w, e)
}

const (
	// metricsPath is metrics.Path, where serve answers Prometheus.
	metricsPath = "/metrics"
	faviconPath = "/favicon.svg"
)
