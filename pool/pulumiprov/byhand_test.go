package pulumiprov_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow/langflowtest"
)

// By hand, on a provisioned tenant: Preview runs the program with the spec the daemon built and
// shows the engine's progress but changes nothing; Up applies the same spec (a new url output
// is the proof) without touching the tenant's logins; Refresh reads the real state. No secret
// reaches the progress.
func TestByHandPreviewUpRefresh(t *testing.T) {
	ts := newTenants(t)
	p, logs := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	first := ts.server(a)
	got := mustProvision(t, p, a)
	a.State, a.Host, a.URL, a.CustomerUserID = pool.StateDelivered, got.Host, got.URL, got.CustomerUserID
	ts.mu.Lock()
	built := ts.specs[a.Slug]
	// The tenant's address changes: an update would export the new one.
	second := langflowtest.NewServer(t, langflowtest.Options{Superuser: a.OperatorUser, SuperuserPassword: a.OperatorPassword})
	ts.servers[a.Slug] = second
	ts.mu.Unlock()

	var out strings.Builder
	if err := p.Preview(t.Context(), a, &out); err != nil {
		t.Fatalf("Preview: %v", err)
	}
	ts.mu.Lock()
	previewed, runs := ts.specs[a.Slug], ts.runs[a.Slug]
	ts.mu.Unlock()
	if runs != 2 || !reflect.DeepEqual(previewed, built) {
		t.Fatalf("preview ran the program %d times with spec\n%+v\nwant 2 times with the daemon's\n%+v", runs, previewed, built)
	}
	if !strings.Contains(out.String(), "tenant-client01") || !strings.Contains(out.String(), `=> "`+second.URL) {
		t.Errorf("preview progress does not show the stack and its changed output:\n%s", out.String())
	}
	if outs, err := p.Outputs(t.Context(), a.Slug); err != nil || outs["url"].Value != first.URL {
		t.Fatalf("after preview: url output %v (%v), want the old %s: a preview must change nothing", outs["url"].Value, err, first.URL)
	}

	out.Reset()
	url, err := p.Up(t.Context(), a, &out)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if url != second.URL {
		t.Errorf("Up returned url %q, want the program's new output %q", url, second.URL)
	}
	if outs, _ := p.Outputs(t.Context(), a.Slug); outs["url"].Value != second.URL {
		t.Errorf("after up: url output %v, want %s", outs["url"].Value, second.URL)
	}
	ts.mu.Lock()
	applied := ts.specs[a.Slug]
	ts.mu.Unlock()
	if !reflect.DeepEqual(applied, built) {
		t.Errorf("up spec\n%+v\nwant the daemon's\n%+v", applied, built)
	}
	if !strings.Contains(out.String(), "Outputs:") {
		t.Errorf("up progress has no outputs:\n%s", out.String())
	}
	if n := second.Requests(langflowtest.RouteCreateUser); n != 0 {
		t.Errorf("up by hand created %d Langflow users", n)
	}

	progress := out.String()
	out.Reset()
	if err := p.Refresh(t.Context(), a, &out); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !strings.Contains(out.String(), "tenant-client01") {
		t.Errorf("refresh progress:\n%s", out.String())
	}
	noSecrets(t, progress+out.String()+logs.String(), a)
}

// A suspended account stays suspended: the spec the program gets by hand is the suspended one.
func TestByHandKeepsASuspendedAccountSuspended(t *testing.T) {
	ts := newTenants(t)
	p, _ := newProvisioner(t, ts, options{})
	a := account(1, "client01")
	ts.server(a)
	got := mustProvision(t, p, a)
	a.Host, a.URL = got.Host, got.URL
	if err := p.Suspend(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	a.State = pool.StateSuspended
	for name, run := range map[string]func() error{
		"preview": func() error { return p.Preview(t.Context(), a, nil) },
		"up":      func() error { _, err := p.Up(t.Context(), a, nil); return err },
	} {
		if err := run(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ts.mu.Lock()
		spec := ts.specs[a.Slug]
		ts.mu.Unlock()
		if !spec.Suspended || spec.Host.Name != got.Host {
			t.Errorf("%s: the program saw suspended=%t on %s, want suspended on %s", name, spec.Suspended, spec.Host.Name, got.Host)
		}
	}
}

// An account that never got a stack is refused by every by-hand run: nothing is created, the
// program never runs, no work directory is left behind. A retired account is never brought back.
func TestByHandNeedsAStack(t *testing.T) {
	ts := newTenants(t)
	dir := t.TempDir()
	p, _ := newProvisioner(t, ts, options{dataDir: dir})
	a := account(1, "ghost01")
	for name, run := range map[string]func() error{
		"preview": func() error { return p.Preview(t.Context(), a, nil) },
		"up":      func() error { _, err := p.Up(t.Context(), a, nil); return err },
		"refresh": func() error { return p.Refresh(t.Context(), a, nil) },
	} {
		err := run()
		if !errors.Is(err, pool.ErrNotFound) || !strings.Contains(err.Error(), "tenant-ghost01 does not exist") {
			t.Errorf("%s: %v, want ErrNotFound naming the stack", name, err)
		}
	}
	if ts.runs[a.Slug] != 0 {
		t.Error("the program ran for a tenant without a stack")
	}
	if _, err := os.Stat(filepath.Join(dir, "pulumi", "stacks", a.Slug)); !os.IsNotExist(err) {
		t.Errorf("work directory left behind: %v", err)
	}
	if _, err := p.Outputs(t.Context(), a.Slug); !errors.Is(err, pool.ErrNotFound) {
		t.Errorf("a stack appeared: %v", err)
	}

	a.State = pool.StateRetired
	if _, err := p.Up(t.Context(), a, nil); !pool.IsPermanent(err) || !strings.Contains(err.Error(), "retired") {
		t.Errorf("up of a retired account: %v, want refused", err)
	}
}
