package langflowtest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Flow routes, as counted by Requests and targeted by InjectFault.
const (
	RouteListFlows  = "GET /api/v1/flows/"
	RouteCreateFlow = "POST /api/v1/flows/"
)

// Flow is the double's view of a flow, for assertions: whose it is and what was posted.
type Flow struct {
	ID     string
	UserID string
	Name   string
	Body   map[string]any
}

// Flows returns the flows of a user (by username), in creation order.
func (s *Server) Flows(username string) []Flow {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byName(username)
	if u == nil {
		return nil
	}
	var out []Flow
	for _, f := range s.flows {
		if f.UserID == u.ID {
			out = append(out, *f)
		}
	}
	return out
}

// listFlows follows read_flows: the current user's flows (example flows are left out when
// remove_example_flows=true; the double has none).
func (s *Server) listFlows(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.currentUser(w, r)
	if u == nil {
		return
	}
	out := []map[string]any{}
	for _, f := range s.flows {
		if f.UserID == u.ID {
			out = append(out, flowRead(f))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

var numbered = regexp.MustCompile(`^(.*) \((\d+)\)$`)

// createFlow follows create_flow: the flow belongs to the current user; a name the user already
// has is not refused but renamed "<name> (1)", "<name> (2)", … as Langflow does — so an import
// that does not check first makes duplicates the customer sees.
func (s *Server) createFlow(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if _, ok := decodeJSON(w, r, &body); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.currentUser(w, r)
	if u == nil {
		return
	}
	name, _ := body["name"].(string)
	if strings.TrimSpace(name) == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
			"type": "missing", "loc": []string{"body", "name"}, "msg": "Field required", "input": body}}})
		return
	}
	taken := func(n string) bool {
		for _, f := range s.flows {
			if f.UserID == u.ID && f.Name == n {
				return true
			}
		}
		return false
	}
	base := name
	if m := numbered.FindStringSubmatch(name); m != nil {
		base = m[1]
	}
	for i := 1; taken(name); i++ {
		name = fmt.Sprintf("%s (%d)", base, i)
	}
	f := &Flow{ID: newUUID(), UserID: u.ID, Name: name, Body: body}
	s.flows = append(s.flows, f)
	writeJSON(w, http.StatusCreated, flowRead(f))
}

func flowRead(f *Flow) map[string]any {
	out := map[string]any{}
	for k, v := range f.Body {
		out[k] = v
	}
	out["id"], out["name"], out["user_id"] = f.ID, f.Name, f.UserID
	return out
}
