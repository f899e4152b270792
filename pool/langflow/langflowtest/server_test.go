package langflowtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

type answer struct {
	status int
	body   map[string]any
}

func send(t *testing.T, method, u, contentType, body, token string) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

const form = "application/x-www-form-urlencoded"

func loginForm(user, pass string) string {
	return url.Values{"username": {user}, "password": {pass}}.Encode()
}

// The double must keep to Langflow's documented behaviour, or tests built on it prove nothing.
func TestServerFollowsLangflow(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	login := srv.URL + "/api/v1/login"
	users := srv.URL + "/api/v1/users/"

	op := send(t, "POST", login, form, loginForm(langflowtest.DefaultSuperuser, langflowtest.DefaultSuperuserPassword), "")
	opTok, _ := op.body["access_token"].(string)
	if op.status != 200 || opTok == "" || op.body["token_type"] != "bearer" || op.body["refresh_token"] == nil {
		t.Fatalf("operator login = %+v", op)
	}
	created := send(t, "POST", users, "application/json", `{"username":"c1","password":"pw1"}`, opTok)
	id, _ := created.body["id"].(string)
	if created.status != 201 || id == "" || created.body["is_active"] != false || created.body["is_superuser"] != false {
		t.Fatalf("create = %+v", created)
	}

	tests := []struct {
		name                      string
		method, path, ctype, body string
		token                     string
		status                    int
		detail                    string
	}{
		{"login as JSON is rejected", "POST", "/api/v1/login", "application/json", `{"username":"operator","password":"x"}`, "", 422, ""},
		{"login wrong password", "POST", "/api/v1/login", form, loginForm(langflowtest.DefaultSuperuser, "x"), "", 401, "Incorrect username or password"},
		{"inactive user never logged in", "POST", "/api/v1/login", form, loginForm("c1", "pw1"), "", 400, "Waiting for approval"},
		{"create without token", "POST", "/api/v1/users/", "application/json", `{"username":"c2","password":"p"}`, "", 403, "Public user registration is disabled."},
		{"create taken", "POST", "/api/v1/users/", "application/json", `{"username":"c1","password":"p"}`, opTok, 400, "This username is unavailable."},
		{"list without token", "GET", "/api/v1/users/", "", "", "", 403, "An API key must be passed as query or header"},
		{"list with unknown token", "GET", "/api/v1/users/", "", "", "nope", 401, "Could not validate credentials"},
		{"patch bad uuid", "PATCH", "/api/v1/users/not-a-uuid", "application/json", `{"is_active":true}`, opTok, 422, ""},
		{"patch nothing", "PATCH", "/api/v1/users/" + id, "application/json", `{}`, opTok, 200, ""},
		{"activate", "PATCH", "/api/v1/users/" + id, "application/json", `{"is_active":true}`, opTok, 200, ""},
		{"operator cannot deactivate itself", "PATCH", "/api/v1/users/" + userID(t, srv, langflowtest.DefaultSuperuser), "application/json", `{"is_active":false}`, opTok, 403, "You can't deactivate your own user account"},
		{"/health answers regardless", "GET", "/health", "", "", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := send(t, tt.method, srv.URL+tt.path, tt.ctype, tt.body, tt.token)
			if a.status != tt.status || tt.detail != "" && a.body["detail"] != tt.detail {
				t.Fatalf("%s %s = %d %v, want %d %q", tt.method, tt.path, a.status, a.body, tt.status, tt.detail)
			}
		})
	}

	cust := send(t, "POST", login, form, loginForm("c1", "pw1"), "")
	custTok, _ := cust.body["access_token"].(string)
	if cust.status != 200 {
		t.Fatalf("active customer login = %+v", cust)
	}
	if a := send(t, "GET", users, "", "", custTok); a.status != 403 || a.body["detail"] != "The user doesn't have enough privileges" {
		t.Fatalf("customer listing users = %+v, want 403", a)
	}
	if a := send(t, "PATCH", users+id, "application/json", `{"password":"mine"}`, custTok); a.status != 400 {
		t.Fatalf("customer changing its password = %+v, want 400", a)
	}
	// Like Langflow's JWTs, a token outlives a password change.
	if a := send(t, "PATCH", users+id, "application/json", `{"password":"pw2"}`, opTok); a.status != 200 {
		t.Fatalf("operator password reset = %+v", a)
	}
	if a := send(t, "GET", users+"whoami", "", "", custTok); a.status != 200 || a.body["id"] != id {
		t.Fatalf("whoami with a pre-rotation token = %+v", a)
	}
	// Deactivated after a login: 401 "Inactive user", and its tokens stop working.
	send(t, "PATCH", users+id, "application/json", `{"is_active":false}`, opTok)
	if a := send(t, "POST", login, form, loginForm("c1", "pw2"), ""); a.status != 401 || a.body["detail"] != "Inactive user" {
		t.Fatalf("inactive user login = %+v", a)
	}
	if a := send(t, "GET", users+"whoami", "", "", custTok); a.status != 401 {
		t.Fatalf("inactive user's token = %+v, want 401", a)
	}
	if n := srv.Requests(langflowtest.RouteLogin); n != 6 {
		t.Errorf("login count = %d, want 6", n)
	}
}

func userID(t *testing.T, srv *langflowtest.Server, name string) string {
	t.Helper()
	u, ok := srv.User(name)
	if !ok {
		t.Fatalf("no user %s", name)
	}
	return u.ID
}

func TestServerStartup(t *testing.T) {
	srv := langflowtest.NewServer(t, langflowtest.Options{StartDown: true, UnhealthyChecks: 2})
	if _, err := http.Get(srv.URL + "/health_check"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("down server: %v, want connection refused", err)
	}
	srv.Up()
	for i, want := range []int{503, 503, 200, 200} {
		resp, err := http.Get(srv.URL + "/health_check")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("health check %d = %d, want %d", i, resp.StatusCode, want)
		}
	}
	srv.SetHealthy(false)
	if a := send(t, "GET", srv.URL+"/health_check", "", "", ""); a.status != 500 || a.body["detail"].(map[string]any)["status"] != "nok" {
		t.Fatalf("unhealthy = %+v, want Langflow's 500 nok", a)
	}
}
