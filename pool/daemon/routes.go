package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/console"
	"github.com/axiestudio/tenantpool/pool/control"
	"github.com/axiestudio/tenantpool/pool/metrics"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
)

// routes is every route the daemon serves, in one place, split by listener:
//
//   - publicMux is what the internet reaches (--listen): the Stripe webhook, the public
//     handlers (the storefront) and a bare liveness answer;
//   - privateMux is the operator's (--admin-listen, loopback by default): the admin API,
//     /metrics, /readyz, /healthz, and the operator console under /console/.
//
// Nothing of the private side is mounted on the public one, whatever is configured.
type routes struct {
	store   *store.Store
	rec     *control.Reconciler
	topUp   bool
	metrics *metrics.Metrics
	webhook http.Handler // nil: Stripe orders off
	admin   http.Handler // nil: admin API off
	console http.Handler // nil: operator console off (it needs the admin API's tokens)
	// public are further handlers of the public listener by ServeMux pattern: a public
	// feature plugs in with one line in New, `r.public["POST /buy/{tier}"] = h`.
	public map[string]http.Handler
	log    *slog.Logger
}

// publicMux is the public listener's handler: only what a customer or Stripe must reach.
func (r routes) publicMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	if r.webhook != nil {
		mux.Handle(orders.Path, r.webhook)
	}
	for pattern, h := range r.public {
		mux.Handle(pattern, h)
	}
	return mux
}

// privateMux is the private (operator) listener's handler.
func (r routes) privateMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", r.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelError)}))
	if r.admin != nil {
		mux.Handle(admin.Prefix, r.admin)
	}
	if r.console != nil {
		mux.Handle(console.Prefix, r.console)
	}
	return mux
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// ready is /readyz: the database, its migrations and the reconciler.
func (r routes) ready(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	status, code := map[string]string{"database": "ok", "migrations": "ok", "reconciler": "standby"}, http.StatusOK
	switch {
	case !r.topUp:
		status["reconciler"] = "disabled (provisioning not configured)"
	case r.rec.Leading():
		status["reconciler"] = "leading"
		if last := r.rec.LastPass(); !last.IsZero() {
			status["last_reconcile"] = last.UTC().Format(time.RFC3339)
		}
	}
	if err := r.store.DB().PingContext(ctx); err != nil {
		status["database"], code = "unreachable", http.StatusServiceUnavailable
	} else if ok, err := r.store.MigrationsCurrent(ctx); err != nil || !ok {
		status["migrations"], code = "pending", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(status)
}
