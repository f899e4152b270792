package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/coder/quartz"
)

// CookieName is the console's session cookie.
const CookieName = "poold_console"

// maxSessions bounds the sessions one replica keeps; the least recently used goes first.
const maxSessions = 256

// session is one signed-in browser. Sessions live in this replica's memory only: the admin
// listener is per replica (loopback by default), an operator's browser talks to one replica, and
// a restart signing everyone out is the safe failure. Nothing of a session reaches the store.
type session struct {
	csrf  string
	seen  time.Time
	flash string // one message shown by the next page (after a redirect)
}

// sessions maps the SHA-256 of a session id (the cookie holds the id) to its session.
type sessions struct {
	mu    sync.Mutex
	clock quartz.Clock
	idle  time.Duration
	m     map[[sha256.Size]byte]*session
}

func newSessions(clock quartz.Clock, idle time.Duration) *sessions {
	return &sessions{clock: clock, idle: idle, m: map[[sha256.Size]byte]*session{}}
}

func token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns its id (for the cookie).
func (s *sessions) create() string {
	id := token()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for k, v := range s.m {
		if now.Sub(v.seen) > s.idle {
			delete(s.m, k)
		}
	}
	if len(s.m) >= maxSessions {
		var oldest [sha256.Size]byte
		var at time.Time
		for k, v := range s.m {
			if at.IsZero() || v.seen.Before(at) {
				oldest, at = k, v.seen
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = &session{csrf: token(), seen: now}
	return id
}

// lookup returns the session of a cookie and touches it; expired says the cookie named a
// session that idled out (it is then forgotten).
func (s *sessions) lookup(r *http.Request) (sess *session, key [sha256.Size]byte, expired bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil, key, false
	}
	key = sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, key, false
	}
	now := s.clock.Now()
	if now.Sub(v.seen) > s.idle {
		delete(s.m, key)
		return nil, key, true
	}
	v.seen = now
	cp := *v
	return &cp, key, false
}

func (s *sessions) remove(key [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

func (s *sessions) setFlash(key [sha256.Size]byte, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		v.flash = msg
	}
}

func (s *sessions) takeFlash(key [sha256.Size]byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return ""
	}
	msg := v.flash
	v.flash = ""
	return msg
}

func csrfOK(sess *session, presented string) bool {
	return presented != "" && subtle.ConstantTimeCompare([]byte(sess.csrf), []byte(presented)) == 1
}
