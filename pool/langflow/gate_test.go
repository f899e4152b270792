package langflow_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

var operator = langflow.Credentials{Username: langflowtest.DefaultSuperuser, Password: langflowtest.DefaultSuperuserPassword}

func newGate(clock quartz.Clock) *langflow.Gate {
	return langflow.NewGate(langflow.GateOptions{Clock: clock, PollInterval: 2 * time.Second, Client: fastOpts()})
}

// waitWithMockClock runs WaitHealthy on a mock clock, firing each poll timer as soon as the
// gate sets it, and calls onWait with the number of timers fired so far. It returns the
// result and the mock time that passed.
func waitWithMockClock(t *testing.T, srv *langflowtest.Server, timeout time.Duration, onWait func(n int)) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // real-time safety net
	defer cancel()
	mClock := quartz.NewMock(t)
	start := mClock.Now()
	trap := mClock.Trap().NewTimer("langflow", "health")
	defer trap.Close()

	done := make(chan error, 1)
	go func() { done <- newGate(mClock).WaitHealthy(ctx, srv.URL, timeout) }()
	calls := make(chan *quartz.Call)
	go func() {
		for {
			c, err := trap.Wait(ctx)
			if err != nil {
				return
			}
			select {
			case calls <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	for n := 0; ; {
		select {
		case err := <-done:
			return err, mClock.Now().Sub(start)
		case c := <-calls:
			c.MustRelease(ctx)
			n++
			if onWait != nil {
				onWait(n)
			}
			_, w := mClock.AdvanceNext()
			w.MustWait(ctx)
		case <-ctx.Done():
			t.Fatal("WaitHealthy did not finish")
		}
	}
}

func TestWaitHealthySlowStart(t *testing.T) {
	// Refuses connections for three probes, then the proxy answers 503 three times, then ok.
	srv := langflowtest.NewServer(t, langflowtest.Options{StartDown: true, UnhealthyChecks: 3})
	err, elapsed := waitWithMockClock(t, srv, 5*time.Minute, func(n int) {
		if n == 3 {
			srv.Up()
		}
	})
	if err != nil {
		t.Fatalf("WaitHealthy = %v, want ok", err)
	}
	if got := srv.Requests(langflowtest.RouteHealthCheck); got != 4 {
		t.Errorf("health_check requests reaching the app = %d, want 3×503 + 1 ok", got)
	}
	if got := srv.Requests(langflowtest.RouteHealth); got != 0 {
		t.Errorf("/health was asked %d times: it answers before Langflow is up and must not be trusted", got)
	}
	if elapsed != 6*2*time.Second {
		t.Errorf("mock time passed = %s, want 6 polls × 2s", elapsed)
	}
}

func TestWaitHealthyGivesUp(t *testing.T) {
	tests := []struct {
		name string
		opts langflowtest.Options
	}{
		{"never healthy: Langflow 500 nok", langflowtest.Options{NeverHealthy: true}},
		{"never up: connection refused", langflowtest.Options{StartDown: true}},
		{"stuck behind the proxy: 503", langflowtest.Options{UnhealthyChecks: 1 << 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := langflowtest.NewServer(t, tt.opts)
			started := time.Now()
			err, elapsed := waitWithMockClock(t, srv, 5*time.Minute, nil)
			if !errors.Is(err, langflow.ErrNotReady) || !errors.Is(err, langflow.ErrUnavailable) {
				t.Fatalf("WaitHealthy = %v, want ErrNotReady wrapping ErrUnavailable", err)
			}
			if elapsed != 5*time.Minute {
				t.Errorf("gave up after %s of mock time, want exactly the 5m timeout", elapsed)
			}
			if real := time.Since(started); real > 20*time.Second {
				t.Errorf("took %s of real time", real)
			}
		})
	}
}

func TestWaitHealthyHonoursContext(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{NeverHealthy: true})
	ctx, cancel := context.WithCancel(context.Background())
	mClock := quartz.NewMock(t)
	trap := mClock.Trap().NewTimer("langflow", "health")
	defer trap.Close()
	done := make(chan error, 1)
	go func() { done <- newGate(mClock).WaitHealthy(ctx, srv.URL, time.Hour) }()
	c := trap.MustWait(context.Background())
	c.MustRelease(context.Background())
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, langflow.ErrNotReady) {
		t.Fatalf("WaitHealthy = %v, want context.Canceled", err)
	}
}

func TestWaitHealthyRealClock(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{UnhealthyChecks: 2})
	g := langflow.NewGate(langflow.GateOptions{PollInterval: time.Millisecond, Client: fastOpts()})
	if err := g.WaitHealthy(context.Background(), srv.URL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func customerFor(name string) langflow.Credentials {
	return langflow.Credentials{Username: name, Password: "pw-of-" + name}
}

// checkCustomer asserts the double holds exactly one customer besides the operator, active,
// with the given credentials and id.
func checkCustomer(t *testing.T, srv *langflowtest.Server, id string, cred langflow.Credentials) {
	t.Helper()
	users := srv.Users()
	if len(users) != 2 {
		t.Fatalf("%d users in Langflow, want the operator and one customer: %+v", len(users), users)
	}
	u, ok := srv.User(cred.Username)
	if !ok || u.ID != id || u.Password != cred.Password || !u.IsActive || u.IsSuperuser {
		t.Fatalf("customer = %+v (found %t), want id %s, active, with the expected password", u, ok, id)
	}
}

func TestEnsureCustomer(t *testing.T) {
	ctx := context.Background()
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	g := newGate(nil)
	cust := customerFor("client07")
	id, err := g.EnsureCustomer(ctx, srv.URL, operator, cust)
	if err != nil {
		t.Fatal(err)
	}
	checkCustomer(t, srv, id, cust)

	// Running it again (a job retried after its success was not recorded) changes nothing.
	again, err := g.EnsureCustomer(ctx, srv.URL, operator, cust)
	if err != nil || again != id {
		t.Fatalf("second EnsureCustomer = %q, %v; want %q", again, err, id)
	}
	checkCustomer(t, srv, id, cust)
}

func TestEnsureCustomerNewUsersActive(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{NewUserIsActive: true})
	cust := customerFor("client07")
	id, err := newGate(nil).EnsureCustomer(context.Background(), srv.URL, operator, cust)
	if err != nil {
		t.Fatal(err)
	}
	checkCustomer(t, srv, id, cust)
}

// A job that crashed, or lost a response, part-way through is retried with the same account
// row; the retry must converge on one active customer whose password is the row's.
func TestEnsureCustomerRetryAfterCrash(t *testing.T) {
	ctx := context.Background()
	cust := customerFor("client07")
	tests := []struct {
		name string
		// crash leaves Langflow as the interrupted attempt did.
		crash func(t *testing.T, srv *langflowtest.Server, g *langflow.Gate)
	}{
		{"crash between create and activate", func(t *testing.T, srv *langflowtest.Server, g *langflow.Gate) {
			c := newClient(t, srv.URL)
			if _, err := c.CreateUser(ctx, operatorToken(t, c), cust.Username, cust.Password); err != nil {
				t.Fatal(err)
			}
		}},
		{"crash after create, password regenerated since", func(t *testing.T, srv *langflowtest.Server, g *langflow.Gate) {
			c := newClient(t, srv.URL)
			if _, err := c.CreateUser(ctx, operatorToken(t, c), cust.Username, "a-password-nobody-holds"); err != nil {
				t.Fatal(err)
			}
		}},
		{"create response lost", func(t *testing.T, srv *langflowtest.Server, g *langflow.Gate) {
			srv.InjectFault(langflowtest.RouteCreateUser, langflowtest.Fault{Status: 502, AfterEffect: true})
			if _, err := g.EnsureCustomer(ctx, srv.URL, operator, cust); !errors.Is(err, langflow.ErrUnavailable) {
				t.Fatalf("first attempt = %v, want ErrUnavailable", err)
			}
		}},
		{"activation keeps failing", func(t *testing.T, srv *langflowtest.Server, g *langflow.Gate) {
			srv.InjectFault(langflowtest.RoutePatchUser, langflowtest.Fault{Status: 503, Times: 4})
			if _, err := g.EnsureCustomer(ctx, srv.URL, operator, cust); !errors.Is(err, langflow.ErrUnavailable) {
				t.Fatalf("first attempt = %v, want ErrUnavailable", err)
			}
		}},
		{"customer proof failed once", func(t *testing.T, srv *langflowtest.Server, g *langflow.Gate) {
			srv.InjectFault(langflowtest.RouteWhoAmI, langflowtest.Fault{Status: 500, Times: 4})
			if _, err := g.EnsureCustomer(ctx, srv.URL, operator, cust); !errors.Is(err, langflow.ErrUnavailable) {
				t.Fatalf("first attempt = %v, want ErrUnavailable", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := langflowtest.NewServer(t, langflowtest.Options{})
			g := newGate(nil)
			tt.crash(t, srv, g)
			id, err := g.EnsureCustomer(ctx, srv.URL, operator, cust)
			if err != nil {
				t.Fatalf("retried EnsureCustomer: %v", err)
			}
			checkCustomer(t, srv, id, cust)
			if _, err := newClient(t, srv.URL).Login(ctx, cust.Username, cust.Password); err != nil {
				t.Fatalf("customer cannot log in: %v", err)
			}
		})
	}
}

func TestEnsureCustomerRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		operator langflow.Credentials
		customer langflow.Credentials
		kind     error
	}{
		{"wrong operator password", langflow.Credentials{Username: operator.Username, Password: "wrong"}, customerFor("c1"), langflow.ErrUnauthorized},
		{"customer named like the operator", operator, langflow.Credentials{Username: operator.Username, Password: "x"}, nil},
		{"empty customer password", operator, langflow.Credentials{Username: "c1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := langflowtest.NewServer(t, langflowtest.Options{})
			_, err := newGate(nil).EnsureCustomer(ctx, srv.URL, tt.operator, tt.customer)
			if err == nil || tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Fatalf("EnsureCustomer = %v, want an error (%v)", err, tt.kind)
			}
			if n := len(srv.Users()); n != 1 {
				t.Fatalf("%d users, want only the operator", n)
			}
		})
	}
	t.Run("existing superuser is never reused", func(t *testing.T) {
		srv := langflowtest.NewServer(t, langflowtest.Options{})
		c := newClient(t, srv.URL)
		op := operatorToken(t, c)
		u, _ := c.CreateUser(ctx, op, "admin2", "pw")
		// Promote it through the double's PATCH, as a superuser may.
		yes := true
		if _, err := c.UpdateUser(ctx, op, u.ID, langflow.UserPatch{IsActive: &yes}); err != nil {
			t.Fatal(err)
		}
		promote(t, srv, u.ID)
		if _, err := newGate(nil).EnsureCustomer(ctx, srv.URL, operator, langflow.Credentials{Username: "admin2", Password: "new"}); err == nil {
			t.Fatal("EnsureCustomer reset a superuser's password")
		}
		if got, _ := srv.User("admin2"); got.Password != "pw" {
			t.Fatal("superuser password changed")
		}
	})
}

// promote makes a user superuser through the API (UserPatch has no such field: tenantpool never
// promotes anyone).
func promote(t *testing.T, srv *langflowtest.Server, id string) {
	t.Helper()
	c := newClient(t, srv.URL)
	tok := operatorToken(t, c)
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/api/v1/users/"+id, strings.NewReader(`{"is_superuser":true}`))
	req.Header.Set("Authorization", "Bearer "+string(tok))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("promote: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestRotateCustomer(t *testing.T) {
	ctx := context.Background()
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	g := newGate(nil)
	pool := customerFor("client07")
	id, err := g.EnsureCustomer(ctx, srv.URL, operator, pool)
	if err != nil {
		t.Fatal(err)
	}
	sold := langflow.Credentials{Username: "alice@example.com", Password: "fresh-password-1"}
	if err := g.RotateCustomer(ctx, srv.URL, operator, id, pool, sold); err != nil {
		t.Fatal(err)
	}
	checkCustomer(t, srv, id, sold)
	c := newClient(t, srv.URL)
	for _, old := range []langflow.Credentials{pool, {Username: sold.Username, Password: pool.Password}} {
		if _, err := c.Login(ctx, old.Username, old.Password); !errors.Is(err, langflow.ErrUnauthorized) {
			t.Errorf("login %s with the pool password = %v, want ErrUnauthorized", old.Username, err)
		}
	}
	// A claim retried after a crash rotates again to the same credentials: harmless.
	if err := g.RotateCustomer(ctx, srv.URL, operator, id, pool, sold); err != nil {
		t.Fatalf("repeated rotation: %v", err)
	}
	checkCustomer(t, srv, id, sold)
	// Password-only rotation keeps the username.
	again := langflow.Credentials{Username: sold.Username, Password: "fresh-password-2"}
	if err := g.RotateCustomer(ctx, srv.URL, operator, id, sold, again); err != nil {
		t.Fatal(err)
	}
	checkCustomer(t, srv, id, again)
}

func TestRotateCustomerRefuses(t *testing.T) {
	ctx := context.Background()
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	g := newGate(nil)
	pool := customerFor("client07")
	id, err := g.EnsureCustomer(ctx, srv.URL, operator, pool)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv.URL)
	if _, err := c.CreateUser(ctx, operatorToken(t, c), "bob@example.com", "bobs"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   string
		next langflow.Credentials
		kind error
	}{
		{"username taken", id, langflow.Credentials{Username: "bob@example.com", Password: "new"}, langflow.ErrConflict},
		{"unknown user", "0b5b4a8e-3f0a-4c53-9d7e-5f9c2b1e7a10", langflow.Credentials{Username: "x@example.com", Password: "new"}, langflow.ErrNotFound},
		{"same password", id, langflow.Credentials{Username: "x@example.com", Password: pool.Password}, nil},
		{"operator's name", id, langflow.Credentials{Username: operator.Username, Password: "new"}, nil},
		{"empty password", id, langflow.Credentials{Username: "x@example.com"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.RotateCustomer(ctx, srv.URL, operator, tt.id, pool, tt.next)
			if err == nil || tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Fatalf("RotateCustomer = %v, want an error (%v)", err, tt.kind)
			}
			checkCustomer3(t, srv, id, pool)
		})
	}
}

// checkCustomer3 is checkCustomer for a tenant that also holds a second customer.
func checkCustomer3(t *testing.T, srv *langflowtest.Server, id string, cred langflow.Credentials) {
	t.Helper()
	u, ok := srv.User(cred.Username)
	if !ok || u.ID != id || u.Password != cred.Password || !u.IsActive {
		t.Fatalf("customer = %+v (found %t), want it unchanged", u, ok)
	}
}
