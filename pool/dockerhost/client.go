package dockerhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/axiestudio/tenantpool/pool"
)

// DefaultAPIVersion is the Engine API version used when an engine's /_ping does not say which
// it speaks: 1.41, Docker Engine 20.10, the oldest the project supports.
const DefaultAPIVersion = "1.41"

// requestTimeout bounds one Engine API call (a container removal stops it first: seconds).
const requestTimeout = 2 * time.Minute

// Client is one Docker Engine's API. It is safe for concurrent use; Close releases its idle
// connections (and, for ssh:// hosts, their ssh processes).
type Client struct {
	url  string // as given, for messages
	http *http.Client
	base string // http://docker, or the tcp host's base URL

	mu      sync.Mutex
	version string // negotiated on first use
}

// APIError is an error answer of the engine: the HTTP status and the engine's message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("docker engine: %d %s", e.Status, e.Message) }

// Is makes a 404 answer match pool.ErrNotFound and a 409 ErrConflict.
func (e *APIError) Is(target error) bool {
	return target == pool.ErrNotFound && e.Status == http.StatusNotFound ||
		target == ErrConflict && e.Status == http.StatusConflict
}

// ErrConflict: the engine refused because of the object's state (a volume in use, a removal
// already in progress).
var ErrConflict = errors.New("conflict")

// Dial returns a client of the engine at dockerURL: unix:///path, tcp://host:port (plain
// HTTP: a TLS-protected engine is reached over ssh:// instead) or ssh://[user@]host[:port].
// Nothing is contacted until the first call.
func Dial(dockerURL string) (*Client, error) {
	u, err := url.Parse(dockerURL)
	if err != nil {
		return nil, fmt.Errorf("docker host %q: %w", dockerURL, err)
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second, // an idle ssh:// connection is an ssh process
		ResponseHeaderTimeout: requestTimeout,
	}
	base := "http://docker"
	switch u.Scheme {
	case "unix":
		path := u.Path
		if path == "" {
			path = u.Opaque
		}
		if path == "" {
			return nil, fmt.Errorf("docker host %q: no socket path", dockerURL)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	case "tcp":
		if u.Host == "" {
			return nil, fmt.Errorf("docker host %q: no address", dockerURL)
		}
		base = "http://" + u.Host
	case "ssh":
		args, err := sshArgs(u)
		if err != nil {
			return nil, fmt.Errorf("docker host %q: %w", dockerURL, err)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialCommand(ctx, "ssh", args...)
		}
	default:
		return nil, fmt.Errorf("docker host %q: want unix://, tcp:// or ssh://", dockerURL)
	}
	return &Client{url: dockerURL, http: &http.Client{Transport: tr}, base: base}, nil
}

// sshArgs are the ssh arguments that reach u's engine: `docker system dial-stdio` on the host,
// never asking for a password or a host key (BatchMode).
func sshArgs(u *url.URL) ([]string, error) {
	if u.Hostname() == "" {
		return nil, errors.New("no host")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("a path is not supported in an ssh:// docker host")
	}
	args := []string{"-o", "BatchMode=yes"}
	if u.User != nil && u.User.Username() != "" {
		args = append(args, "-l", u.User.Username())
	}
	if p := u.Port(); p != "" {
		args = append(args, "-p", p)
	}
	// "--" ends ssh's options: a host name can never be read as one.
	return append(args, "--", u.Hostname(), "docker", "system", "dial-stdio"), nil
}

// newCommandClient is a client whose every connection is a command's stdin/stdout (tests reach
// the local engine through `docker system dial-stdio`, the transport of ssh:// hosts).
func newCommandClient(name string, args ...string) *Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: requestTimeout,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dialCommand(ctx, name, args...) }}
	return &Client{url: name, http: &http.Client{Transport: tr}, base: "http://docker"}
}

// URL is the engine's address as given to Dial.
func (c *Client) URL() string { return c.url }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Ping checks that the engine answers and returns the API version it speaks.
func (c *Client) Ping(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_ping", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("docker engine %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("docker engine %s: ping: %s", c.url, resp.Status)
	}
	v := resp.Header.Get("Api-Version")
	if v == "" {
		v = DefaultAPIVersion
	}
	return v, nil
}

// apiVersion is the version every call uses: the engine's own (the calls here exist unchanged
// in every version since 1.24), asked once.
func (c *Client) apiVersion(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != "" {
		return c.version, nil
	}
	v, err := c.Ping(ctx)
	if err != nil {
		return "", err
	}
	c.version = v
	return v, nil
}

// do sends one request to /v<version><path> and decodes a JSON answer into out (nil: none).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string, out any) error {
	v, err := c.apiVersion(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	u := c.base + "/v" + v + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("docker engine %s: %s %s: %w", c.url, method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		return fmt.Errorf("docker engine %s: %s %s: %w", c.url, method, path, readAPIError(resp))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("docker engine %s: %s %s: %w", c.url, method, path, err)
	}
	return nil
}

func readAPIError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

func jsonBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}
