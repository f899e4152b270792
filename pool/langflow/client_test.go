package langflow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

// fastOpts keeps retries real but quick.
func fastOpts() langflow.Options {
	return langflow.Options{RequestTimeout: 5 * time.Second, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond}
}

func newClient(t *testing.T, baseURL string) *langflow.Client {
	t.Helper()
	c, err := langflow.New(baseURL, fastOpts())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func operatorToken(t *testing.T, c *langflow.Client) langflow.Token {
	t.Helper()
	tok, err := c.Login(context.Background(), langflowtest.DefaultSuperuser, langflowtest.DefaultSuperuserPassword)
	if err != nil {
		t.Fatalf("operator login: %v", err)
	}
	return tok
}

// wantErr checks an outcome: kind and status both zero mean success; otherwise a *Error with
// that status wrapping kind (nil kind: an unclassified failure).
func wantErr(t *testing.T, err error, kind error, status int) {
	t.Helper()
	if kind == nil && status == 0 {
		if err != nil {
			t.Fatalf("got error %v, want success", err)
		}
		return
	}
	var e *langflow.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *langflow.Error", err)
	}
	if kind != nil && !errors.Is(err, kind) || kind == nil && e.Kind != nil {
		t.Fatalf("got error %v (kind %v), want kind %v", err, e.Kind, kind)
	}
	if e.Status != status {
		t.Fatalf("got status %d, want %d (%v)", e.Status, status, err)
	}
}

func TestNewRejectsBadBaseURLs(t *testing.T) {
	for _, u := range []string{"", "client07.example.com", "ftp://x", "https://", "https://op:pw@x.example.com"} {
		if _, err := langflow.New(u, langflow.Options{}); err == nil {
			t.Errorf("New(%q) succeeded, want an error", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("New(%q) error leaks the URL password: %v", u, err)
		}
	}
}

func TestLogin(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	tok := operatorToken(t, c)
	if _, err := c.CreateUser(ctx, tok, "waiting", "waiting-pw"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, pass string
		kind             error
		status           int
	}{
		{"operator", langflowtest.DefaultSuperuser, langflowtest.DefaultSuperuserPassword, nil, 0},
		{"wrong password", langflowtest.DefaultSuperuser, "nope", langflow.ErrUnauthorized, http.StatusUnauthorized},
		{"unknown user", "ghost", "nope", langflow.ErrUnauthorized, http.StatusUnauthorized},
		{"inactive, never logged in", "waiting", "waiting-pw", langflow.ErrUnauthorized, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := c.Login(ctx, tt.user, tt.pass)
			wantErr(t, err, tt.kind, tt.status)
			if err == nil && tok == "" {
				t.Fatal("empty token")
			}
		})
	}
	if n := srv.Requests(langflowtest.RouteLogin); n != 1+len(tests) {
		t.Errorf("login requests = %d, want %d: failed logins must not be retried", n, 1+len(tests))
	}
}

func TestUserRoutes(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	op := operatorToken(t, c)

	u, err := c.CreateUser(ctx, op, "client07", "pw-1")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Username != "client07" || u.IsActive || u.IsSuperuser {
		t.Fatalf("created %+v, want an inactive non-superuser client07 with an id", u)
	}
	yes := true
	if _, err := c.UpdateUser(ctx, op, u.ID, langflow.UserPatch{IsActive: &yes}); err != nil {
		t.Fatal(err)
	}
	cust, err := c.Login(ctx, "client07", "pw-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, op, "client08", "pw-2"); err != nil {
		t.Fatal(err)
	}
	other := "client08"
	newPass := "pw-3"
	bogusID := "0b5b4a8e-3f0a-4c53-9d7e-5f9c2b1e7a10"

	tests := []struct {
		name   string
		do     func() error
		kind   error
		status int
	}{
		{"create taken username", func() error { _, err := c.CreateUser(ctx, op, "client07", "x"); return err }, langflow.ErrConflict, http.StatusBadRequest},
		{"create without token", func() error { _, err := c.CreateUser(ctx, "", "c9", "x"); return err }, langflow.ErrUnauthorized, http.StatusForbidden},
		{"create as customer", func() error { _, err := c.CreateUser(ctx, cust, "c9", "x"); return err }, langflow.ErrUnauthorized, http.StatusForbidden},
		{"create with a bogus token", func() error { _, err := c.CreateUser(ctx, "forged", "c9", "x"); return err }, langflow.ErrUnauthorized, http.StatusForbidden},
		{"patch unknown id", func() error { _, err := c.UpdateUser(ctx, op, bogusID, langflow.UserPatch{IsActive: &yes}); return err }, langflow.ErrNotFound, http.StatusNotFound},
		{"patch rename onto taken", func() error { _, err := c.UpdateUser(ctx, op, u.ID, langflow.UserPatch{Username: &other}); return err }, langflow.ErrConflict, http.StatusBadRequest},
		{"patch password as customer", func() error {
			_, err := c.UpdateUser(ctx, cust, u.ID, langflow.UserPatch{Password: &newPass})
			return err
		}, nil, http.StatusBadRequest},
		{"list as customer", func() error { _, err := c.FindUser(ctx, cust, "client07"); return err }, langflow.ErrUnauthorized, http.StatusForbidden},
		{"list with a bogus token", func() error { _, err := c.FindUser(ctx, "forged", "client07"); return err }, langflow.ErrUnauthorized, http.StatusUnauthorized},
		{"find missing", func() error { _, err := c.FindUser(ctx, op, "nobody"); return err }, langflow.ErrNotFound, 0},
		{"whoami customer", func() error { _, err := c.WhoAmI(ctx, cust); return err }, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.do(), tt.kind, tt.status) })
	}
	if got, _ := srv.User("client07"); got.Password != "pw-1" || !got.IsActive {
		t.Errorf("client07 changed by rejected calls: %+v", got)
	}
}

// Langflow's detail for a rename conflict is str(IntegrityError), SQL parameters included: it
// must be classified as a conflict and the SQL left out of the error.
func TestUpdateConflictDetailIsElided(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	c := newClient(t, srv.URL)
	op := operatorToken(t, c)
	ctx := context.Background()
	u, _ := c.CreateUser(ctx, op, "a", "pw-a")
	if _, err := c.CreateUser(ctx, op, "b", "pw-b"); err != nil {
		t.Fatal(err)
	}
	b := "b"
	_, err := c.UpdateUser(ctx, op, u.ID, langflow.UserPatch{Username: &b})
	if !errors.Is(err, langflow.ErrConflict) || strings.Contains(err.Error(), "parameters") || !strings.Contains(err.Error(), "[SQL elided]") {
		t.Fatalf("got %v, want a conflict with the SQL elided", err)
	}
}

func TestFindUserPages(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	c := newClient(t, srv.URL)
	op := operatorToken(t, c)
	ctx := context.Background()
	var last langflow.User
	for i := range 120 {
		u, err := c.CreateUser(ctx, op, fmt.Sprintf("cust%03d", i), "pw")
		if err != nil {
			t.Fatal(err)
		}
		last = u
	}
	got, err := c.FindUser(ctx, op, "cust119")
	if err != nil || got.ID != last.ID {
		t.Fatalf("FindUser = %+v, %v; want %s", got, err, last.ID)
	}
	if got, err := c.FindUser(ctx, op, "cust001"); err != nil || got.Username != "cust001" {
		t.Fatalf("FindUser(cust001) = %+v, %v", got, err)
	}
	if n := srv.Requests(langflowtest.RouteListUsers); n != 2 {
		t.Errorf("list requests = %d, want 2 (search narrows to one page each)", n)
	}
}

// A server that ignores search= (older Langflow) still works: FindUser pages through everyone.
func TestFindUserWithoutServerSearch(t *testing.T) {
	var calls int
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		skip := r.URL.Query().Get("skip")
		w.Header().Set("Content-Type", "application/json")
		if skip == "0" {
			users := make([]string, 50)
			for i := range users {
				users[i] = fmt.Sprintf(`{"id":"id-%d","username":"u%d","is_active":true,"is_superuser":false}`, i, i)
			}
			fmt.Fprintf(w, `{"total_count":51,"users":[%s]}`, strings.Join(users, ","))
			return
		}
		fmt.Fprint(w, `{"total_count":51,"users":[{"id":"id-x","username":"wanted","is_active":false,"is_superuser":false}]}`)
	}))
	defer ts.Close()
	c := newClient(t, ts.URL)
	got, err := c.FindUser(context.Background(), "tok", "wanted")
	if err != nil || got.ID != "id-x" || calls != 2 {
		t.Fatalf("FindUser = %+v, %v after %d calls; want id-x after 2", got, err, calls)
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   error
	}{
		{"ok", 200, `{"status":"ok","chat":"ok","db":"ok"}`, nil},
		{"json status nok", 200, `{"status":"nok","chat":"ok","db":"error"}`, langflow.ErrUnavailable},
		{"langflow 500 nok", 500, `{"detail":{"status":"nok","chat":"error check the server logs","db":"ok"}}`, langflow.ErrUnavailable},
		{"proxy 503", 503, "no available server", langflow.ErrUnavailable},
		{"proxy 502", 502, "Bad Gateway", langflow.ErrUnavailable},
		{"placeholder page", 200, "<html>welcome to nginx</html>", langflow.ErrUnavailable},
		{"no route yet", 404, "404 page not found", langflow.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/health_check" {
					t.Errorf("probed %s, want /health_check", r.URL.Path)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer ts.Close()
			err := newClient(t, ts.URL).Health(context.Background())
			if tt.kind == nil && err != nil || tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Fatalf("Health = %v, want %v", err, tt.kind)
			}
		})
	}
}

func TestHealthRefusedIsUnavailable(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{StartDown: true})
	err := newClient(t, srv.URL).Health(context.Background())
	if !errors.Is(err, langflow.ErrUnavailable) {
		t.Fatalf("Health on a closed port = %v, want ErrUnavailable", err)
	}
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("login retried on 503", func(t *testing.T) {
		srv := langflowtest.NewServer(t, langflowtest.Options{})
		srv.InjectFault(langflowtest.RouteLogin, langflowtest.Fault{Status: 503, Times: 2})
		operatorToken(t, newClient(t, srv.URL))
		if n := srv.Requests(langflowtest.RouteLogin); n != 3 {
			t.Fatalf("login requests = %d, want 3", n)
		}
	})
	t.Run("patch retried on 500", func(t *testing.T) {
		srv := langflowtest.NewServer(t, langflowtest.Options{})
		c := newClient(t, srv.URL)
		op := operatorToken(t, c)
		u, _ := c.CreateUser(ctx, op, "c1", "pw")
		srv.InjectFault(langflowtest.RoutePatchUser, langflowtest.Fault{Status: 500, AfterEffect: true})
		yes := true
		if _, err := c.UpdateUser(ctx, op, u.ID, langflow.UserPatch{IsActive: &yes}); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests(langflowtest.RoutePatchUser); n != 2 {
			t.Fatalf("patch requests = %d, want 2", n)
		}
	})
	t.Run("retries give up", func(t *testing.T) {
		srv := langflowtest.NewServer(t, langflowtest.Options{})
		srv.InjectFault(langflowtest.RouteLogin, langflowtest.Fault{Status: 502, Times: 10})
		_, err := newClient(t, srv.URL).Login(ctx, "a", "b")
		wantErr(t, err, langflow.ErrUnavailable, 502)
		if n := srv.Requests(langflowtest.RouteLogin); n != 4 {
			t.Fatalf("login requests = %d, want 1 + RetryMax(3)", n)
		}
	})
	t.Run("create not retried once sent", func(t *testing.T) {
		srv := langflowtest.NewServer(t, langflowtest.Options{})
		c := newClient(t, srv.URL)
		op := operatorToken(t, c)
		srv.InjectFault(langflowtest.RouteCreateUser, langflowtest.Fault{Status: 502, AfterEffect: true})
		_, err := c.CreateUser(ctx, op, "c1", "pw")
		wantErr(t, err, langflow.ErrUnavailable, 502)
		if n := srv.Requests(langflowtest.RouteCreateUser); n != 1 {
			t.Fatalf("create requests = %d, want 1", n)
		}
		if _, ok := srv.User("c1"); !ok {
			t.Fatal("the lost-response fault should have created the user")
		}
	})
	t.Run("context cancel is not unavailability", func(t *testing.T) {
		srv := langflowtest.NewServer(t, langflowtest.Options{StartDown: true})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := newClient(t, srv.URL).Login(cctx, "a", "b")
		if !errors.Is(err, context.Canceled) || errors.Is(err, langflow.ErrUnavailable) {
			t.Fatalf("got %v, want context.Canceled only", err)
		}
	})
	t.Run("Retry-After is capped", func(t *testing.T) {
		calls := 0
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			if calls == 1 {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(503)
				return
			}
			io.WriteString(w, `{"status":"ok","chat":"ok","db":"ok"}`)
		}))
		defer ts.Close()
		start := time.Now()
		if err := newClient(t, ts.URL).Health(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Health took %s: Retry-After must be capped at RetryWaitMax", d)
		}
	})
}

// Dev URLs http://<slug>.localhost:<port> work without DNS or /etc/hosts.
func TestLocalhostSubdomain(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	u, _ := url.Parse(srv.URL)
	c := newClient(t, "http://client07.localhost:"+u.Port())
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsFormatRedacted(t *testing.T) {
	tok := langflow.Token("eyJ-secret-token")
	cred := langflow.Credentials{Username: "client07", Password: "hunter2-secret"}
	var logs bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&logs, nil))
	l.Info("x", "tok", tok, "cred", cred)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %#v %+v", tok, tok, tok, tok),
		fmt.Sprint(cred), fmt.Sprintf("%v %s %#v %+v", cred, cred, cred, cred), logs.String()} {
		if strings.Contains(s, "secret") {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(cred), "client07") {
		t.Errorf("credentials should still show the username: %s", cred)
	}
}

// Every error and every log line the client produces is free of the passwords and tokens it
// handled, including when the server echoes them back (pydantic's 422 "input", SQL parameters).
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	const (
		password = "S3cret-Pa55word-xyz"
		token    = "tok-SECRET-abc123"
	)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api/v1/login":
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"detail":"bad login for body %s"}`, strings.ReplaceAll(string(body), `"`, `'`))
		case r.Method == http.MethodPost:
			w.WriteHeader(422)
			fmt.Fprintf(w, `{"detail":[{"type":"missing","msg":"Field required","input":%s,"auth":%q}]}`, body, r.Header.Get("Authorization"))
		case r.Method == http.MethodPatch:
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"detail":"IntegrityError [SQL: UPDATE user] [parameters: (%q)] echo %s"}`, password, body)
		default:
			w.WriteHeader(503)
			fmt.Fprintf(w, `{"detail":"down, token was %s"}`, r.Header.Get("Authorization"))
		}
	}))
	defer echo.Close()
	var logs bytes.Buffer
	opts := fastOpts()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := langflow.New(echo.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := langflow.Token(token)
	pw := password
	var errs []error
	_, err = c.Login(ctx, "client07", password)
	errs = append(errs, err)
	_, err = c.CreateUser(ctx, tok, "client07", password)
	errs = append(errs, err)
	_, err = c.UpdateUser(ctx, tok, "id", langflow.UserPatch{Password: &pw})
	errs = append(errs, err)
	_, err = c.WhoAmI(ctx, tok)
	errs = append(errs, err)

	down := langflowtest.NewServer(t, langflowtest.Options{StartDown: true})
	gate := langflow.NewGate(langflow.GateOptions{Client: opts, Logger: opts.Logger})
	_, err = gate.EnsureCustomer(ctx, down.URL, langflow.Credentials{Username: "op", Password: password}, langflow.Credentials{Username: "c", Password: password + "2"})
	errs = append(errs, err)
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	_, err = gate.EnsureCustomer(ctx, srv.URL, langflow.Credentials{Username: langflowtest.DefaultSuperuser, Password: password}, langflow.Credentials{Username: "c", Password: password + "2"})
	errs = append(errs, err)
	err = gate.RotateCustomer(ctx, srv.URL, langflow.Credentials{Username: langflowtest.DefaultSuperuser, Password: langflowtest.DefaultSuperuserPassword},
		"0b5b4a8e-3f0a-4c53-9d7e-5f9c2b1e7a10", langflow.Credentials{Username: "c", Password: "old-" + password}, langflow.Credentials{Username: "d", Password: password})
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Fatalf("call %d succeeded, want an error", i)
		}
		if msg := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(msg, password) || strings.Contains(msg, token) || strings.Contains(msg, "SECRET") {
			t.Errorf("call %d: secret in error: %s", i, msg)
		}
	}
	if strings.Contains(logs.String(), password) || strings.Contains(logs.String(), token) {
		t.Errorf("secret in logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "level=DEBUG") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("retryablehttp must log at debug only:\n%s", logs.String())
	}
	if !strings.Contains(errs[1].Error(), "[redacted]") {
		t.Errorf("echoed detail should be kept, redacted: %v", errs[1])
	}
}
