package pulumiprov_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
	"github.com/axiestudio/tenantpool/pool/dockerhost/dockertest"
)

// TestCrashHelper is not a test: run by startCrashHelper in a process of its own, it
// provisions one account with the test plugin's program until it is killed.
func TestCrashHelper(t *testing.T) {
	raw := os.Getenv(crashHelperEnv)
	if raw == "" {
		t.Skip("the crash tests' helper process")
	}
	var job crashJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	p, _ := newProvisioner(t, nil, options{dataDir: job.DataDir, program: pluginProgram(job.Stack), docker: job.Docker,
		hosts: []platform.Host{job.Host}})
	_, err := p.Provision(t.Context(), job.Account, testTier())
	t.Fatalf("Provision returned (%v); the helper is meant to be killed mid-way", err)
}

// The shape of the incident: the daemon (here a helper process running the provisioner) is
// SIGKILLed while its tenant's `pulumi up` waits on a create — the test plugin's create, which
// in the Docker variant has already started the tenant's container, as the Docker provider
// would. The kill leaves the stack locked, a pending create in its state, the plugin running
// (reparented to init) and, with Docker, a live container the stack does not record. The next
// attempt, by a new provisioner on the same data directory, succeeds, and afterwards nothing
// of the crash is left: no lock, no pending operation, no orphan process, exactly the one
// recorded container; the teardown then removes everything.
func TestKilledUpdateRecovers(t *testing.T) {
	usePlugin(t)
	t.Run("plugin", func(t *testing.T) { killedUpdateRecovers(t, false) })
	t.Run("docker container", func(t *testing.T) { killedUpdateRecovers(t, true) })
}

func killedUpdateRecovers(t *testing.T, withDocker bool) {
	ts := newTenants(t)
	dir := t.TempDir()
	block := filepath.Join(t.TempDir(), "block")
	if err := os.WriteFile(block, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	slug := "crash01"
	h := host("local", 10)
	var dc *dockerhost.Client
	stack := pluginStack{BlockFile: block}
	if withDocker {
		dc = dockertest.Require(t)
		slug, _ = dockertest.Slug(t)
		h.DockerURL = dockertest.URL()
		stack.Docker, stack.Image = h.DockerURL, dockertest.Image(t, dc)
	}
	a := account(1, slug)
	stack.URL = ts.server(a).URL

	helper := startCrashHelper(t, crashJob{DataDir: dir, Account: a, Stack: stack, Docker: withDocker, Host: h})
	waitFile(t, block+".started", 2*time.Minute)
	tree := descendants(procs(t), helper.Process.Pid)
	var cli, plugin []proc
	for _, p := range tree {
		switch {
		case strings.Contains(p.cmd, "pulumi-resource-tenantpooltest"):
			plugin = append(plugin, p)
		case strings.Contains(p.cmd, " up ") && strings.Contains(p.cmd, "--stack tenant-"+slug):
			cli = append(cli, p)
		}
	}
	t.Cleanup(func() { // whatever the outcome, nothing of this test keeps running
		for _, p := range alive(t, append(cli, plugin...)) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	if len(cli) != 1 || len(plugin) != 1 {
		t.Fatalf("under the helper: %+v; want one pulumi up and one plugin", tree)
	}
	var orphan string
	if withDocker {
		cs, err := dc.Containers(t.Context(), dockerhost.TenantLabels(slug)...)
		if err != nil || len(cs) != 1 || cs[0].State != "running" {
			t.Fatalf("before the kill: %+v, %v; want the tenant's container running", cs, err)
		}
		orphan = cs[0].ID
		t.Cleanup(func() { _ = dc.RemoveContainer(context.Background(), orphan) })
	}

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	// The CLI dies with its daemon; its plugin does not (it is in a process group of its own).
	waitGone(t, cli, 10*time.Second)
	if len(alive(t, plugin)) != 1 {
		t.Fatalf("the plugin %+v did not survive the kill: the test no longer has the incident's shape", plugin)
	}
	if locks := lockFiles(t, dir); len(locks) != 1 {
		t.Fatalf("lock files after the kill: %v, want the dead update's one", locks)
	}
	if ops := pendingOperations(t, dir, slug); len(ops) != 1 {
		t.Fatalf("pending operations after the kill: %v, want the create", ops)
	}

	// The next attempt: a new daemon on the same data directory.
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	p, logs := newProvisioner(t, ts, options{dataDir: dir, program: pluginProgram(stack), docker: withDocker, hosts: []platform.Host{h}})
	got, err := p.Provision(t.Context(), a, testTier())
	if err != nil {
		t.Fatalf("the attempt after the crash: %v\n%s", err, logs)
	}
	if got.URL != stack.URL || got.Host != "local" {
		t.Errorf("provisioned %+v", got)
	}
	if locks := lockFiles(t, dir); len(locks) != 0 {
		t.Errorf("lock files left: %v", locks)
	}
	if ops := pendingOperations(t, dir, slug); len(ops) != 0 {
		t.Errorf("pending operations left: %v", ops)
	}
	if left := alive(t, plugin); len(left) != 0 {
		t.Errorf("orphaned plugin still running: %+v", left)
	}
	for _, want := range []string{"killed a Pulumi process left running by a dead daemon", "removed the stack lock of a dead update",
		"refreshing with pending creates cleared"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %q", want)
		}
	}
	noSecrets(t, logs.String(), a)
	if withDocker {
		outs, err := p.Outputs(t.Context(), slug)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := dc.Containers(t.Context(), dockerhost.TenantLabels(slug)...)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].ID != outs["containerId"].Value || cs[0].ID == orphan {
			t.Fatalf("containers of %s: %+v; want exactly the one the stack records (%v), not the orphan %s", slug, cs, outs["containerId"].Value, orphan)
		}
		if !strings.Contains(logs.String(), "removed a container of the tenant that its stack does not record") {
			t.Error("no log line for the removed orphan container")
		}
	}

	// The teardown leaves nothing either.
	a.Host = got.Host
	if err := p.Destroy(t.Context(), a); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if withDocker {
		cs, _ := dc.Containers(t.Context(), dockerhost.TenantLabels(slug)...)
		vs, _ := dc.Volumes(t.Context(), dockerhost.TenantLabels(slug)...)
		if len(cs)+len(vs) != 0 {
			t.Errorf("after the teardown: containers %+v, volumes %+v", cs, vs)
		}
	}
	if err := p.Destroy(t.Context(), a); withDocker && err != nil || !withDocker && err == nil {
		t.Errorf("second Destroy: %v (with Docker: nil, the host has nothing of it; without: an error, it cannot tell)", err)
	}
}

// A container carrying the tenant's labels that the stack does not record (an interrupted
// update's, whose lock and pending create were cleared by hand) would take the tenant's name:
// the update removes it first, and leaves other tenants' containers alone.
func TestUpdateRemovesUnrecordedContainer(t *testing.T) {
	dc := dockertest.Require(t)
	ts := newTenants(t)
	h := host("local", 10)
	h.DockerURL = dockertest.URL()
	p, logs := newProvisioner(t, ts, options{docker: true, hosts: []platform.Host{h}})
	slug, prefix := dockertest.Slug(t)
	other := prefix + "02"
	orphan := dockertest.Run(t, dc, dockertest.Name(slug), "", dockertest.TenantLabels(slug)...)
	neighbour := dockertest.Run(t, dc, dockertest.Name(other), "", dockertest.TenantLabels(other)...)
	a := account(1, slug)
	ts.server(a)
	mustProvision(t, p, a)
	if dockertest.Exists(t, dc, orphan) {
		t.Error("the unrecorded container of the tenant is still there")
	}
	if !dockertest.Exists(t, dc, neighbour) {
		t.Error("another tenant's container was removed")
	}
	if !strings.Contains(logs.String(), "removed a container of the tenant that its stack does not record") {
		t.Error("no log line for the removal")
	}
	cs, err := dc.Containers(t.Context(), dockerhost.TenantLabels(slug)...)
	if err != nil || len(cs) != 0 {
		t.Errorf("containers of %s: %+v, %v", slug, cs, err)
	}
}

// waitFile polls for a file until it exists or the deadline passes.
func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitGone polls until none of ps runs, or fails at the deadline.
func waitGone(t *testing.T, ps []proc, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(alive(t, ps)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still running after %s: %+v", within, alive(t, ps))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockFiles lists the stack locks of the data directory's file backend.
func lockFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dataDir, "pulumi", "state", ".pulumi", "locks")
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".attrs") { // the blob store's metadata beside each
			out = append(out, path)
		}
		return nil
	})
	return out
}

// pendingOperations reads the pending operations of a tenant's stack from the file backend's
// checkpoint.
func pendingOperations(t *testing.T, dataDir, slug string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "pulumi", "state", ".pulumi", "stacks", "tenantpool-tenants", "tenant-"+slug+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Checkpoint struct {
			Latest struct {
				Pending []struct {
					Type     string `json:"type"`
					Resource struct {
						URN string `json:"urn"`
					} `json:"resource"`
				} `json:"pending_operations"`
			} `json:"latest"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(raw, &cp); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, op := range cp.Checkpoint.Latest.Pending {
		out = append(out, op.Type+" "+op.Resource.URN)
	}
	return out
}
