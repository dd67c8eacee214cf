package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxSessions bounds the sessions kept; the oldest go first.
const maxSessions = 10000

// session is one dashboard login. The token itself is only in the browser's
// cookie; the server keeps its hash.
type session struct {
	keyID string
	// fp is the fingerprint of the key and secret logged in with: when the
	// auth file changes the secret, the session ends.
	fp      [32]byte
	created time.Time
	expires time.Time
}

type sessionState int

const (
	sessionOK sessionState = iota
	sessionExpired
	sessionUnknown
)

type sessionStore struct {
	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessionStore() *sessionStore { return &sessionStore{m: map[[32]byte]*session{}} }

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// create opens a session for u and returns its token.
func (s *sessionStore) create(u *User, now time.Time, d time.Duration) (string, time.Time) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: no randomness for a session token: " + err.Error())
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	exp := now.Add(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	s.m[tokenKey(token)] = &session{keyID: u.AccessKeyID, fp: u.fingerprint(), created: now, expires: exp}
	return token, exp
}

// get finds a session. An expired one is kept for an hour after its end so
// that it can be told apart from a forged token.
func (s *sessionStore) get(token string, now time.Time) (*session, sessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[tokenKey(token)]
	switch {
	case se == nil:
		return nil, sessionUnknown
	case !now.Before(se.expires):
		return nil, sessionExpired
	}
	return se, sessionOK
}

func (s *sessionStore) delete(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, tokenKey(token))
}

// pruneLocked forgets sessions an hour past their end and, above the bound,
// the oldest.
func (s *sessionStore) pruneLocked(now time.Time) {
	for k, se := range s.m {
		if now.Sub(se.expires) > time.Hour {
			delete(s.m, k)
		}
	}
	for len(s.m) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, se := range s.m {
			if at.IsZero() || se.created.Before(at) {
				oldest, at = k, se.created
			}
		}
		delete(s.m, oldest)
	}
}

// Failed logins from one address are limited, so that a secret cannot be
// guessed through the login form at speed.
const (
	loginFailures = 10
	loginWindow   = 5 * time.Minute
)

type loginLimiter struct {
	mu   sync.Mutex
	fail map[string][]time.Time
}

func newLoginLimiter() *loginLimiter { return &loginLimiter{fail: map[string][]time.Time{}} }

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked reports how long an address must wait before trying again.
func (l *loginLimiter) blocked(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recentLocked(addr, now)
	if len(recent) < loginFailures {
		return 0
	}
	return recent[0].Add(loginWindow).Sub(now)
}

func (l *loginLimiter) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fail[addr] = append(l.recentLocked(addr, now), now)
	if len(l.fail) > maxSessions {
		// Many addresses: forget those without recent failures.
		for a := range l.fail {
			if len(l.recentLocked(a, now)) == 0 {
				delete(l.fail, a)
			}
		}
	}
}

func (l *loginLimiter) recentLocked(addr string, now time.Time) []time.Time {
	ts := l.fail[addr]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= loginWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fail, addr)
		return nil
	}
	l.fail[addr] = ts
	return ts
}
