package langflow

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"
)

func TestRetryPolicy(t *testing.T) {
	dial := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	reset := &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}
	timeout := &url.Error{Op: "Post", URL: "http://x", Err: errors.New("context deadline exceeded (Client.Timeout exceeded while awaiting headers)")}
	scheme := &url.Error{Op: "Get", URL: "gopher://x", Err: errors.New(`unsupported protocol scheme "gopher"`)}
	status := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	tests := []struct {
		name                string
		resp                *http.Response
		err                 error
		never, unsent, safe bool
	}{
		{"connection refused", nil, dial, false, true, true},
		{"reset after sending", nil, reset, false, false, true},
		{"timeout", nil, timeout, false, false, true},
		{"bad scheme", nil, scheme, false, false, false},
		{"200", status(200), nil, false, false, false},
		{"400", status(400), nil, false, false, false},
		{"401", status(401), nil, false, false, false},
		{"429", status(429), nil, false, false, true},
		{"500", status(500), nil, false, false, true},
		{"501", status(501), nil, false, false, false},
		{"502", status(502), nil, false, false, true},
		{"503", status(503), nil, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for p, want := range map[retryPolicy]bool{retryNever: tt.never, retryUnsent: tt.unsent, retrySafe: tt.safe} {
				got, err := p.check(context.Background(), tt.resp, tt.err)
				if got != want || err != nil {
					t.Errorf("policy %d: retry = %t, %v; want %t", p, got, err, want)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retry, err := retrySafe.check(ctx, nil, dial); retry || err == nil {
		t.Errorf("cancelled context: retry = %t, %v; want no retry and the context error", retry, err)
	}
}

func TestCappedBackoff(t *testing.T) {
	resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"3600"}}}
	if d := cappedBackoff(time.Millisecond, time.Second, 0, resp); d != time.Second {
		t.Errorf("backoff = %s, want the 1s cap", d)
	}
	if d := cappedBackoff(time.Millisecond, time.Second, 2, nil); d != 4*time.Millisecond {
		t.Errorf("backoff = %s, want 4ms", d)
	}
}

func TestScrub(t *testing.T) {
	in := `(psycopg.errors.UniqueViolation) duplicate key [SQL: UPDATE "user" SET password=%(p)s] [parameters: {'p': '$2b$12$hash'}]`
	got := scrub(in+" hunter2", []string{"hunter2"})
	if got != "(psycopg.errors.UniqueViolation) duplicate key [SQL elided]" {
		t.Errorf("scrub = %q", got)
	}
	if got := scrub("pw=hunter2 again hunter2", []string{"hunter2", ""}); got != "pw=[redacted] again [redacted]" {
		t.Errorf("scrub = %q", got)
	}
	if !uniqueViolation(in) || !uniqueViolation("(sqlite3.IntegrityError) UNIQUE constraint failed: user.username") || uniqueViolation("You can't change your password here") {
		t.Error("uniqueViolation misclassifies")
	}
}
