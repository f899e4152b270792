package pulumiprov_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
)

// pluginBuilt is set once buildPlugin ran (TestMain removes its directory then).
var pluginBuilt atomic.Bool

// buildPlugin builds the test provider plugin (internal/testplugin) once per test binary, as
// pulumi-resource-tenantpooltest in a directory of its own, and returns that directory.
var buildPlugin = sync.OnceValues(func() (string, error) {
	pluginBuilt.Store(true)
	dir, err := os.MkdirTemp("", "tenantpooltest-plugin")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "pulumi-resource-tenantpooltest"),
		"github.com/axiestudio/tenantpool/pool/pulumiprov/internal/testplugin").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build testplugin: %v\n%s", err, out)
	}
	return dir, nil
})

// usePlugin makes the test plugin findable by the CLI (the engine takes a pulumi-resource-*
// binary on PATH as an installed plugin).
func usePlugin(t *testing.T) {
	t.Helper()
	dir, err := buildPlugin()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// pluginStack configures pluginProgram.
type pluginStack struct {
	URL       string // the url output (a Langflow double)
	Docker    string // the engine the plugin runs the tenant container on ("" = none)
	Image     string
	BlockFile string // while it exists, the create blocks
	EnvFile   string // the plugin writes its environment there at create ("" = no)
}

// pluginProgram is a tenant program with one custom resource of the test plugin, through an
// explicit provider (default providers are disabled in tenant stacks), exporting what
// tenant.Program exports.
func pluginProgram(ps pluginStack) func(tenant.Spec) pulumi.RunFunc {
	return func(spec tenant.Spec) pulumi.RunFunc {
		return func(ctx *pulumi.Context) error {
			if err := spec.Validate(); err != nil {
				return err
			}
			var prov struct{ pulumi.ProviderResourceState }
			if err := ctx.RegisterResource("pulumi:providers:tenantpooltest", "docker-"+spec.Host.Name, pulumi.Map{}, &prov); err != nil {
				return err
			}
			var ct struct{ pulumi.CustomResourceState }
			if err := ctx.RegisterResource("tenantpooltest:index:Container", "container", pulumi.Map{
				"slug": pulumi.String(spec.Slug), "docker": pulumi.String(ps.Docker), "image": pulumi.String(ps.Image),
				"blockFile": pulumi.String(ps.BlockFile), "envFile": pulumi.String(ps.EnvFile),
			}, &ct, pulumi.Provider(&prov)); err != nil {
				return err
			}
			url := ps.URL
			if url == "" {
				url = spec.URL()
			}
			ctx.Export(tenant.OutputURL, pulumi.String(url))
			ctx.Export(tenant.OutputHost, pulumi.String(spec.Host.Name))
			ctx.Export(tenant.OutputContainerName, pulumi.String(spec.ContainerName()))
			ctx.Export("containerId", ct.ID())
			return nil
		}
	}
}

// crashJob is what the helper process provisions.
type crashJob struct {
	DataDir string
	Account pool.Account
	Stack   pluginStack
	Docker  bool // give the provisioner Docker access to the host
	Host    platform.Host
}

const crashHelperEnv = "PULUMIPROV_CRASH_HELPER"

// startCrashHelper runs this test binary as a separate process that provisions job's account
// (TestCrashHelper) and never finishes on its own.
func startCrashHelper(t *testing.T, job crashJob) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+string(raw))
	out, err := os.Create(filepath.Join(t.TempDir(), "helper.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("helper output:\n%s", b)
		}
	})
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// proc is one process seen in /proc.
type proc struct {
	pid, ppid int
	cmd       string
}

// procs reads every process of this machine.
func procs(t *testing.T) map[int]proc {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(stat)
		rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(rest) < 2 || rest[0] == "Z" {
			continue // a zombie is dead
		}
		ppid, _ := strconv.Atoi(rest[1])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[pid] = proc{pid: pid, ppid: ppid, cmd: strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")}
	}
	return out
}

// descendants are root's children, grandchildren, ….
func descendants(all map[int]proc, root int) []proc {
	var out []proc
	for _, p := range all {
		for q := p; q.ppid > 1; {
			if q.ppid == root {
				out = append(out, p)
				break
			}
			next, ok := all[q.ppid]
			if !ok {
				break
			}
			q = next
		}
	}
	return out
}

// alive reports which of pids still run (not zombies).
func alive(t *testing.T, ps []proc) []proc {
	t.Helper()
	all := procs(t)
	var out []proc
	for _, p := range ps {
		if q, ok := all[p.pid]; ok && q.cmd == p.cmd {
			out = append(out, q)
		}
	}
	return out
}
