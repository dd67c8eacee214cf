package auth

import (
	"crypto/subtle"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// The dashboard's door: a login page that takes an access key id and secret
// and opens a session, a logout, and the session's identity for the app.
const (
	loginPath    = "/login"
	logoutPath   = "/logout"
	loginCSSPath = "/login.css"
	// UserHeader carries the user of a dashboard session in every answer
	// to it, so that the page can show who is logged in.
	UserHeader = "X-Sagequeue-User"
)

//go:embed login.html
var loginHTML string

//go:embed login.css
var loginCSS []byte

var loginPage = template.Must(template.New("login").Parse(loginHTML))

// loginCSP allows the page its own style sheet and its form, nothing else.
const loginCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// nextView is where a login returns to: a view of the dashboard (the URL
// fragment it had), never another site.
var nextView = regexp.MustCompile(`^#/[A-Za-z0-9/?=&%._~+-]*$`)

type loginData struct {
	Error, Next, KeyID string
}

func (g *Guard) cookieName() string {
	if g.opts.TLS {
		// The __Host- prefix makes browsers take the cookie only from this
		// origin over HTTPS, with Path=/ and no Domain.
		return "__Host-sagequeue-session"
	}
	return "sagequeue-session"
}

func (g *Guard) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: g.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: g.opts.TLS, SameSite: http.SameSiteStrictMode})
}

func (g *Guard) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if c, err := r.Cookie(g.cookieName()); err == nil {
			if _, e := g.sessionIdentity(c.Value); e == nil {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
		}
		next := r.URL.Query().Get("next")
		if !nextView.MatchString(next) {
			next = ""
		}
		g.loginPage(w, http.StatusOK, loginData{Next: next})
	case http.MethodPost:
		g.loginPost(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "the login page is read with GET and sent with POST", http.StatusMethodNotAllowed)
	}
}

func (g *Guard) loginPost(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		// Login CSRF: another site must not log a browser in as someone.
		g.log.Warn("dashboard login refused", "reason", "a cross-site request", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	now := g.opts.Now()
	addr := clientAddr(r)
	if wait := g.logins.blocked(addr, now); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		g.loginPage(w, http.StatusTooManyRequests, loginData{Error: fmt.Sprintf("Too many failed logins from your address: try again in %s.", wait.Round(time.Second))})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		g.loginPage(w, http.StatusBadRequest, loginData{Error: "The form could not be read."})
		return
	}
	keyID := strings.TrimSpace(r.PostForm.Get("accessKeyId"))
	secret := r.PostForm.Get("secret")
	next := r.PostForm.Get("next")
	if !nextView.MatchString(next) {
		next = ""
	}
	f := g.file.Load()
	u := f.user(keyID)
	if u == nil || subtle.ConstantTimeCompare([]byte(secret), []byte(u.Secret)) != 1 {
		g.logins.failed(addr, now)
		reason := "wrong secret"
		if u == nil {
			reason = "unknown access key id"
		}
		g.log.Warn("dashboard login refused", "accessKeyId", keyID, "remote", r.RemoteAddr, "reason", reason)
		g.loginPage(w, http.StatusUnauthorized, loginData{Error: "Unknown access key id, or wrong secret.", Next: next, KeyID: keyID})
		return
	}
	token, exp := g.sessions.create(u, now, f.session)
	http.SetCookie(w, &http.Cookie{
		Name: g.cookieName(), Value: token, Path: "/", Expires: exp, MaxAge: int(exp.Sub(now).Seconds()),
		HttpOnly: true, Secure: g.opts.TLS, SameSite: http.SameSiteStrictMode,
	})
	g.log.Info("dashboard login", "user", u.Name, "accessKeyId", u.AccessKeyID, "remote", r.RemoteAddr, "expires", exp.Format(time.RFC3339))
	http.Redirect(w, r, "/"+next, http.StatusSeeOther)
}

func (g *Guard) loginPage(w http.ResponseWriter, status int, d loginData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", loginCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser sends the
	// form's POST with "Origin: null", which is what a forged one looks like.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, d)
}

func serveLoginCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(loginCSS)
}

// logout ends the session (POST, from the dashboard's own page).
func (g *Guard) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "log out with POST", http.StatusMethodNotAllowed)
		return
	}
	if crossSite(r) {
		http.Error(w, "cross-site logout refused", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(g.cookieName()); err == nil && c.Value != "" {
		if id, e := g.sessionIdentity(c.Value); e == nil {
			g.log.Info("dashboard logout", "user", id.Name, "remote", r.RemoteAddr)
		}
		g.sessions.delete(c.Value)
	}
	g.clearCookie(w)
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

// crossSite reports a request made by a page of another origin (as
// dashboard.CrossSite does for the API). Browsers say where a request comes
// from in Sec-Fetch-Site; older ones only in Origin.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "cross-site", "same-site":
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == "null"
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}
