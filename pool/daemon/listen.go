package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// HTTPLimits bound what one client may hold of a listener. Zero fields take the defaults
// (DefaultHTTPLimits); both listeners use the same limits.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout the whole request,
	// body included (a client trickling a body is cut off), WriteTimeout the response,
	// IdleTimeout a keep-alive connection waiting for its next request.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers.
	MaxHeaderBytes int
	// MaxBody caps every request body (a handler may cap lower: the Stripe webhook's 1 MiB,
	// the admin API's MaxBody).
	MaxBody int64
}

// DefaultHTTPLimits are the limits of a Config that sets none.
var DefaultHTTPLimits = HTTPLimits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      2 * time.Minute, // an export's CSV is written in one response
	IdleTimeout:       60 * time.Second,
	MaxHeaderBytes:    64 << 10,
	MaxBody:           1 << 20,
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxBody > 0 {
		d.MaxBody = l.MaxBody
	}
	return d
}

// TLSFiles are a listener's certificate chain and private key (PEM files). Both empty: plain
// HTTP. They are read at start (an unreadable pair fails the start) and read again when either
// file changes, so a renewed certificate is served without a restart.
type TLSFiles struct {
	Cert, Key string
}

// Enabled reports whether TLS is configured.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" }

// Check reports a half-configured pair or files that do not load.
func (f TLSFiles) Check() error {
	if !f.Enabled() {
		return nil
	}
	if f.Cert == "" || f.Key == "" {
		return errors.New("both a certificate and a key file are needed")
	}
	_, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	return err
}

// certReloader serves a certificate pair, loaded again when either file's modification time or
// size changes. A pair that fails to load (a renewal half written) keeps the previous one and
// is logged.
type certReloader struct {
	files TLSFiles
	log   *slog.Logger

	mu    sync.Mutex
	stamp [2]fileStamp
	cert  *tls.Certificate
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertReloader(f TLSFiles, log *slog.Logger) (*certReloader, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	r := &certReloader{files: f, log: log}
	if _, err := r.get(); err != nil {
		return nil, err
	}
	return r, nil
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := [2]fileStamp{stampOf(r.files.Cert), stampOf(r.files.Key)}
	if r.cert != nil && now == r.stamp {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.files.Cert, r.files.Key)
	if err != nil {
		if r.cert != nil {
			r.log.Error("TLS certificate changed but does not load; serving the previous one", "cert", r.files.Cert, "err", err)
			return r.cert, nil
		}
		return nil, err
	}
	if r.cert != nil {
		r.log.Info("TLS certificate reloaded", "cert", r.files.Cert)
	}
	r.cert, r.stamp = &c, now
	return r.cert, nil
}

func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.get() },
	}
}

// listener is one of the daemon's HTTP listeners: its socket, its server and its name in
// messages.
type listener struct {
	name string // "public" or "admin"
	flag string // the flag that sets its address
	ln   net.Listener
	srv  *http.Server
}

// listen opens addr and wraps it in TLS when files are set; the server applies limits to every
// request.
func listen(name, flag, addr string, files TLSFiles, h http.Handler, limits HTTPLimits, log *slog.Logger) (*listener, error) {
	var tlsCfg *tls.Config
	if files.Enabled() {
		r, err := newCertReloader(files, log)
		if err != nil {
			return nil, fmt.Errorf("%s TLS: %w", flag, err)
		}
		tlsCfg = r.tlsConfig()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(h, limits.MaxBody),
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return &listener{name: name, flag: flag, ln: ln, srv: srv}, nil
}

func (l *listener) scheme() string {
	if l.srv.TLSConfig != nil {
		return "https"
	}
	return "http"
}
