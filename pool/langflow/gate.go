package langflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
)

// GateOptions configure a Gate. The zero value is usable.
type GateOptions struct {
	// Clock drives the health polling loop. Nil: the real clock. Tests pass a quartz.Mock so
	// that "never healthy for five minutes" takes milliseconds.
	Clock quartz.Clock
	// PollInterval is the pause between two health probes. Default 2s.
	PollInterval time.Duration
	// Client configures the clients the gate builds (timeouts, retries, transport). One
	// transport is shared by every tenant the gate talks to.
	Client Options
	// Logger receives one debug line per failed probe. Nil: silent.
	Logger *slog.Logger
}

// Gate decides when a tenant is ready to sell: healthy, its customer login created, active and
// proven. It is safe for concurrent use across tenants.
type Gate struct {
	clock    quartz.Clock
	interval time.Duration
	opts     Options
	log      *slog.Logger
}

// NewGate returns a readiness gate.
func NewGate(opts GateOptions) *Gate {
	g := &Gate{clock: opts.Clock, interval: opts.PollInterval, opts: opts.Client, log: opts.Logger}
	if g.clock == nil {
		g.clock = quartz.NewReal()
	}
	if g.interval <= 0 {
		g.interval = 2 * time.Second
	}
	if g.opts.Transport == nil {
		g.opts.Transport = NewTransport()
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g
}

// Client returns a client for baseURL with the gate's options.
func (g *Gate) Client(baseURL string) (*Client, error) { return New(baseURL, g.opts) }

// WaitHealthy polls GET {baseURL}/health_check until it answers {"status":"ok",…}, or fails
// once timeout has passed on the gate's clock with an error wrapping ErrNotReady and the last
// probe's error.
//
// Every failed probe counts as "not yet": a refused connection (the container is starting), a
// 502/503 from the edge proxy, a 404 from a proxy that has no route yet (Traefik hides a
// container until its Docker health check passes), Langflow's own 500 "nok", a JSON status other
// than "ok". The timeout is what turns "not yet" into "failed"; the last cause is kept for the
// account's last error. Each probe is a single attempt bounded by Options.RequestTimeout (real
// time), so the deadline can be overrun by at most one request timeout.
func (g *Gate) WaitHealthy(ctx context.Context, baseURL string, timeout time.Duration) error {
	c, err := g.Client(baseURL)
	if err != nil {
		return err
	}
	deadline := g.clock.Now().Add(timeout)
	for probes := 1; ; probes++ {
		err := c.probe(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("langflow wait healthy %s: %w", c.BaseURL(), ctx.Err())
		}
		g.log.DebugContext(ctx, "langflow not healthy yet", "url", c.BaseURL(), "probe", probes, "err", err)
		remaining := g.clock.Until(deadline)
		if remaining <= 0 {
			return &notReadyError{url: c.BaseURL(), timeout: timeout, probes: probes, last: err}
		}
		t := g.clock.NewTimer(min(g.interval, remaining), "langflow", "health")
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("langflow wait healthy %s: %w", c.BaseURL(), ctx.Err())
		case <-t.C:
		}
	}
}

// RotateOperator replaces the operator's (superuser's) bootstrap password — the one in the
// container's environment, which the customer's code can read — with next, through Langflow's
// API (PATCH /api/v1/users/{id}, as the superuser itself), and proves next logs in and the
// bootstrap password no longer does. Langflow never resets an existing superuser from its
// environment (see langflowtest.Server.Boot), so the bootstrap password stays dead across
// restarts and re-applies.
//
// It is crash-safe across retries because both passwords are stored before it is first called:
// it tries next first (an earlier attempt may have rotated already, its outcome lost), then the
// bootstrap one. When neither logs in, the operator is locked out of the tenant: an
// ErrUnauthorized error saying so. bootstrap == next is an account from before rotation
// existed: nothing to do.
func (g *Gate) RotateOperator(ctx context.Context, baseURL, user, bootstrap, next string) error {
	if user == "" || bootstrap == "" || next == "" {
		return errors.New("langflow rotate operator: empty username or password")
	}
	if bootstrap == next {
		return nil
	}
	c, err := g.Client(baseURL)
	if err != nil {
		return err
	}
	tok, err := c.Login(ctx, user, next)
	switch {
	case err == nil:
		// Rotated by an earlier attempt.
	case errors.Is(err, ErrUnauthorized):
		if tok, err = c.Login(ctx, user, bootstrap); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				return fmt.Errorf("langflow rotate operator: neither the stored nor the bootstrap password logs in as %q: %w", user, err)
			}
			return fmt.Errorf("operator: %w", err)
		}
		me, err := c.WhoAmI(ctx, tok)
		if err != nil {
			return fmt.Errorf("operator: %w", err)
		}
		if me.Username != user || !me.IsSuperuser {
			return fmt.Errorf("langflow rotate operator: the bootstrap login is %q (superuser %t), want the superuser %q", me.Username, me.IsSuperuser, user)
		}
		if _, err := c.UpdateUser(ctx, tok, me.ID, UserPatch{Password: &next}); err != nil {
			return fmt.Errorf("rotate operator: %w", err)
		}
		if tok, err = c.Login(ctx, user, next); err != nil {
			return fmt.Errorf("operator after rotation: %w", err)
		}
	default:
		return fmt.Errorf("operator: %w", err)
	}
	if me, err := c.WhoAmI(ctx, tok); err != nil {
		return fmt.Errorf("operator: %w", err)
	} else if me.Username != user || !me.IsSuperuser || !me.IsActive {
		return fmt.Errorf("langflow rotate operator: the operator login is %q (superuser %t, active %t), want the active superuser %q",
			me.Username, me.IsSuperuser, me.IsActive, user)
	}
	switch _, err := c.Login(ctx, user, bootstrap); {
	case err == nil:
		return fmt.Errorf("langflow rotate operator: the bootstrap password still logs in as %q", user)
	case !errors.Is(err, ErrUnauthorized):
		return fmt.Errorf("check the bootstrap password is dead: %w", err)
	}
	return nil
}

// EnsureCustomer makes the customer login exist, be active and work, and returns its Langflow
// user id. It logs in as the operator (a superuser), creates the customer, activates it, then
// logs in as the customer and checks the token with whoami.
//
// It is idempotent, so a provisioning job retried after a crash (between create and activate,
// or after a create whose response was lost) converges on the same user: a taken username means
// an earlier attempt created it, so the user is looked up and its password reset to
// customer.Password together with the activation. That reasoning holds because each tenant has
// its own Langflow database in which only the operator and this customer exist; it refuses to
// touch a superuser, and a customer named like the operator.
func (g *Gate) EnsureCustomer(ctx context.Context, baseURL string, operator, customer Credentials) (string, error) {
	if customer.Username == "" || customer.Password == "" {
		return "", errors.New("langflow ensure customer: empty customer username or password")
	}
	if customer.Username == operator.Username {
		return "", errors.New("langflow ensure customer: customer username equals the operator's")
	}
	c, err := g.Client(baseURL)
	if err != nil {
		return "", err
	}
	tok, err := c.Login(ctx, operator.Username, operator.Password)
	if err != nil {
		return "", fmt.Errorf("operator: %w", err)
	}
	active := true
	patch := UserPatch{IsActive: &active}
	u, err := c.CreateUser(ctx, tok, customer.Username, customer.Password)
	switch {
	case err == nil:
	case errors.Is(err, ErrConflict):
		// An earlier attempt created it; its password may be one we no longer hold.
		if u, err = c.FindUser(ctx, tok, customer.Username); err != nil {
			return "", fmt.Errorf("after username conflict: %w", err)
		}
		if u.IsSuperuser {
			return "", fmt.Errorf("langflow ensure customer: user %q exists and is a superuser: refusing to reuse it", u.Username)
		}
		patch.Password = &customer.Password
	default:
		return "", err
	}
	if _, err := c.UpdateUser(ctx, tok, u.ID, patch); err != nil {
		return "", fmt.Errorf("activate customer: %w", err)
	}
	if err := prove(ctx, c, customer, u.ID); err != nil {
		return "", err
	}
	return u.ID, nil
}

// RotateCustomer gives a sold account fresh credentials at claim time, so nothing that sat in
// the pool opens it: it sets the username and password of userID to next (one PATCH, as the
// operator), proves next works, and proves old.Password works neither under the new nor under
// the old username. Rerunning it after a crash is harmless.
//
// Langflow does not revoke JWTs on a password change: tokens issued before the rotation stay
// valid until they expire (ACCESS_TOKEN_EXPIRE_SECONDS). The gate never stores the tokens it
// obtains, so none of them left this process.
func (g *Gate) RotateCustomer(ctx context.Context, baseURL string, operator Credentials, userID string, old, next Credentials) error {
	if next.Username == "" || next.Password == "" || userID == "" {
		return errors.New("langflow rotate customer: empty user id, username or password")
	}
	if next.Password == old.Password {
		return errors.New("langflow rotate customer: the new password equals the old one")
	}
	if next.Username == operator.Username {
		return errors.New("langflow rotate customer: customer username equals the operator's")
	}
	c, err := g.Client(baseURL)
	if err != nil {
		return err
	}
	tok, err := c.Login(ctx, operator.Username, operator.Password)
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	if _, err := c.UpdateUser(ctx, tok, userID, UserPatch{Username: &next.Username, Password: &next.Password}); err != nil {
		return fmt.Errorf("rotate customer: %w", err)
	}
	if err := prove(ctx, c, next, userID); err != nil {
		return err
	}
	stale := []Credentials{{Username: next.Username, Password: old.Password}}
	if old.Username != "" && old.Username != next.Username {
		stale = append(stale, old)
	}
	for _, s := range stale {
		_, err := c.Login(ctx, s.Username, s.Password)
		switch {
		case err == nil:
			return fmt.Errorf("langflow rotate customer: the old password still logs in as %q", s.Username)
		case !errors.Is(err, ErrUnauthorized):
			return fmt.Errorf("check old password is dead: %w", err)
		}
	}
	return nil
}

// prove logs in as cred and checks, through whoami, that the token is accepted and belongs to
// the expected active, non-superuser account.
func prove(ctx context.Context, c *Client, cred Credentials, userID string) error {
	tok, err := c.Login(ctx, cred.Username, cred.Password)
	if err != nil {
		return fmt.Errorf("customer: %w", err)
	}
	me, err := c.WhoAmI(ctx, tok)
	if err != nil {
		return fmt.Errorf("customer: %w", err)
	}
	if me.ID != userID || me.Username != cred.Username || !me.IsActive || me.IsSuperuser {
		return fmt.Errorf("langflow customer login proves the wrong account: got %q (%s, active %t, superuser %t), want %q (%s)",
			me.ID, me.Username, me.IsActive, me.IsSuperuser, userID, cred.Username)
	}
	return nil
}

// RotateAccount is RotateCustomer for a pool account: its operator and customer logins, with the
// new customer password.
func (g *Gate) RotateAccount(ctx context.Context, a pool.Account, password string) error {
	operator := Credentials{Username: a.OperatorUser, Password: a.OperatorPassword}
	old := Credentials{Username: a.CustomerUser, Password: a.CustomerPassword}
	next := Credentials{Username: a.CustomerUser, Password: password}
	return g.RotateCustomer(ctx, a.URL, operator, a.CustomerUserID, old, next)
}

// notReadyError is WaitHealthy's verdict: ErrNotReady, and the last probe's error.
type notReadyError struct {
	url     string
	timeout time.Duration
	probes  int
	last    error
}

func (e *notReadyError) Error() string {
	return fmt.Sprintf("%s: %s after %s and %d probes: %s", ErrNotReady, e.url, e.timeout, e.probes, e.last)
}

func (e *notReadyError) Unwrap() []error { return []error{ErrNotReady, e.last} }

// Describe implements pool.Describer: the deadline and the last probe, described.
func (e *notReadyError) Describe() string {
	return fmt.Sprintf("not healthy within %s (%d probes); last probe: %s", e.timeout, e.probes, pool.Describe(e.last))
}
