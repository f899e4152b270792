package langflow

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/axiestudio/tenantpool/pool"
)

var _ pool.Describer = (*Error)(nil)

// Error kinds. Every error returned by a [Client] call is an [*Error] that wraps at most one of
// these, so callers write errors.Is(err, langflow.ErrConflict).
var (
	// ErrUnauthorized: wrong credentials, an inactive user (Langflow answers 400 "Waiting for
	// approval" or 401 "Inactive user" at login), a missing or invalid token (401/403), or a
	// caller that is not a superuser on a superuser route (403). Retrying does not help.
	ErrUnauthorized = errors.New("langflow: unauthorized")
	// ErrConflict: the username is taken (Langflow answers 400 on create and on a PATCH that
	// renames onto an existing user; 409 on a rejected lifecycle change).
	ErrConflict = errors.New("langflow: conflict")
	// ErrUnavailable: the tenant is not answering usefully yet or any more: connection refused,
	// timeout, 429, 5xx, or a health check whose status is not "ok". Retrying later may help.
	ErrUnavailable = errors.New("langflow: unavailable")
	// ErrNotFound: no such user (404 on PATCH, or no exact username match in the user list).
	ErrNotFound = errors.New("langflow: not found")
	// ErrNotReady: the readiness gate gave up (deadline passed); the error also wraps the last
	// probe's error.
	ErrNotReady = errors.New("langflow: not ready before the deadline")
)

// Error is a failed call to a Langflow tenant. It never holds a password or a token: details
// echoed by the server are scrubbed of every secret sent in the request before they are stored.
type Error struct {
	Op     string // what the client was doing: "login", "create user", …
	Status int    // HTTP status, 0 when no response arrived
	Detail string // Langflow's "detail" (or a short body excerpt), scrubbed and truncated
	Kind   error  // one of the Err* kinds, or nil for an unclassified failure (422, 3xx, …)
	Err    error  // transport error when Status is 0
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("langflow ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Kind != nil && e.Status == 0 && e.Err == nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the transport error to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// kindFor classifies a status for one operation. Classification happens here, before anything
// wraps the error (style.md #7).
func kindFor(op operation, status int, detail string) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusBadRequest && op == opLogin:
		// authenticate_user: an inactive user that never logged in gets 400 "Waiting for approval".
		return ErrUnauthorized
	case status == http.StatusBadRequest && op == opCreateUser:
		// add_user: its only 400 is the IntegrityError of a taken username, "This username is
		// unavailable."
		return ErrConflict
	case status == http.StatusBadRequest && op == opUpdateUser && uniqueViolation(detail):
		// update_user answers 400 with str(IntegrityError) on a rename onto a taken username;
		// patch_user's other 400 ("You can't change your password here") is no conflict.
		return ErrConflict
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusTooManyRequests || status >= 500:
		return ErrUnavailable
	}
	return nil
}

// uniqueViolation recognises str(sqlalchemy IntegrityError) for a unique index, as SQLite
// ("UNIQUE constraint failed") and PostgreSQL ("duplicate key value violates unique
// constraint", psycopg's UniqueViolation) word it.
func uniqueViolation(detail string) bool {
	d := strings.ToLower(detail)
	return strings.Contains(d, "unique") || strings.Contains(d, "duplicate") || strings.Contains(d, "integrityerror")
}

const maxDetail = 300

// scrub removes every secret from s and bounds its length. Langflow echoes request input in 422
// validation errors (pydantic's "input") and SQL parameters (a password hash) in some 400s, so a
// server's detail is never trusted to be clean.
func scrub(s string, secrets []string) string {
	if i := strings.Index(s, "[SQL:"); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " [SQL elided]"
	}
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDetail {
		s = s[:maxDetail] + "…"
	}
	return s
}

// Describe says what failed without a word of the tenant's: the operation and the HTTP status,
// or a fixed class of transport failure. It is what may leave the daemon (an operator e-mail):
// Detail and a transport error's text can carry bytes the tenant chose (its error body, a
// malformed response quoted by net/http), so neither appears. It implements pool.Describer.
func (e *Error) Describe() string {
	op := "langflow " + e.Op
	switch {
	case e.Status == http.StatusOK && errors.Is(e.Kind, ErrUnavailable):
		return op + ": HTTP 200 without Langflow's ok status"
	case e.Status != 0:
		return fmt.Sprintf("%s: HTTP %d %s", op, e.Status, http.StatusText(e.Status))
	case e.Err != nil:
		return op + ": " + transportClass(e.Err)
	case e.Kind != nil:
		return op + ": " + e.Kind.Error()
	}
	return op + ": failed"
}

// transportClass is a fixed description of a failure to get an HTTP answer.
func transportClass(err error) string {
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, &dns):
		return "host name not resolved"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &recordHeader):
		return "TLS failure"
	}
	return "no valid HTTP answer"
}
