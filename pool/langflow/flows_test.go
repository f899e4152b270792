package langflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

func TestLoadFlows(t *testing.T) {
	flows, err := langflow.LoadFlows("testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	if len(flows) != 2 || flows[0].Name != "Basic Prompting" || flows[1].Name != "Vector Store RAG" {
		t.Fatalf("flows %+v", flows)
	}
	var top map[string]any
	if err := json.Unmarshal(flows[0].JSON, &top); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"id", "user_id", "folder_id"} {
		if _, ok := top[field]; ok {
			t.Errorf("the imported flow keeps the studio field %s: %s", field, flows[0].JSON)
		}
	}

	write := func(dir, name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]struct {
		files map[string]string
		want  string
	}{
		"not json":       {map[string]string{"a.json": "{"}, "a.json: not a JSON object"},
		"no name":        {map[string]string{"a.json": `{"data":{"nodes":[],"edges":[]}}`}, `a.json: no "name"`},
		"no data":        {map[string]string{"a.json": `{"name":"x"}`}, `a.json: no "data" object`},
		"nodes not list": {map[string]string{"a.json": `{"name":"x","data":{"nodes":{},"edges":[]}}`}, `a.json: no "data" object`},
		"other file":     {map[string]string{"notes.txt": "hi"}, "notes.txt: not a .json file"},
		"same name": {map[string]string{"a.json": `{"name":"x","data":{"nodes":[],"edges":[]}}`,
			"b.json": `{"name":"x","data":{"nodes":[],"edges":[]}}`}, `flow name "x" is also the name in a.json`},
		"too big": {map[string]string{"a.json": `{"name":"x","data":{"nodes":[],"edges":[]},"pad":"` + strings.Repeat("x", langflow.MaxFlowFileBytes) + `"}`}, "more than"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range c.files {
				write(dir, n, b)
			}
			_, err := langflow.LoadFlows(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	if _, err := langflow.LoadFlows(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory was accepted")
	}
}

// The starter flows land in the customer's own studio (not the operator's), and importing them
// again — a retried job, `poold tenants flows` — creates nothing more.
func TestImportFlows(t *testing.T) {
	ctx := context.Background()
	srv := langflowtest.NewServer(t, langflowtest.Options{})
	g := newGate(nil)
	cust := customerFor("client07")
	if _, err := g.EnsureCustomer(ctx, srv.URL, operator, cust); err != nil {
		t.Fatal(err)
	}
	flows, err := langflow.LoadFlows("testdata/flows")
	if err != nil {
		t.Fatal(err)
	}
	n, err := g.ImportFlows(ctx, srv.URL, cust, flows)
	if err != nil || n != 2 {
		t.Fatalf("import: %d, %v", n, err)
	}
	got := srv.Flows("client07")
	if len(got) != 2 || got[0].Name != "Basic Prompting" || got[1].Name != "Vector Store RAG" {
		t.Fatalf("customer's flows %+v", got)
	}
	if d, _ := got[0].Body["description"].(string); d != "A prompt and a model." {
		t.Errorf("flow body %+v", got[0].Body)
	}
	if op := srv.Flows(operator.Username); len(op) != 0 {
		t.Errorf("the operator got flows: %+v", op)
	}
	n, err = g.ImportFlows(ctx, srv.URL, cust, flows)
	if err != nil || n != 0 || len(srv.Flows("client07")) != 2 {
		t.Fatalf("second import: %d, %v, flows %d", n, err, len(srv.Flows("client07")))
	}

	// A flow added to the tier later is the only one created; one the customer renamed away
	// comes back under its name; one that fails is reported and retried next time.
	more := append(flows, langflow.Flow{Name: "New One", File: "03.json", JSON: []byte(`{"name":"New One","data":{"nodes":[],"edges":[]}}`)})
	srv.InjectFault(langflowtest.RouteCreateFlow, langflowtest.Fault{Status: http.StatusServiceUnavailable})
	if _, err := g.ImportFlows(ctx, srv.URL, cust, more); !errors.Is(err, langflow.ErrUnavailable) {
		t.Fatalf("failed create: %v", err)
	}
	if n, err := g.ImportFlows(ctx, srv.URL, cust, more); err != nil || n != 1 || len(srv.Flows("client07")) != 3 {
		t.Fatalf("import after adding one: %d, %v", n, err)
	}
	if _, err := g.ImportFlows(ctx, srv.URL, langflow.Credentials{Username: "client07", Password: "wrong-password"}, more); !errors.Is(err, langflow.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
}
