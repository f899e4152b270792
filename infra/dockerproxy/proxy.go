// Package dockerproxy is the edge proxy's only way to the Docker Engine: a reverse proxy in
// front of the engine's socket that lets through the read calls Traefik's Docker provider makes
// and refuses everything else with 403, so that a compromised edge proxy can list and inspect
// containers but never create, exec, copy files, or change anything on its host. (A socket
// mounted read-only limits nothing: every API call is a write to the socket.)
//
// The calls, from Traefik v3's Docker provider (pkg/provider/docker): GET /version
// (ServerVersion), GET /containers/json?all=1 (ContainerList), GET /containers/{id}/json
// (ContainerInspect), GET /events?filters=… (Events); plus GET or HEAD /_ping, which Docker
// clients use to negotiate. Each may carry an API version prefix (/v1.24/…). Only the query
// parameters those calls send are kept (a size=1 that makes the engine walk every file
// system is refused). A request with a body, an Upgrade header, an escaped character, a
// dot segment or a doubled slash anywhere in its path is refused: the engine never sees a path
// this package did not rebuild from what it checked.
//
// poold runs it as `poold edge docker-proxy` (pool/cli) in a container of the project's own
// image that the platform program (infra/platform) starts on every host, listening on a unix
// socket in a volume only it and Traefik mount.
package dockerproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"time"
)

// ErrRefused marks a request the proxy does not let through.
var ErrRefused = errors.New("refused by the edge's Docker proxy")

var (
	versionRE = regexp.MustCompile(`^/v[0-9]{1,2}\.[0-9]{1,3}(/.*)$`)
	// A container id or name as the engine accepts them (names may hold dots, never start with one).
	idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
)

// route is one allowed call: its methods and the query parameters it may carry.
type route struct {
	methods []string
	query   []string
}

var (
	routes = map[string]route{
		"/_ping":           {methods: []string{http.MethodGet, http.MethodHead}},
		"/version":         {methods: []string{http.MethodGet}},
		"/containers/json": {methods: []string{http.MethodGet}, query: []string{"all", "filters", "limit"}},
		"/events":          {methods: []string{http.MethodGet}, query: []string{"since", "until", "filters"}},
	}
	inspect = route{methods: []string{http.MethodGet}}
)

// Check decides one request: the engine path and query to forward (rebuilt from what was
// checked), or an error wrapping ErrRefused that says why.
func Check(r *http.Request) (string, string, error) {
	refuse := func(format string, a ...any) (string, string, error) {
		return "", "", fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, a...))
	}
	raw := r.RequestURI
	if raw == "" {
		raw = r.URL.RequestURI()
	}
	rawPath, rawQuery, _ := strings.Cut(raw, "?")
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		return refuse("method %s", r.Method)
	case r.ContentLength != 0 || len(r.TransferEncoding) > 0:
		return refuse("a request body")
	case r.Header.Get("Upgrade") != "":
		return refuse("a connection upgrade")
	case !strings.HasPrefix(rawPath, "/") || strings.Contains(rawPath, "%") || strings.Contains(rawPath, "\\"):
		return refuse("path %q: escaped or not absolute", rawPath)
	case path.Clean(rawPath) != rawPath || rawPath != r.URL.Path:
		return refuse("path %q: not clean", rawPath)
	}
	p := rawPath
	if m := versionRE.FindStringSubmatch(p); m != nil {
		p = m[1]
	}
	rt, ok := routes[p]
	if !ok {
		seg := strings.Split(strings.TrimPrefix(p, "/"), "/")
		if len(seg) != 3 || seg[0] != "containers" || seg[2] != "json" || !idRE.MatchString(seg[1]) || seg[1] == "json" {
			return refuse("path %q", rawPath)
		}
		rt = inspect
	}
	if !contains(rt.methods, r.Method) {
		return refuse("method %s on %s", r.Method, p)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return refuse("query: %v", err)
	}
	for k := range q {
		if !contains(rt.query, k) {
			return refuse("query parameter %q on %s", k, p)
		}
	}
	return rawPath, q.Encode(), nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// Handler proxies allowed requests to the engine at socket (a unix socket path) and answers
// every other one 403 with an Engine-API-shaped error message; log gets one line per refusal.
func Handler(socket string, log *slog.Logger) http.Handler {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
	}
	type checked struct{ path, query string }
	type key struct{}
	rp := &httputil.ReverseProxy{
		Transport:     tr,
		FlushInterval: -1, // /events is a stream
		Rewrite: func(pr *httputil.ProxyRequest) {
			c := pr.In.Context().Value(key{}).(checked)
			pr.Out.URL = &url.URL{Scheme: "http", Host: "docker", Path: c.path, RawQuery: c.query}
			pr.Out.Host = "docker"
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("docker proxy: engine unreachable", "err", err)
			writeError(w, http.StatusBadGateway, "the Docker Engine is unreachable")
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, q, err := Check(r)
		if err != nil {
			log.Warn("docker proxy: refused", "method", r.Method, "uri", r.RequestURI, "why", err.Error())
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, checked{p, q})))
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// Listen opens addr: unix:///path (a stale socket file is replaced; the socket is made
// connectable by any user of the volume it is in, since its one client, Traefik, runs as
// another unprivileged user) or tcp://host:port.
func Listen(addr string) (net.Listener, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" || u.Host != "" {
			return nil, fmt.Errorf("listen address %q: want unix:///absolute/path", addr)
		}
		if err := os.Remove(u.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("listen address %q: %w", addr, err)
		}
		l, err := net.Listen("unix", u.Path)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(u.Path, 0o666); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	case "tcp":
		if u.Host == "" || u.Path != "" {
			return nil, fmt.Errorf("listen address %q: want tcp://host:port", addr)
		}
		return net.Listen("tcp", u.Host)
	}
	return nil, fmt.Errorf("listen address %q: want unix:///path or tcp://host:port", addr)
}

// Ping asks the proxy at addr (as Listen takes it) for the engine's /_ping and returns an error
// unless it answers 200 OK.
func Ping(ctx context.Context, addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("proxy address %q: %w", addr, err)
	}
	network, where := "tcp", u.Host
	switch {
	case u.Scheme == "unix" && u.Path != "":
		network, where = "unix", u.Path
	case u.Scheme != "tcp" || u.Host == "":
		return fmt.Errorf("proxy address %q: want unix:///path or tcp://host:port", addr)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, where)
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("docker proxy %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker proxy %s: /_ping answered %s", addr, resp.Status)
	}
	return nil
}

// Serve serves h on l until ctx ends, then shuts down (open event streams are cut).
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
		<-errc
		return nil
	}
}
