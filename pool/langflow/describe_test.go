package langflow_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

const evil = "evil.example/phish"

// Whatever a hostile tenant answers, pool.Describe of the error names the operation and the
// status (or a fixed transport class) and none of the tenant's bytes, while Error() keeps the
// detail for the daemon's log.
func TestDescribeHidesTenantText(t *testing.T) {
	answer := func(status int, body string) string {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	// A listener that answers one malformed status line: net/http quotes it in its error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			io.WriteString(c, "HTTP/1.1 "+evil+"\r\n\r\n")
			c.Close()
		}
	}()
	down := langflowtest.NewServer(t, langflowtest.Options{StartDown: true})

	for _, c := range []struct {
		name, url, want string
	}{
		{"500 body", answer(500, `{"detail":{"status":"nok","chat":"`+evil+`"}}`), "langflow health check: HTTP 500 Internal Server Error"},
		{"200 status", answer(200, `{"status":"`+evil+`"}`), "langflow health check: HTTP 200 without Langflow's ok status"},
		{"200 page", answer(200, "<a href=https://"+evil+">log in</a>"), "langflow health check: HTTP 200 without Langflow's ok status"},
		{"malformed", "http://" + ln.Addr().String(), "langflow health check: no valid HTTP answer"},
		{"refused", down.URL, "langflow health check: connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c1, err := langflow.New(c.url, langflow.Options{RetryMax: -1, RequestTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			herr := c1.Health(context.Background())
			if herr == nil {
				t.Fatal("healthy")
			}
			if got := pool.Describe(herr); got != c.want {
				t.Errorf("Describe = %q, want %q (error %v)", got, c.want, herr)
			}
		})
	}

	// The gate's verdict: the deadline and the last probe, described.
	g := langflow.NewGate(langflow.GateOptions{PollInterval: time.Millisecond, Client: langflow.Options{RetryMax: -1}})
	werr := g.WaitHealthy(context.Background(), answer(500, evil), 20*time.Millisecond)
	if !errors.Is(werr, langflow.ErrNotReady) || !strings.Contains(werr.Error(), evil) {
		t.Fatalf("WaitHealthy = %v, want ErrNotReady with the detail in its text", werr)
	}
	got := pool.Describe(werr)
	if !strings.HasPrefix(got, "not healthy within 20ms (") || !strings.HasSuffix(got, "last probe: langflow health check: HTTP 500 Internal Server Error") || strings.Contains(got, "evil") {
		t.Errorf("Describe(not ready) = %q", got)
	}
}
