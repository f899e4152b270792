package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/quartz"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/console"
	"github.com/axiestudio/tenantpool/pool/pooltest/browsertest"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// serveConsole serves a console on a real SQLite store with a mock clock.
func serveConsole(t *testing.T, clock quartz.Clock, secure bool) string {
	t.Helper()
	s := storetest.OpenSQLite(t, t.TempDir(), clock)
	tiers := pool.Tiers{"basic": {Name: "basic", MinReady: 1, MaxTotal: 5, MaxInFlight: 1}}
	api, err := admin.New(admin.Config{Store: s, Tiers: tiers, Prefix: "client", Tokens: []string{token}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Config{Store: s, Ops: api, Tiers: tiers, Prefix: "client", Clock: clock,
		IdleTimeout: 30 * time.Minute, Secure: secure})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// A session ends after the idle timeout without a request (the injected clock): the next
// page is the sign-in page saying so, and signing in again returns to that page. Activity
// within the timeout keeps it alive.
func TestConsoleSessionExpires(t *testing.T) {
	clock := quartz.NewMock(t)
	base := serveConsole(t, clock, false)
	ctx := browsertest.New(t)
	signIn(t, ctx, base)

	clock.Advance(29 * time.Minute)
	run(t, ctx, chromedp.Navigate(base+"/console/accounts"), chromedp.WaitVisible(chromedp.CSS("#empty")))
	clock.Advance(29 * time.Minute) // 58 min after sign-in, 29 after the last request: still in
	run(t, ctx, chromedp.Navigate(base+"/console/health"), chromedp.WaitVisible(chromedp.CSS("#health, #empty")))

	clock.Advance(31 * time.Minute)
	run(t, ctx, chromedp.Navigate(base+"/console/accounts"), chromedp.WaitVisible(chromedp.CSS("#expired")))
	browsertest.Screenshot(t, ctx, "expired")
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#filters")))
	if loc := eval[string](t, ctx, "location.pathname"); loc != "/console/accounts" {
		t.Fatalf("after signing in again: %s, want /console/accounts", loc)
	}
}

// The session cookie is HttpOnly, SameSite=Strict, scoped to the console, and Secure under
// TLS; signing out ends the session for good (the old cookie is refused).
func TestConsoleCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		base := serveConsole(t, quartz.NewMock(t), secure)
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(base+"/console/signin", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("cookies: %v", cookies)
		}
		ck := cookies[0]
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != console.Prefix || ck.Secure != secure {
			t.Fatalf("cookie %+v (secure %v)", ck, secure)
		}
		get := func() int {
			req, _ := http.NewRequest("GET", base+"/console/pool", nil)
			req.AddCookie(ck)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := get(); code != http.StatusOK {
			t.Fatalf("pool with the cookie: %d", code)
		}
		req, _ := http.NewRequest("GET", base+"/console/pool", nil)
		req.AddCookie(ck)
		resp, err = c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		_, rest, _ := strings.Cut(body.String(), `name="csrf" value="`)
		csrf, _, _ := strings.Cut(rest, `"`)
		req, _ = http.NewRequest("POST", base+"/console/signout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		if resp, err = c.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign out: %d", resp.StatusCode)
		}
		if code := get(); code != http.StatusSeeOther {
			t.Fatalf("pool with the signed-out cookie: %d, want a redirect to sign in", code)
		}
	}
}
