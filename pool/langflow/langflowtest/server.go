// Package langflowtest provides an in-process double of a Langflow tenant's REST API, for the
// tests of pool/langflow and of anything that provisions tenants.
//
// The double follows Langflow's source (src/backend/base/langflow/api/health_check_router.py,
// api/v1/login.py, api/v1/users.py, services/auth/utils.py) with LANGFLOW_AUTO_LOGIN=false and
// LANGFLOW_ENABLE_SIGNUP=false, as tenantpool deploys it:
//
//   - GET /health returns {"status":"ok"} as soon as the listener is up (as uvicorn does before
//     the app is ready); GET /health_check returns {"status":"ok","chat":"ok","db":"ok"} once
//     healthy, or 500 {"detail":{"status":"nok",…}} as Langflow does when a check fails.
//   - POST /api/v1/login takes form fields only (JSON → 422), answers 401 "Incorrect username or
//     password" (with WWW-Authenticate: Bearer), 400 "Waiting for approval" for an inactive user
//     that never logged in and 401 "Inactive user" for one that did (checked before the
//     password, as authenticate_user does), else {"access_token","refresh_token","token_type"}.
//   - Bearer tokens: none → 403 "An API key must be passed as query or header"; unknown → 401;
//     inactive owner → 401; superuser routes → 403 "The user doesn't have enough privileges".
//     Tokens survive password changes and renames, as Langflow's JWTs do.
//   - POST /api/v1/users/ (superuser; anyone else → 403 "Public user registration is disabled.")
//     → 201 UserRead; taken username → 400 "This username is unavailable."; is_active follows
//     Options.NewUserIsActive (LANGFLOW_NEW_USER_IS_ACTIVE).
//   - GET /api/v1/users/?skip&limit&search (superuser) → {"total_count","users"}.
//   - GET /api/v1/users/whoami → the token's user.
//   - PATCH /api/v1/users/{id} with the permission rules of patch_user (password only by a
//     superuser, 404 for an unknown id, 400 with the IntegrityError text for a rename onto a taken
//     username).
//   - GET /api/v1/flows/ → the token's user's flows; POST /api/v1/flows/ creates one for that
//     user, renaming a name the user already has to "<name> (1)" as Langflow does (Flows
//     shows each user's flows).
//   - Validation errors are 422 {"detail":[…]} and echo the offending input, like pydantic v2.
//
// Each container start is Boot: the superuser is created from the environment only when it does
// not exist, so a password changed with PATCH /api/v1/users/{id} outlives restarts.
//
// Start-up is configurable: a server created with StartDown refuses connections until Up, then
// the first UnhealthyChecks health checks answer 503 (the edge proxy with no healthy upstream),
// then it is healthy; NeverHealthy keeps Langflow's 500 "nok" forever. Faults can be injected per
// route, before or after the handler's effect, and every route counts its requests.
package langflowtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Routes, as counted by Requests and targeted by InjectFault.
const (
	RouteHealth      = "GET /health"
	RouteHealthCheck = "GET /health_check"
	RouteLogin       = "POST /api/v1/login"
	RouteCreateUser  = "POST /api/v1/users/"
	RouteListUsers   = "GET /api/v1/users/"
	RouteWhoAmI      = "GET /api/v1/users/whoami"
	RoutePatchUser   = "PATCH /api/v1/users/{user_id}"
)

// Default operator (superuser) credentials when Options leave them empty.
const (
	DefaultSuperuser         = "operator"
	DefaultSuperuserPassword = "operator-password-for-tests"
)

// Options configure a Server. The zero value is a healthy Langflow with the default superuser.
type Options struct {
	Superuser, SuperuserPassword string // LANGFLOW_SUPERUSER(_PASSWORD); defaults above
	NewUserIsActive              bool   // LANGFLOW_NEW_USER_IS_ACTIVE (tenantpool sets false)

	StartDown       bool // refuse connections (no listener) until Up is called
	UnhealthyChecks int  // the first n health checks answer 503, as a proxy does while the app starts
	NeverHealthy    bool // health checks answer Langflow's 500 "nok" forever
}

// Fault replaces the answer of the next Times requests to a route (default once).
type Fault struct {
	Status int
	// AfterEffect runs the real handler first (its effect is committed) and then answers Status:
	// a response lost on the way back. Otherwise the request has no effect.
	AfterEffect bool
	Times       int
}

// User is the double's view of a Langflow user, for assertions.
type User struct {
	ID          string
	Username    string
	Password    string
	IsActive    bool
	IsSuperuser bool
	LastLoginAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Server is a Langflow double listening on 127.0.0.1.
type Server struct {
	// URL is the base URL, known (and fixed) even while the server is down.
	URL string

	t    testing.TB
	addr string
	srv  *httptest.Server

	mu        sync.Mutex
	users     []*User // in creation order, like a table scan
	tokens    map[string]string
	checks    int
	requests  map[string]int
	faults    map[string][]Fault
	started   bool
	neverGood bool
	unhealthy int
	newActive bool
	flows     []*Flow
}

// NewServer starts a double (or reserves its address, with StartDown) and closes it at the end
// of the test.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Superuser == "" {
		opts.Superuser = DefaultSuperuser
	}
	if opts.SuperuserPassword == "" {
		opts.SuperuserPassword = DefaultSuperuserPassword
	}
	s := &Server{
		t:         t,
		tokens:    map[string]string{},
		requests:  map[string]int{},
		faults:    map[string][]Fault{},
		neverGood: opts.NeverHealthy,
		unhealthy: opts.UnhealthyChecks,
		newActive: opts.NewUserIsActive,
	}
	if err := s.Boot(opts.Superuser, opts.SuperuserPassword); err != nil {
		t.Fatalf("langflowtest: %v", err)
	}

	mux := http.NewServeMux()
	s.handle(mux, RouteHealth, s.health)
	s.handle(mux, RouteHealthCheck, s.healthCheck)
	s.handle(mux, RouteLogin, s.login)
	s.handle(mux, RouteCreateUser+"{$}", s.createUser)
	s.handle(mux, RouteListUsers+"{$}", s.listUsers)
	s.handle(mux, RouteWhoAmI, s.whoami)
	s.handle(mux, RoutePatchUser, s.patchUser)
	s.handle(mux, RouteListFlows+"{$}", s.listFlows)
	s.handle(mux, RouteCreateFlow+"{$}", s.createFlow)
	s.srv = httptest.NewUnstartedServer(mux)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("langflowtest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	t.Cleanup(s.close)
	if opts.StartDown {
		ln.Close() // nothing listens on addr: connections are refused until Up
		return s
	}
	s.start(ln)
	return s
}

// Boot is what Langflow does with LANGFLOW_SUPERUSER and LANGFLOW_SUPERUSER_PASSWORD each time
// its container starts (setup_superuser with AUTO_LOGIN off, services/utils.py): it creates the
// superuser when no user has that name, and leaves an existing superuser — and its password —
// untouched, so a password changed through the API survives every restart whatever the
// environment says. A user of that name that is no superuser makes the start fail (Langflow
// raises "Could not create superuser"), which Boot returns. Tokens survive, as Langflow's JWTs
// (signed with the unchanged secret key) do.
func (s *Server) Boot(superuser, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if superuser == "" || password == "" {
		return fmt.Errorf("langflow start: Username and password must be set")
	}
	if u := s.byName(superuser); u != nil {
		if !u.IsSuperuser {
			return fmt.Errorf("langflow start: Could not create superuser: user %q exists and is not a superuser", superuser)
		}
		return nil
	}
	now := time.Now().UTC()
	s.users = append(s.users, &User{ID: newUUID(), Username: superuser, Password: password,
		IsActive: true, IsSuperuser: true, CreatedAt: now, UpdatedAt: now})
	return nil
}

// Up starts listening on the server's address (for a server created with StartDown).
func (s *Server) Up() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was free a moment ago; give a racing process a chance to let go
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("langflowtest: listen again on %s: %v", s.addr, err)
	}
	s.start(ln)
}

func (s *Server) start(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		ln.Close()
		return
	}
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.started = true
}

func (s *Server) close() {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if started {
		s.srv.Close()
	} else {
		s.srv.Listener.Close()
	}
}

// Requests returns how many requests reached route (one of the Route constants), faults
// included.
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

// InjectFault makes the next requests to route answer f.Status.
func (s *Server) InjectFault(route string, f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range f.Times {
		s.faults[route] = append(s.faults[route], f)
	}
}

// SetHealthy switches the health check between ok and Langflow's 500 "nok" (a database that
// went away, say).
func (s *Server) SetHealthy(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.neverGood = !ok
}

// User returns a copy of the user called username.
func (s *Server) User(username string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.byName(username); u != nil {
		return *u, true
	}
	return User{}, false
}

// Users returns copies of all users, the superuser first.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, len(s.users))
	for i, u := range s.users {
		out[i] = *u
	}
	return out
}

func (s *Server) handle(mux *http.ServeMux, route string, h http.HandlerFunc) {
	name := strings.TrimSuffix(route, "{$}")
	mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[name]++
		var fault *Fault
		if q := s.faults[name]; len(q) > 0 {
			fault = &q[0]
			s.faults[name] = q[1:]
		}
		s.mu.Unlock()
		if fault == nil {
			h(w, r)
			return
		}
		if fault.AfterEffect {
			h(httptest.NewRecorder(), r)
		}
		http.Error(w, http.StatusText(fault.Status), fault.Status)
	})
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) healthCheck(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.checks++
	starting := s.checks <= s.unhealthy
	nok := s.neverGood
	s.mu.Unlock()
	switch {
	case nok:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"detail": map[string]string{
			"status": "nok", "chat": "error check the server logs", "db": "error check the server logs"}})
	case starting:
		http.Error(w, "no available server", http.StatusServiceUnavailable)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "chat": "ok", "db": "ok"})
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var username, password string
	if ct == "application/x-www-form-urlencoded" && r.ParseForm() == nil {
		username, password = r.PostForm.Get("username"), r.PostForm.Get("password")
	}
	var missing []any
	for _, f := range []struct{ name, val string }{{"username", username}, {"password", password}} {
		if f.val == "" {
			missing = append(missing, map[string]any{"type": "missing", "loc": []string{"body", f.name}, "msg": "Field required", "input": nil})
		}
	}
	if len(missing) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": missing})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byName(username)
	switch {
	case u != nil && !u.IsActive && u.LastLoginAt.IsZero():
		writeDetail(w, http.StatusBadRequest, "Waiting for approval")
	case u != nil && !u.IsActive:
		writeDetail(w, http.StatusUnauthorized, "Inactive user")
	case u == nil || u.Password != password:
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeDetail(w, http.StatusUnauthorized, "Incorrect username or password")
	default:
		u.LastLoginAt = time.Now().UTC()
		tok := "lf-access-" + rand.Text()
		s.tokens[tok] = u.ID
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "refresh_token": "lf-refresh-" + rand.Text(), "token_type": "bearer"})
	}
}

// currentUser follows get_current_user / get_current_active_user with AUTO_LOGIN off. It must be
// called with s.mu held; on failure it has answered and returns nil.
func (s *Server) currentUser(w http.ResponseWriter, r *http.Request) *User {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeDetail(w, http.StatusForbidden, "An API key must be passed as query or header")
		return nil
	}
	id, ok := s.tokens[tok]
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeDetail(w, http.StatusUnauthorized, "Could not validate credentials")
		return nil
	}
	u := s.byID(id)
	if u == nil || !u.IsActive {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeDetail(w, http.StatusUnauthorized, "User not found or is inactive.")
		return nil
	}
	return u
}

func (s *Server) superuser(w http.ResponseWriter, r *http.Request) *User {
	u := s.currentUser(w, r)
	if u != nil && !u.IsSuperuser {
		writeDetail(w, http.StatusForbidden, "The user doesn't have enough privileges")
		return nil
	}
	return u
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// get_current_user_optional: without a valid active superuser the route is public sign-up,
	// which tenantpool disables.
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	caller := s.byID(s.tokens[tok])
	if caller == nil || !caller.IsActive || !caller.IsSuperuser {
		writeDetail(w, http.StatusForbidden, "Public user registration is disabled.")
		return
	}
	var in struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	raw, ok := decodeJSON(w, r, &in)
	if !ok {
		return
	}
	if in.Username == nil || in.Password == nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
			"type": "missing", "loc": []string{"body"}, "msg": "Field required", "input": raw}}})
		return
	}
	if s.byName(*in.Username) != nil {
		writeDetail(w, http.StatusBadRequest, "This username is unavailable.")
		return
	}
	now := time.Now().UTC()
	u := &User{ID: newUUID(), Username: *in.Username, Password: *in.Password, IsActive: s.newActive, CreatedAt: now, UpdatedAt: now}
	s.users = append(s.users, u)
	writeJSON(w, http.StatusCreated, userRead(u))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.superuser(w, r) == nil {
		return
	}
	q := r.URL.Query()
	skip, limit := 0, 10
	for _, p := range []struct {
		name string
		dst  *int
	}{{"skip", &skip}, {"limit", &limit}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
					"type": "int_parsing", "loc": []string{"query", p.name}, "msg": "Input should be a valid integer", "input": v}}})
				return
			}
			*p.dst = n
		}
	}
	var match []*User
	for _, u := range s.users {
		if search := q.Get("search"); search == "" || strings.Contains(strings.ToLower(u.Username), strings.ToLower(search)) {
			match = append(match, u)
		}
	}
	page := []map[string]any{}
	for i := skip; i < len(match) && i < skip+limit; i++ {
		page = append(page, userRead(match[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(match), "users": page})
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.currentUser(w, r); u != nil {
		writeJSON(w, http.StatusOK, userRead(u))
	}
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("user_id")
	if !validUUID(id) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
			"type": "uuid_parsing", "loc": []string{"path", "user_id"}, "msg": "Input should be a valid UUID", "input": id}}})
		return
	}
	caller := s.currentUser(w, r)
	if caller == nil {
		return
	}
	var in struct {
		Username    *string `json:"username"`
		Password    *string `json:"password"`
		IsActive    *bool   `json:"is_active"`
		IsSuperuser *bool   `json:"is_superuser"`
	}
	if _, ok := decodeJSON(w, r, &in); !ok {
		return
	}
	switch {
	case caller.ID == id && in.IsActive != nil && !*in.IsActive:
		writeDetail(w, http.StatusForbidden, "You can't deactivate your own user account")
		return
	case !caller.IsSuperuser && in.IsSuperuser != nil && *in.IsSuperuser:
		writeDetail(w, http.StatusForbidden, "Permission denied")
		return
	case !caller.IsSuperuser && caller.ID != id:
		writeDetail(w, http.StatusForbidden, "Permission denied")
		return
	case in.Password != nil && *in.Password != "" && !caller.IsSuperuser:
		writeDetail(w, http.StatusBadRequest, "You can't change your password here")
		return
	}
	u := s.byID(id)
	if u == nil {
		writeDetail(w, http.StatusNotFound, "User not found")
		return
	}
	// update_user's 304 "Nothing to update" is unreachable from patch_user, which always sets
	// the password field (to the stored hash when none is given): an empty patch is a 200.
	if in.Username != nil {
		if other := s.byName(*in.Username); other != nil && other != u {
			// update_user returns str(IntegrityError), which includes the SQL and its parameters.
			writeDetail(w, http.StatusBadRequest, fmt.Sprintf(
				"(sqlite3.IntegrityError) UNIQUE constraint failed: user.username [SQL: UPDATE user SET username=?, updated_at=? WHERE user.id = ?] [parameters: (%q, %q, %q)]",
				*in.Username, time.Now().UTC().Format(time.RFC3339), id))
			return
		}
		u.Username = *in.Username
	}
	if in.Password != nil && *in.Password != "" {
		u.Password = *in.Password
	}
	if in.IsActive != nil {
		u.IsActive = *in.IsActive
	}
	if in.IsSuperuser != nil {
		u.IsSuperuser = *in.IsSuperuser
	}
	u.UpdatedAt = time.Now().UTC()
	writeJSON(w, http.StatusOK, userRead(u))
}

func (s *Server) byName(name string) *User {
	for _, u := range s.users {
		if u.Username == name {
			return u
		}
	}
	return nil
}

func (s *Server) byID(id string) *User {
	for _, u := range s.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// userRead renders Langflow's UserRead.
func userRead(u *User) map[string]any {
	var last any
	if !u.LastLoginAt.IsZero() {
		last = u.LastLoginAt
	}
	return map[string]any{
		"id": u.ID, "username": u.Username, "profile_image": nil, "store_api_key": nil,
		"is_active": u.IsActive, "is_superuser": u.IsSuperuser,
		"create_at": u.CreatedAt, "updated_at": u.UpdatedAt, "last_login_at": last, "optins": nil,
	}
}

// decodeJSON reads a JSON body as FastAPI does: anything else is a 422 echoing the input.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) (json.RawMessage, bool) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		writeDetail(w, http.StatusBadRequest, "There was an error parsing the body")
		return nil, false
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
			"type": "model_attributes_type", "loc": []string{"body"}, "msg": "Input should be a valid dictionary or object to extract fields from", "input": buf.String()}}})
		return nil, false
	}
	return buf.Bytes(), true
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func validUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	_, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	return err == nil
}
