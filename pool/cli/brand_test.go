package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

// brandConfig is a config file whose premium tier has branding and starter flows (a directory
// next to the file).
func brandConfig(t *testing.T, flowsBody string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "flows", "premium"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "premium", "hello.json"), []byte(flowsBody), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`tiers:
  - {name: basic, min_ready: 0, max_total: 5, max_in_flight: 1, memory_mb: 1024, cpus: 1}
  - {name: premium, min_ready: 0, max_total: 5, max_in_flight: 1, memory_mb: 2048, cpus: 1, branding: true,
     starter_flows: flows/premium}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// poold brand set/show edits a premium account's brand (a sold one's tenant re-apply is
// enqueued), refuses basic accounts and bad values; poold flows deliver enqueues the tier's
// starter flows for its studios; a bad starter flows directory stops every command.
func TestBrandAndFlowsCommands(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_CONFIG"] = brandConfig(t, `{"name":"Hello","data":{"nodes":[],"edges":[]}}`)
	h.mustRun("batch", "create", "--count", "2", "--tier", "premium")
	h.mustRun("batch", "create", "--count", "1", "--tier", "basic")
	s := storetest.OpenSQLite(t, h.dir, nil)
	ctx := context.Background()
	// client01 is sold (the store's claim would need the CLI's sealing key to read it back).
	sold := struct {
		ID   int64
		Slug string
	}{1, "client01"}
	if _, err := s.DB().ExecContext(ctx, `UPDATE accounts SET state = 'claimed', order_id = 'order-1' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	logo := filepath.Join(t.TempDir(), "logo.svg")
	if err := os.WriteFile(logo, []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#f60"/></svg>`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := h.mustRun("brand", "set", sold.Slug, "--name", "Acme Flows", "--color", "#FF6600", "--logo-file", logo)
	if !strings.Contains(out, "re-applied") {
		t.Fatalf("set on a sold account: %s", out)
	}
	var shown struct {
		Brand pool.Brand `json:"brand"`
	}
	if err := json.Unmarshal([]byte(h.mustRun("brand", "show", sold.Slug, "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Brand.Name != "Acme Flows" || shown.Brand.Color != "#ff6600" || !strings.HasPrefix(shown.Brand.Logo, "data:image/svg+xml;base64,") {
		t.Fatalf("shown %+v", shown.Brand)
	}
	// Only the colour changes; the rest is kept.
	h.mustRun("brand", "set", sold.Slug, "--color", "#112233")
	if b, _ := s.Brand(ctx, sold.ID); b.Name != "Acme Flows" || b.Color != "#112233" {
		t.Fatalf("after a colour change %+v", b)
	}
	var reapplies int
	s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job WHERE kind = ?`, jobs.ReapplyArgs{}.Kind()).Scan(&reapplies)
	if reapplies != 2 {
		t.Fatalf("%d re-apply jobs, want 2", reapplies)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"brand", "set", "client03", "--name", "X"}, "does not include branding"},
		{[]string{"brand", "set", sold.Slug, "--color", "orange"}, "#rrggbb"},
		{[]string{"brand", "set", sold.Slug, "--logo", "http://insecure.example/l.png"}, "https URL"},
		{[]string{"brand", "set", sold.Slug}, "nothing to set"},
		{[]string{"brand", "set", sold.Slug, "--clear", "--name", "x"}, "--clear takes no other flag"},
		{[]string{"brand", "set", "nobody", "--name", "x"}, "not found"},
	} {
		if _, err := h.run(ctx, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("poold %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	if b, _ := s.Brand(ctx, sold.ID); b.Color != "#112233" {
		t.Fatalf("a refused command changed the brand: %+v", b)
	}
	if out := h.mustRun("brand", "set", sold.Slug, "--clear"); !strings.Contains(out, "brand saved") {
		t.Fatal(out)
	}
	if b, _ := s.Brand(ctx, sold.ID); !b.IsZero() {
		t.Fatalf("cleared brand %+v", b)
	}

	if out := h.mustRun("flows", "deliver", "--tier", "premium"); !strings.Contains(out, "2 studios") {
		t.Fatalf("flows deliver: %s", out)
	}
	if _, err := h.run(ctx, "flows", "deliver", "--tier", "basic"); err == nil || !strings.Contains(err.Error(), "no starter_flows") {
		t.Fatalf("flows deliver on a tier without flows: %v", err)
	}

	// A broken flow file stops every command at start, naming the file.
	h.env["POOL_CONFIG"] = brandConfig(t, `{"name":"Hello"}`)
	if _, err := h.run(ctx, "status"); err == nil || !strings.Contains(err.Error(), "hello.json") || !strings.Contains(err.Error(), "tier premium") {
		t.Fatalf("a bad starter flow was accepted: %v", err)
	}
}

// config check names each tier's starter flows.
func TestConfigCheckNamesStarterFlows(t *testing.T) {
	h := newHarness(t)
	h.real = true
	h.env["POOL_CONFIG"] = brandConfig(t, `{"name":"Hello","data":{"nodes":[],"edges":[]}}`)
	h.env["POOL_LANGFLOW_IMAGE"] = "langflowai/langflow:1.5.0@sha256:" + strings.Repeat("ab", 32)
	h.env["TENANTPOOL_PULUMI"] = writeFile(t, "pulumi", "#!/bin/sh\necho 'error: config check must not run the Pulumi CLI' >&2\nexit 3\n")
	out, err := h.run(context.Background(), "config", "check")
	if err != nil || !strings.Contains(out, "configuration ok") || !strings.Contains(out, "tier premium: 1 starter flow(s)") || strings.Contains(out, "tier basic:") {
		t.Fatalf("config check = %q, %v", out, err)
	}
}
