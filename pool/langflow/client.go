package langflow

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Token is a Langflow bearer access token. It formats and logs as "[redacted]"; use string(t)
// only to build the Authorization header.
type Token string

func (Token) String() string               { return "[redacted]" }
func (Token) GoString() string             { return "[redacted]" }
func (Token) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Token) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Credentials is a Langflow login. Formatting or logging it shows the username only.
type Credentials struct {
	Username string
	Password string
}

func (c Credentials) String() string       { return c.Username + ":[redacted]" }
func (c Credentials) GoString() string     { return c.String() }
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.Username) }

// User is Langflow's UserRead, reduced to what tenantpool uses.
type User struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	IsActive    bool   `json:"is_active"`
	IsSuperuser bool   `json:"is_superuser"`
}

// UserPatch is the body of PATCH /api/v1/users/{id}; nil fields are left out (Langflow's
// UserUpdate applies only the fields that are set).
type UserPatch struct {
	Username *string `json:"username,omitempty"`
	Password *string `json:"password,omitempty"`
	IsActive *bool   `json:"is_active,omitempty"`
}

// Options tune a Client. The zero value is usable.
type Options struct {
	// RequestTimeout bounds each single HTTP attempt (connect, send, read). Default 15s.
	RequestTimeout time.Duration
	// RetryMax is how many times a call that is safe to retry is retried. Default 3; negative
	// means never retry.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the exponential backoff between retries (a
	// Retry-After header is honoured up to RetryWaitMax). Defaults 250ms and 4s.
	RetryWaitMin, RetryWaitMax time.Duration
	// Logger receives retryablehttp's messages (method, URL, status; never bodies or headers),
	// all at debug level. Nil: silent.
	Logger *slog.Logger
	// Transport carries the requests. Nil: a pooled transport that resolves "localhost" and
	// "*.localhost" to 127.0.0.1 itself (RFC 6761 §6.3), so dev URLs such as
	// http://client07.localhost:8080 work without /etc/hosts entries.
	Transport http.RoundTripper
}

func (o Options) withDefaults() Options {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 15 * time.Second
	}
	switch {
	case o.RetryMax == 0:
		o.RetryMax = 3
	case o.RetryMax < 0:
		o.RetryMax = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = 250 * time.Millisecond
	}
	if o.RetryWaitMax < o.RetryWaitMin {
		o.RetryWaitMax = max(4*time.Second, o.RetryWaitMin)
	}
	if o.Transport == nil {
		o.Transport = NewTransport()
	}
	return o
}

// NewTransport returns the default transport: http.DefaultTransport's settings, with
// localhost names dialled on the loopback address. Share one between clients to pool
// connections.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, port, err := net.SplitHostPort(addr); err == nil {
			h := strings.ToLower(strings.TrimSuffix(host, "."))
			if h == "localhost" || strings.HasSuffix(h, ".localhost") {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
		}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// Client talks to one Langflow tenant. It is safe for concurrent use.
type Client struct {
	base *url.URL
	// One retryablehttp client per retry policy, all sharing one http.Client.
	retry map[retryPolicy]*retryablehttp.Client
}

// New returns a client for the tenant at baseURL (scheme and host, optionally a path prefix).
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("langflow: invalid base URL %q: want http(s)://host[:port]", baseURL)
	}
	if u.User != nil {
		return nil, errors.New("langflow: base URL must not carry credentials")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	opts = opts.withDefaults()
	hc := &http.Client{
		Transport: opts.Transport,
		Timeout:   opts.RequestTimeout,
		// A redirect here is a misconfiguration (http→https, a missing trailing slash): surface
		// it instead of replaying a POST body somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var logger any // a nil interface: retryablehttp stays silent
	if opts.Logger != nil {
		logger = debugLogger{opts.Logger}
	}
	c := &Client{base: u, retry: map[retryPolicy]*retryablehttp.Client{}}
	for _, p := range []retryPolicy{retryNever, retryUnsent, retrySafe} {
		rc := &retryablehttp.Client{
			HTTPClient:   hc,
			Logger:       logger,
			RetryWaitMin: opts.RetryWaitMin,
			RetryWaitMax: opts.RetryWaitMax,
			RetryMax:     opts.RetryMax,
			CheckRetry:   p.check,
			Backoff:      cappedBackoff,
			// Hand back the last response or error untouched: classification is ours.
			ErrorHandler: retryablehttp.PassthroughErrorHandler,
		}
		if p == retryNever {
			rc.RetryMax = 0
		}
		c.retry[p] = rc
	}
	return c, nil
}

// BaseURL is the tenant URL the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// Health asks GET /health_check once per attempt (retried while the tenant is unavailable, up
// to RetryMax) and returns nil only for a 200 whose JSON status is "ok". Anything else (a
// refused connection, 5xx, Langflow's 500 {"detail":{"status":"nok",…}}, a proxy's page, a JSON
// status other than "ok") is an ErrUnavailable *Error.
func (c *Client) Health(ctx context.Context) error { return c.health(ctx, retrySafe) }

// probe is a single health attempt, for the readiness gate whose own loop is the retry.
func (c *Client) probe(ctx context.Context) error { return c.health(ctx, retryNever) }

func (c *Client) health(ctx context.Context, p retryPolicy) error {
	var h struct {
		Status string `json:"status"`
		Chat   string `json:"chat"`
		DB     string `json:"db"`
	}
	err := c.do(ctx, call{op: opHealth, method: http.MethodGet, path: "/health_check", policy: p}, &h)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusOK {
			// 200 but not Langflow's JSON: a proxy or placeholder page, not the app.
			e.Kind = ErrUnavailable
		}
		return err
	}
	if h.Status != "ok" {
		return &Error{Op: string(opHealth), Status: http.StatusOK, Kind: ErrUnavailable,
			Detail: fmt.Sprintf("status %q (chat %q, db %q)", h.Status, h.Chat, h.DB)}
	}
	return nil
}

// Login posts the form fields username and password to /api/v1/login (OAuth2 password form,
// as Langflow requires; JSON is rejected with 422) and returns the access token. Wrong
// credentials and inactive users are ErrUnauthorized. Retried on unavailability.
func (c *Client) Login(ctx context.Context, username, password string) (Token, error) {
	form := url.Values{"username": {username}, "password": {password}}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	err := c.do(ctx, call{
		op: opLogin, method: http.MethodPost, path: "/api/v1/login", policy: retrySafe,
		body: []byte(form.Encode()), contentType: "application/x-www-form-urlencoded",
		secrets: []string{password, form.Encode()},
	}, &out)
	if err != nil {
		return "", err
	}
	if out.AccessToken == "" || !strings.EqualFold(out.TokenType, "bearer") {
		return "", &Error{Op: string(opLogin), Status: http.StatusOK, Detail: "response carries no bearer access_token"}
	}
	return Token(out.AccessToken), nil
}

// CreateUser creates a user (POST /api/v1/users/, superuser token). A taken username is
// ErrConflict. Langflow decides is_active (LANGFLOW_NEW_USER_IS_ACTIVE). Retried only when the
// connection could not be made: see the package doc for why, and EnsureCustomer for how the
// caller regains idempotency.
func (c *Client) CreateUser(ctx context.Context, tok Token, username, password string) (User, error) {
	body, err := json.Marshal(map[string]string{"username": username, "password": password})
	if err != nil {
		return User{}, fmt.Errorf("langflow create user: %w", err)
	}
	var u User
	err = c.do(ctx, call{
		op: opCreateUser, method: http.MethodPost, path: "/api/v1/users/", policy: retryUnsent,
		token: tok, body: body, contentType: "application/json", secrets: []string{password},
	}, &u)
	return u, err
}

// UpdateUser patches a user (PATCH /api/v1/users/{id}, superuser token for password changes).
// Renaming onto a taken username is ErrConflict, an unknown id ErrNotFound. Retried on
// unavailability: a patch sets absolute values, so repeating it is harmless.
func (c *Client) UpdateUser(ctx context.Context, tok Token, id string, patch UserPatch) (User, error) {
	body, err := json.Marshal(patch)
	if err != nil {
		return User{}, fmt.Errorf("langflow update user: %w", err)
	}
	var secrets []string
	if patch.Password != nil {
		secrets = append(secrets, *patch.Password)
	}
	var u User
	err = c.do(ctx, call{
		op: opUpdateUser, method: http.MethodPatch, path: "/api/v1/users/" + url.PathEscape(id),
		policy: retrySafe, token: tok, body: body, contentType: "application/json", secrets: secrets,
	}, &u)
	return u, err
}

// WhoAmI returns the user the token belongs to (GET /api/v1/users/whoami). It proves a token
// is accepted by the API, not only issued.
func (c *Client) WhoAmI(ctx context.Context, tok Token) (User, error) {
	var u User
	err := c.do(ctx, call{op: opWhoAmI, method: http.MethodGet, path: "/api/v1/users/whoami", policy: retrySafe, token: tok}, &u)
	return u, err
}

// listPage is the page size used by FindUser.
const listPage = 50

// FindUser returns the user whose username is exactly username (GET /api/v1/users/, superuser
// token), or ErrNotFound. It passes search= (a case-insensitive substring filter in current
// Langflow; older versions ignore it) and pages with skip/limit until total_count is reached, so
// it is correct either way.
func (c *Client) FindUser(ctx context.Context, tok Token, username string) (User, error) {
	for skip := 0; ; skip += listPage {
		q := url.Values{"skip": {strconv.Itoa(skip)}, "limit": {strconv.Itoa(listPage)}, "search": {username}}
		var page struct {
			TotalCount int    `json:"total_count"`
			Users      []User `json:"users"`
		}
		err := c.do(ctx, call{op: opFindUser, method: http.MethodGet, path: "/api/v1/users/", query: q, policy: retrySafe, token: tok}, &page)
		if err != nil {
			return User{}, err
		}
		for _, u := range page.Users {
			if u.Username == username {
				return u, nil
			}
		}
		if len(page.Users) == 0 || skip+len(page.Users) >= page.TotalCount {
			return User{}, &Error{Op: string(opFindUser), Kind: ErrNotFound, Detail: fmt.Sprintf("no user %q", username)}
		}
	}
}

type operation string

const (
	opHealth     operation = "health check"
	opLogin      operation = "login"
	opCreateUser operation = "create user"
	opUpdateUser operation = "update user"
	opFindUser   operation = "find user"
	opWhoAmI     operation = "whoami"
	opListFlows  operation = "list flows"
	opCreateFlow operation = "create flow"
)

type call struct {
	op          operation
	method      string
	path        string
	query       url.Values
	policy      retryPolicy
	token       Token
	body        []byte
	contentType string
	secrets     []string // values sent in this request, scrubbed from any detail echoed back
}

const maxBody = 1 << 20

// do performs one call and decodes a 2xx JSON answer into out. Every failure is an *Error.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	u := *c.base
	u.Path += cl.path
	u.RawQuery = cl.query.Encode()
	var body any
	if cl.body != nil {
		body = cl.body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, u.String(), body)
	if err != nil {
		return &Error{Op: string(cl.op), Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if cl.contentType != "" {
		req.Header.Set("Content-Type", cl.contentType)
	}
	secrets := cl.secrets
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+string(cl.token))
		secrets = append(secrets, string(cl.token))
	}
	resp, err := c.retry[cl.policy].Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The caller gave up: report that, not the tenant's health.
			return &Error{Op: string(cl.op), Err: ctxErr}
		}
		// Transport errors name the method and URL only; no secret travels in a URL.
		return &Error{Op: string(cl.op), Kind: ErrUnavailable, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return &Error{Op: string(cl.op), Status: resp.StatusCode, Kind: ErrUnavailable, Err: fmt.Errorf("read body: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		d := detail(raw)
		return &Error{Op: string(cl.op), Status: resp.StatusCode, Kind: kindFor(cl.op, resp.StatusCode, d), Detail: scrub(d, secrets)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &Error{Op: string(cl.op), Status: resp.StatusCode, Detail: "response is not the expected JSON: " + scrub(excerpt(raw), secrets)}
	}
	return nil
}

// detail extracts FastAPI's {"detail": …} (a string, or an object/list for validation and
// health errors), else a short excerpt of the body.
func detail(raw []byte) string {
	var d struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &d) == nil && len(d.Detail) > 0 {
		var s string
		if json.Unmarshal(d.Detail, &s) == nil {
			return s
		}
		var buf bytes.Buffer
		if json.Compact(&buf, d.Detail) == nil {
			return buf.String()
		}
	}
	return excerpt(raw)
}

func excerpt(raw []byte) string {
	const n = 120
	if len(raw) > n {
		raw = raw[:n]
	}
	return strings.ToValidUTF8(string(raw), "")
}

// retryPolicy says which failures of a call may be retried.
type retryPolicy int

const (
	retryNever  retryPolicy = iota // single attempt
	retryUnsent                    // only when the request cannot have reached the server
	retrySafe                      // idempotent: transport errors, 429, 5xx
)

func (p retryPolicy) check(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	switch p {
	case retryUnsent:
		return err != nil && notSent(err), nil
	case retrySafe:
		if err != nil {
			return transient(err), nil
		}
		s := resp.StatusCode
		return s == http.StatusTooManyRequests || (s >= 500 && s != http.StatusNotImplemented), nil
	}
	return false, nil
}

// notSent reports whether err happened while dialling (DNS lookup, connection refused, dial
// timeout): the request was never written, so even a non-idempotent request may be sent again.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// transient reports whether a transport error may go away by itself. Certificate problems and
// malformed requests do not.
func transient(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return false
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && strings.Contains(uerr.Err.Error(), "unsupported protocol scheme") {
		return false
	}
	return true
}

// cappedBackoff is retryablehttp's exponential backoff, with a server's Retry-After honoured
// only up to max: a proxy asking for an hour must not stall a provisioning job.
func cappedBackoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	return min(retryablehttp.DefaultBackoff(lo, hi, attempt, resp), hi)
}

// debugLogger routes retryablehttp's leveled messages to slog at debug: they are diagnostics
// of a call whose outcome the caller reports anyway. retryablehttp logs method and URL (with
// any password redacted) and never headers or bodies; our URLs carry no secrets.
type debugLogger struct{ l *slog.Logger }

func (d debugLogger) Error(msg string, kv ...any) { d.l.Debug(msg, kv...) }
func (d debugLogger) Info(msg string, kv ...any)  { d.l.Debug(msg, kv...) }
func (d debugLogger) Debug(msg string, kv ...any) { d.l.Debug(msg, kv...) }
func (d debugLogger) Warn(msg string, kv ...any)  { d.l.Debug(msg, kv...) }

var _ retryablehttp.LeveledLogger = debugLogger{}
