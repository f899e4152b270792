// Package cfhostnamestest is an httptest double of Cloudflare's custom-hostname endpoints
// (GET/POST /zones/{zone}/custom_hostnames, GET/DELETE …/{id}) that follows Cloudflare's
// documented life of a custom hostname: created pending with its certificate initializing, then
// pending_validation with the TXT records the customer must create; active (hostname and
// certificate) once the customer's DNS has both records; moved when the customer's CNAME leaves
// the zone; blocked by Cloudflare; pending_deletion for one read after a delete, then gone.
// Tests drive the customer's DNS (Publish, Unpublish) and Cloudflare's own verdicts (Block).
package cfhostnamestest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is the double. Token is the API token it accepts (a wrong one is 403, as Cloudflare's
// authentication error 10000).
type Server struct {
	URL   string
	Zone  string
	Token string

	mu    sync.Mutex
	seq   int
	hosts map[string]*host // by hostname
	dns   map[string]string
	reads int
}

type host struct {
	id, name          string
	status, ssl       string
	ownName, ownValue string
	dcvName, dcvValue string
	deleted           bool
	blocked           bool
}

// New starts a double of zone; it stops with the test.
func New(t testing.TB, zone, token string) *Server {
	s := &Server{Zone: zone, Token: token, hosts: map[string]*host{}, dns: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Create adds a custom hostname as the tenant program's cloudflare.CustomHostname does (POST):
// pending, certificate initializing.
func (s *Server) Create(hostname string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.create(hostname)
}

func (s *Server) create(hostname string) *host {
	if h, ok := s.hosts[hostname]; ok && !h.deleted {
		return h
	}
	s.seq++
	h := &host{
		id: fmt.Sprintf("%032x", s.seq), name: hostname, status: "pending", ssl: "initializing",
		ownName: "_cf-custom-hostname." + hostname, ownValue: fmt.Sprintf("own-%04d-%s", s.seq, strings.ReplaceAll(hostname, ".", "-")),
		dcvName: "_acme-challenge." + hostname, dcvValue: fmt.Sprintf("dcv-%04d", s.seq),
	}
	s.hosts[hostname] = h
	return h
}

// Delete removes a custom hostname as a destroy of the program's resource does: it reads as
// pending_deletion once, then it is gone.
func (s *Server) Delete(hostname string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hosts[hostname]; ok {
		h.deleted, h.status = true, "pending_deletion"
	}
}

// Has reports whether the zone has the hostname (not deleted).
func (s *Server) Has(hostname string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hosts[hostname]
	return ok && !h.deleted
}

// Publish creates a DNS record of the customer's (TXT or CNAME: name → value).
func (s *Server) Publish(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dns[name] = value
}

// Unpublish removes one.
func (s *Server) Unpublish(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dns, name)
}

// Block makes Cloudflare block the hostname (e.g. a banned name).
func (s *Server) Block(hostname string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hosts[hostname]; ok {
		h.blocked = true
	}
}

// Reads counts the API reads served.
func (s *Server) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// Target is the CNAME target the double expects customers to point at.
const Target = "customers.saas.example"

// advance moves a hostname along Cloudflare's states as the customer's DNS now stands.
func (s *Server) advance(h *host) {
	switch {
	case h.deleted:
		return
	case h.blocked:
		h.status = "blocked"
		return
	}
	if h.ssl == "initializing" {
		h.ssl = "pending_validation"
		return
	}
	cname := s.dns[h.name] == Target
	owned := s.dns[h.ownName] == h.ownValue
	switch h.status {
	case "pending":
		if owned && cname {
			h.status = "active"
		}
	case "active", "moved":
		if cname {
			h.status = "active"
		} else {
			h.status = "moved"
		}
	}
	if h.ssl == "pending_validation" && s.dns[h.dcvName] == h.dcvValue {
		h.ssl = "pending_issuance"
	} else if h.ssl == "pending_issuance" {
		h.ssl = "active"
	}
}

func (h *host) json() map[string]any {
	ssl := map[string]any{"status": h.ssl, "method": "txt", "type": "dv", "validation_records": []any{}}
	if h.ssl == "pending_validation" {
		ssl["validation_records"] = []any{map[string]any{"txt_name": h.dcvName, "txt_value": h.dcvValue}}
	}
	out := map[string]any{"id": h.id, "hostname": h.name, "status": h.status, "ssl": ssl}
	if h.status == "pending" {
		out["ownership_verification"] = map[string]any{"type": "txt", "name": h.ownName, "value": h.ownValue}
		out["verification_errors"] = []string{"custom hostname does not CNAME to this zone."}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, result any, errs ...map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if errs == nil {
			errs = []map[string]any{}
		}
		json.NewEncoder(w).Encode(map[string]any{"success": code < 300, "errors": errs, "messages": []any{}, "result": result})
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		reply(http.StatusForbidden, nil, map[string]any{"code": 10000, "message": "Authentication error"})
		return
	}
	prefix := "/zones/" + s.Zone + "/custom_hostnames"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		reply(http.StatusNotFound, nil, map[string]any{"code": 7003, "message": "Could not route to " + r.URL.Path})
		return
	}
	id := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && id == "":
		s.reads++
		list := []any{}
		for name, h := range s.hosts {
			if q := r.URL.Query().Get("hostname"); q != "" && q != name {
				continue
			}
			if h.deleted && h.status != "pending_deletion" {
				continue
			}
			s.advance(h)
			list = append(list, h.json())
			if h.deleted {
				h.status = "deleted" // read once as pending_deletion
			}
		}
		reply(http.StatusOK, list)
	case r.Method == http.MethodPost && id == "":
		var body struct {
			Hostname string `json:"hostname"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Hostname == "" {
			reply(http.StatusBadRequest, nil, map[string]any{"code": 1400, "message": "hostname required"})
			return
		}
		if h, ok := s.hosts[body.Hostname]; ok && !h.deleted {
			reply(http.StatusConflict, nil, map[string]any{"code": 1406, "message": "Duplicate custom hostname found."})
			return
		}
		reply(http.StatusOK, s.create(body.Hostname).json())
	case r.Method == http.MethodDelete && id != "":
		for _, h := range s.hosts {
			if h.id == id && !h.deleted {
				h.deleted, h.status = true, "pending_deletion"
				reply(http.StatusOK, map[string]any{"id": id})
				return
			}
		}
		reply(http.StatusNotFound, nil, map[string]any{"code": 1436, "message": "The custom hostname was not found."})
	default:
		reply(http.StatusMethodNotAllowed, nil, map[string]any{"code": 10405, "message": "method not allowed"})
	}
}
