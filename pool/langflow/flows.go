package langflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/axiestudio/tenantpool/pool"
)

// Flow is one starter flow: its name (unique per studio: the import skips a name already there)
// and its definition, a Langflow flow export ({"name", "description", "data": {"nodes", "edges"},
// …}) without the fields that belong to the studio it came from.
type Flow struct {
	Name string
	File string // the file it was read from, for messages
	JSON json.RawMessage
}

// Limits of a starter flows directory (LoadFlows).
const (
	MaxFlowFiles     = 50
	MaxFlowFileBytes = 2 << 20
	MaxFlowsBytes    = 20 << 20
	MaxFlowName      = 100
)

// studioFields are the parts of an exported flow that name the studio it came from; the import
// leaves them out, so that Langflow gives the flow its own id and puts it in the customer's
// folder.
var studioFields = []string{"id", "user_id", "folder_id", "updated_at", "created_at"}

// LoadFlows reads and validates every *.json file of dir (other files are refused, so a typo
// is not silently skipped): each a JSON object with a name (at most MaxFlowName printable
// characters, unique in the directory) and a data object with nodes and edges arrays; at most
// MaxFlowFiles files of MaxFlowFileBytes each and MaxFlowsBytes in all. Every problem is
// reported, naming its file; nothing is returned unless all are valid.
func LoadFlows(dir string) ([]Flow, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("starter flows: %w", err)
	}
	var (
		errs  []error
		flows []Flow
		total int64
		names = map[string]string{}
	)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		if !e.Type().IsRegular() || filepath.Ext(name) != ".json" {
			errs = append(errs, fmt.Errorf("%s: not a .json file", p))
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.Size() > MaxFlowFileBytes {
			errs = append(errs, fmt.Errorf("%s: %d bytes, more than %d", p, info.Size(), MaxFlowFileBytes))
			continue
		}
		total += info.Size()
		raw, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, err := ParseFlow(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		f.File = name
		if other, dup := names[f.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: flow name %q is also the name in %s", p, f.Name, other))
			continue
		}
		names[f.Name] = name
		flows = append(flows, f)
	}
	if n := len(flows); n > MaxFlowFiles {
		errs = append(errs, fmt.Errorf("starter flows %s: %d files, at most %d", dir, n, MaxFlowFiles))
	}
	if total > MaxFlowsBytes {
		errs = append(errs, fmt.Errorf("starter flows %s: %d bytes in all, at most %d", dir, total, MaxFlowsBytes))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("starter flows: %w", errors.Join(errs...))
	}
	slices.SortFunc(flows, func(a, b Flow) int { return strings.Compare(a.File, b.File) })
	return flows, nil
}

// ParseFlow validates one exported flow and returns it as it is imported.
func ParseFlow(raw []byte) (Flow, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return Flow{}, fmt.Errorf("not a JSON object: %w", err)
	}
	var name string
	if err := json.Unmarshal(obj["name"], &name); err != nil || strings.TrimSpace(name) == "" {
		return Flow{}, errors.New(`no "name" string`)
	}
	if utf8.RuneCountInString(name) > MaxFlowName || strings.ContainsAny(name, "\x00\n\r\t") {
		return Flow{}, fmt.Errorf("name must be at most %d characters on one line", MaxFlowName)
	}
	var data struct {
		Nodes *[]json.RawMessage `json:"nodes"`
		Edges *[]json.RawMessage `json:"edges"`
	}
	if err := json.Unmarshal(obj["data"], &data); err != nil || data.Nodes == nil || data.Edges == nil {
		return Flow{}, errors.New(`no "data" object with "nodes" and "edges" arrays (export the flow from Langflow)`)
	}
	for _, k := range studioFields {
		delete(obj, k)
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return Flow{}, err
	}
	return Flow{Name: name, JSON: out}, nil
}

// FlowSummary is a flow as GET /api/v1/flows/ lists it.
type FlowSummary struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Flows lists the token's user's own flows (GET /api/v1/flows/?get_all=true&remove_example_flows=true).
func (c *Client) Flows(ctx context.Context, tok Token) ([]FlowSummary, error) {
	q := url.Values{"get_all": {"true"}, "remove_example_flows": {"true"}}
	var out []FlowSummary
	err := c.do(ctx, call{op: opListFlows, method: http.MethodGet, path: "/api/v1/flows/", query: q, policy: retrySafe, token: tok}, &out)
	return out, err
}

// CreateFlow creates a flow for the token's user (POST /api/v1/flows/). Retried only when the
// request was not sent: Langflow renames a second flow of the same name rather than refusing
// it, so ImportFlows lists before it creates.
func (c *Client) CreateFlow(ctx context.Context, tok Token, f Flow) (FlowSummary, error) {
	var out FlowSummary
	err := c.do(ctx, call{op: opCreateFlow, method: http.MethodPost, path: "/api/v1/flows/", policy: retryUnsent,
		token: tok, body: f.JSON, contentType: "application/json"}, &out)
	return out, err
}

// ImportFlows logs in as the customer and creates every flow whose name the customer's studio
// does not have yet, so it sits in the customer's own folder; it returns how many it created.
// Running it again creates nothing (idempotent by name), so a job can retry it.
func (g *Gate) ImportFlows(ctx context.Context, baseURL string, customer Credentials, flows []Flow) (int, error) {
	if len(flows) == 0 {
		return 0, nil
	}
	c, err := g.Client(baseURL)
	if err != nil {
		return 0, err
	}
	tok, err := c.Login(ctx, customer.Username, customer.Password)
	if err != nil {
		return 0, fmt.Errorf("starter flows: customer login: %w", err)
	}
	have, err := c.Flows(ctx, tok)
	if err != nil {
		return 0, fmt.Errorf("starter flows: %w", err)
	}
	names := map[string]bool{}
	for _, f := range have {
		names[f.Name] = true
	}
	created := 0
	for _, f := range flows {
		if names[f.Name] {
			continue
		}
		if _, err := c.CreateFlow(ctx, tok, f); err != nil {
			return created, fmt.Errorf("starter flows: %s: %w", f.File, err)
		}
		names[f.Name] = true
		created++
	}
	return created, nil
}

// ImportAccountFlows is ImportFlows into a pool account's studio (its URL and customer login).
func (g *Gate) ImportAccountFlows(ctx context.Context, a pool.Account, flows []Flow) (int, error) {
	return g.ImportFlows(ctx, a.URL, Credentials{Username: a.CustomerUser, Password: a.CustomerPassword}, flows)
}
