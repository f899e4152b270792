package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how the connection to the SMTP server is secured.
type TLSMode string

// The TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain SMTP; for a relay on localhost or a test server
	TLSStartTLS TLSMode = "starttls" // plain connection upgraded with STARTTLS, which is required (port 587)
	TLSImplicit TLSMode = "tls"      // TLS from the first byte, "SMTPS" (port 465)
)

// ParseTLSMode parses "none", "starttls" or "tls".
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case TLSNone, TLSStartTLS, TLSImplicit:
		return m, nil
	}
	return "", fmt.Errorf("unknown SMTP TLS mode %q (want none, starttls or tls)", s)
}

// Config is the SMTP connection of a Sender.
type Config struct {
	Host string
	Port int     // 0 means 587 for starttls, 465 for tls, 25 for none
	TLS  TLSMode // "" means starttls
	// Username and Password enable SMTP AUTH when Username is set. The mechanism is picked from
	// what the server offers (SCRAM, CRAM-MD5, PLAIN, LOGIN); PLAIN and LOGIN are only used over
	// TLS or to a server on localhost.
	Username string
	Password string // secret: never logged, never in an error
	// From is the default sender address ("Axie Studio <hello@example.com>"); Message.From wins.
	From    string
	Timeout time.Duration // per attempt: connect and every SMTP command; 0 means 30s
	// TLSConfig overrides the TLS client configuration (e.g. extra root CAs); nil means the
	// system roots and ServerName = Host.
	TLSConfig *tls.Config
	// IdleTimeout is how long a connection (TLS and AUTH done) waits unused for the next e-mail
	// before it is closed; 0 means 30s, negative means a new connection for every e-mail.
	IdleTimeout time.Duration
}

// At most maxIdle connections wait for the next e-mail, and one connection carries at most
// maxPerConn e-mails (relays limit the messages of a session).
const (
	maxIdle    = 16
	maxPerConn = 100
)

// Sender sends rendered e-mails over SMTP, one attempt per Send. It is safe for concurrent use.
// It keeps the connections of finished sends open for the next ones (see Config.IdleTimeout):
// a relay's greeting, EHLO, STARTTLS and AUTH are paid once per connection, not per e-mail.
type Sender struct {
	cfg  Config
	tmpl *Templates

	mu     sync.Mutex
	idle   []*conn     // most recently used last
	reaper *time.Timer // pending while connections are kept: closes the expired ones
	closed bool
}

// conn is one open SMTP session: a go-mail client of its own (a go-mail Client changes its
// state while it authenticates, so one is never shared by two sends at once).
type conn struct {
	c        *gomail.Client
	lastUsed time.Time
	sent     int
}

// NewSender checks cfg and returns a Sender that renders with tmpl.
func NewSender(cfg Config, tmpl *Templates) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp config: no host")
	}
	if tmpl == nil {
		return nil, errors.New("smtp config: no templates")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if _, err := ParseTLSMode(string(cfg.TLS)); err != nil {
		return nil, fmt.Errorf("smtp config: %w", err)
	}
	if cfg.Port == 0 {
		cfg.Port = map[TLSMode]int{TLSNone: 25, TLSStartTLS: 587, TLSImplicit: 465}[cfg.TLS]
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp config: port %d out of range", cfg.Port)
	}
	if cfg.From != "" {
		if _, err := mail.ParseAddress(cfg.From); err != nil {
			return nil, fmt.Errorf("smtp config: from address %q: %w", cfg.From, err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	return &Sender{cfg: cfg, tmpl: tmpl}, nil
}

// Send renders msg and makes one attempt to hand it to the SMTP server. The e-mail is
// multipart/alternative (text and HTML) with a Message-ID derived from msg.DedupeKey().
//
// A non-nil error is an *Error; IsPermanent tells whether another attempt can succeed. Send does
// not retry: the caller's job queue does, on its own schedule (see jobs.EmailBackoff).
func (s *Sender) Send(ctx context.Context, msg Message) error {
	m, err := s.build(msg)
	if err != nil {
		return s.fail(msg, err, true, 0)
	}
	if err := ctx.Err(); err != nil {
		return s.fail(msg, err, false, 0)
	}
	for {
		c, reused := s.take()
		if c == nil {
			if c, err = s.dial(ctx); err != nil {
				return s.classified(ctx, msg, fmt.Errorf("dial failed: %w", err))
			}
		}
		err := c.c.Send(m)
		if err == nil {
			c.sent++
			s.put(c)
			return nil
		}
		go c.c.Close()
		if m.IsDelivered() {
			return nil // the server took the e-mail; only the RSET after it failed
		}
		// A kept connection the server closed meanwhile fails before any reply (or with 421,
		// closing), and nothing was delivered on it: try the next kept one, or a new one.
		if _, code := classify(err); reused && (code == 0 || code == 421) && ctx.Err() == nil {
			continue
		}
		return s.classified(ctx, msg, fmt.Errorf("send failed: %w", err))
	}
}

func (s *Sender) classified(ctx context.Context, msg Message, err error) error {
	permanent, code := classify(err)
	if ctx.Err() != nil {
		permanent = false
	}
	return s.fail(msg, err, permanent, code)
}

// take returns a kept connection (reused) or nil; it closes the ones idle for too long.
func (s *Sender) take() (c *conn, reused bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for len(s.idle) > 0 {
		c = s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(c.lastUsed) < s.cfg.IdleTimeout {
			return c, true
		}
		go c.c.Close()
	}
	return nil, false
}

// put keeps c for the next send, or closes it.
func (s *Sender) put(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cfg.IdleTimeout < 0 || c.sent >= maxPerConn || len(s.idle) >= maxIdle {
		go c.c.Close()
		return
	}
	c.lastUsed = time.Now()
	s.idle = append(s.idle, c)
	if s.reaper == nil {
		s.reaper = time.AfterFunc(s.cfg.IdleTimeout, s.reap)
	}
}

// reap closes the connections idle for IdleTimeout, and comes back while some are kept.
func (s *Sender) reap() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	kept := s.idle[:0]
	for _, c := range s.idle {
		if now.Sub(c.lastUsed) >= s.cfg.IdleTimeout {
			go c.c.Close()
		} else {
			kept = append(kept, c)
		}
	}
	clear(s.idle[len(kept):])
	s.idle = kept
	if len(kept) == 0 {
		s.reaper = nil
		return
	}
	s.reaper = time.AfterFunc(kept[0].lastUsed.Add(s.cfg.IdleTimeout).Sub(now), s.reap)
}

// dial opens a new SMTP session (greeting, EHLO, STARTTLS, AUTH).
func (s *Sender) dial(ctx context.Context) (*conn, error) {
	client, err := s.client()
	if err != nil {
		return nil, err
	}
	if err := client.DialWithContext(ctx); err != nil {
		return nil, err
	}
	return &conn{c: client}, nil
}

// Close ends the kept connections (QUIT); later sends use a connection each.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	if s.reaper != nil {
		s.reaper.Stop()
		s.reaper = nil
	}
	s.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.c.Close())
	}
	return errors.Join(errs...)
}

// build renders msg into a go-mail message. Every error here is permanent: the same input fails
// the same way next time.
func (s *Sender) build(msg Message) (*gomail.Msg, error) {
	if err := msg.Validate(); err != nil {
		return nil, err
	}
	from := msg.From
	if from == "" {
		from = s.cfg.From
	}
	if from == "" {
		return nil, fmt.Errorf("%w: no from address (set it in the SMTP config or the message)", errInvalid)
	}
	e, err := s.tmpl.Render(msg)
	if err != nil {
		return nil, err
	}
	m := gomail.NewMsg()
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("%w: from address: %w", errInvalid, err)
	}
	// net/mail quotes or encodes the customer's name; go-mail's AddToFormat would not escape a
	// quote in it. The address itself was checked by Validate.
	m.ToMailAddress(&mail.Address{Name: headerSafe(msg.CustomerName), Address: msg.CustomerEmail})
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(msg.MessageID(from))
	m.SetDate()
	m.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies, please
	m.SetBodyString(gomail.TypeTextPlain, e.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	return m, nil
}

// client builds the go-mail client of one connection. A client per connection keeps Sender
// safe for concurrent use: a go-mail Client updates its own state while it authenticates.
func (s *Sender) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		// No NOOP before each e-mail and after it: a kept connection the server closed fails at
		// MAIL FROM instead, before anything is delivered, and Send tries a new one.
		gomail.WithoutNoop(),
	}
	tlsConfig := s.cfg.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsConfig))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSConfig(tlsConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	return c, nil
}

// headerSafe drops control characters from a display name (no header injection).
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// Error is a failed Send. Its message never contains the SMTP password or the customer's
// password.
type Error struct {
	Kind      Kind
	OrderID   string
	Permanent bool // another attempt with the same message will fail the same way
	Code      int  // SMTP reply code of the failure, 0 if there was none (e.g. connection refused)
	msg       string
	err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("send %s e-mail for order %q: %s", e.Kind, e.OrderID, e.msg)
}

// Unwrap returns the underlying error, so that errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error { return e.err }

func (s *Sender) fail(msg Message, err error, permanent bool, code int) *Error {
	text := err.Error()
	for _, secret := range []string{s.cfg.Password, msg.Password} {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return &Error{Kind: msg.Kind, OrderID: msg.OrderID, Permanent: permanent, Code: code, msg: text, err: err}
}

// IsPermanent reports whether err means that retrying the same e-mail cannot help:
//   - the message itself is invalid (bad address, missing field, template failure);
//   - the server refused the message with a 5xx reply to MAIL FROM, RCPT TO or DATA.
//
// Everything else is temporary: connection refused or reset, timeouts, 4xx replies, and also
// 5xx replies about the session (greeting, STARTTLS, AUTH; 530, 534, 535, 538 wherever they
// come). Those are faults of the
// SMTP configuration or of the server, shared by every e-mail; after the operator fixes them the
// queued e-mails must still go out, so the queue keeps retrying (and alerting) instead of
// dropping customers' credentials. IsPermanent(nil) is false.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent
	}
	permanent, _ := classify(err)
	return permanent
}

// sessionCodes are 5xx replies about the session (authentication, encryption), not about the
// message; some servers send them in reply to MAIL FROM.
var sessionCodes = map[int]bool{
	530: true, // authentication or STARTTLS required
	534: true, // authentication mechanism too weak
	535: true, // authentication credentials invalid
	538: true, // encryption required for the authentication mechanism
}

// classify looks at an unwrapped error from go-mail (or from validation) and returns whether it
// is permanent and the SMTP reply code, if any.
func classify(err error) (permanent bool, code int) {
	if errors.Is(err, errInvalid) {
		return true, 0
	}
	var se *gomail.SendError
	if errors.As(err, &se) {
		code = se.ErrorCode()
		switch {
		case sessionCodes[code]:
			return false, code
		case code >= 500:
			return true, code
		case code >= 400:
			return false, code
		}
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			return true, 0 // the message's addresses or encoding are unusable
		}
		return false, 0 // the connection broke mid-transaction
	}
	var pe *textproto.Error
	if errors.As(err, &pe) {
		return false, pe.Code // a session-level reply (greeting, EHLO, STARTTLS, AUTH)
	}
	return false, 0
}
