package deploy_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/infra/platform"
)

// pulumiCLI finds the CLI the Makefile builds; without it the real-engine tests skip, unless
// POOL_TEST_REQUIRE_ALL=1 (CI), where they fail.
func pulumiCLI(t *testing.T) string {
	t.Helper()
	require := os.Getenv("POOL_TEST_REQUIRE_ALL") == "1"
	if testing.Short() && !require {
		t.Skip("real Pulumi engine: skipped in -short mode")
	}
	path := os.Getenv("TENANTPOOL_PULUMI")
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "tenantpool", "pulumi-v3.274.1", "pulumi")
	}
	if _, err := os.Stat(path); err != nil {
		if require {
			t.Fatalf("Pulumi CLI not found at %s (run `make pulumi`): %v", path, err)
		}
		t.Skipf("Pulumi CLI not found at %s (run `make pulumi`)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// command is the Automation API's own command for the CLI at path (it looks for <root>/bin/pulumi).
func command(t *testing.T, path string) auto.PulumiCommand {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

// project writes a project directory like the repository's root: Pulumi.yaml (project
// tenantpool, runtime go, stackConfigDir stacks) and the given stack files.
func project(t *testing.T, stacks map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "Pulumi.yaml"), "name: tenantpool\nruntime: go\nmain: infra/cmd/platform\nstackConfigDir: stacks\n")
	// The CLI checks that the project's main directory exists (it never builds it here).
	write(t, filepath.Join(dir, "infra", "cmd", "platform", "main.go"), "package main\n")
	for name, body := range stacks {
		write(t, filepath.Join(dir, "stacks", "Pulumi."+name+".yaml"), body)
	}
	return dir
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

const passphrase = "correct horse battery staple"

const testStack = `config:
  tenantpool:domain: example.localhost
  tenantpool:hosts:
    - name: edge1
      capacity: 3
    - name: edge2
      capacity: 5
`

// recorder is a plugin-free program: it registers one component per configured host and exports
// what it read from the stack configuration, and a configured secret as a secret output.
type recorder struct {
	mu   sync.Mutex
	runs int
	seen deploy.Config
}

func (r *recorder) program(c deploy.Config) (pulumi.RunFunc, error) {
	var hosts []struct {
		Name     string `json:"name"`
		Capacity int    `json:"capacity"`
	}
	if err := c.TryObject("hosts", &hosts); err != nil {
		return nil, err
	}
	return func(ctx *pulumi.Context) error {
		r.mu.Lock()
		r.runs++
		r.seen = c
		r.mu.Unlock()
		total := 0
		for _, h := range hosts {
			var comp struct{ pulumi.ResourceState }
			if err := ctx.RegisterComponentResource("tenantpool:test:Host", h.Name, &comp); err != nil {
				return err
			}
			total += h.Capacity
		}
		ctx.Export("domain", pulumi.String(c.Get("domain")))
		ctx.Export("capacity", pulumi.Int(total))
		if v, ok := c.Lookup("apiToken"); ok {
			ctx.Export("apiToken", pulumi.ToSecret(pulumi.String(v)))
		}
		return nil
	}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs
}

type fixture struct {
	t       *testing.T
	cli     string
	cmd     auto.PulumiCommand
	dir     string
	backend string
	home    string
}

func newFixture(t *testing.T, stacks map[string]string) *fixture {
	cli := pulumiCLI(t)
	state := t.TempDir()
	return &fixture{t: t, cli: cli, cmd: command(t, cli), dir: project(t, stacks), backend: "file://" + state, home: t.TempDir()}
}

func (f *fixture) open(stack string, program deploy.Program, out *strings.Builder, env map[string]string) (*deploy.Stack, error) {
	if env == nil {
		env = map[string]string{"PULUMI_CONFIG_PASSPHRASE": passphrase}
	}
	o := deploy.Options{Dir: f.dir, Stack: stack, BackendURL: f.backend, Home: f.home, Command: f.cmd,
		Env: env, NoPluginDownload: true, Program: program}
	if out != nil {
		o.Out = out
	}
	return deploy.Open(o)
}

func (f *fixture) mustOpen(stack string, program deploy.Program, out *strings.Builder) *deploy.Stack {
	f.t.Helper()
	st, err := f.open(stack, program, out, nil)
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	return st
}

// pulumi runs the CLI itself in the project, as an operator would (pulumi config set …).
func (f *fixture) pulumi(args ...string) string {
	f.t.Helper()
	cmd := exec.Command(f.cli, append([]string{"--non-interactive"}, args...)...)
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "PULUMI_BACKEND_URL="+f.backend, "PULUMI_HOME="+f.home,
		"PULUMI_CONFIG_PASSPHRASE="+passphrase, "PULUMI_SKIP_UPDATE_CHECK=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("pulumi %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The whole life of a stack on the real engine: the stack file's configuration reaches the
// program; preview creates the stack but no resource; up creates them and returns the outputs;
// a secret set in the stack file with `pulumi config set --secret` reaches the program in plain
// text and stays a secret; refresh and a second preview find nothing to change; destroy deletes
// everything.
func TestStackLifecycleOnTheRealEngine(t *testing.T) {
	f := newFixture(t, map[string]string{"test": testStack})
	rec := &recorder{}
	var out strings.Builder
	st := f.mustOpen("test", rec.program, &out)

	changes, err := st.Preview(t.Context())
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	if changes["create"] != 3 { // the stack and two hosts
		t.Errorf("preview changes %v, want 3 creates", changes)
	}
	if !strings.Contains(out.String(), "tenantpool:test:Host") || !strings.Contains(out.String(), "edge2") {
		t.Errorf("preview output does not show the resources:\n%s", out.String())
	}
	if outs, err := st.Outputs(t.Context()); err != nil || len(outs) != 0 {
		t.Fatalf("after preview: outputs %v, %v; want none (nothing deployed)", outs, err)
	}

	// The operator sets a secret with the Pulumi CLI; the stack file keeps only its ciphertext.
	f.pulumi("config", "set", "--secret", "--stack", "test", "tenantpool:apiToken", "token-0123456789")
	file, err := os.ReadFile(st.File())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(file), "secure:") || strings.Contains(string(file), "token-0123456789") {
		t.Fatalf("stack file after config set --secret:\n%s", file)
	}

	out.Reset()
	outs, err := st.Up(t.Context())
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if outs["domain"].Value != "example.localhost" || outs["capacity"].Value != float64(8) {
		t.Errorf("outputs %v, want the stack file's domain and capacity 8", outs)
	}
	if tok := outs["apiToken"]; !tok.Secret || tok.Value != "token-0123456789" {
		t.Errorf("apiToken output %+v, want the plaintext, marked secret", tok)
	}
	rec.mu.Lock()
	secret := rec.seen.Secret("apiToken")
	rec.mu.Unlock()
	if !secret {
		t.Error("the program was not told that apiToken is a secure value")
	}
	if strings.Contains(out.String(), "token-0123456789") {
		t.Error("the secret reached the progress output")
	}
	if !strings.Contains(out.String(), "Outputs:") {
		t.Errorf("up output has no outputs section:\n%s", out.String())
	}

	if changes, err := st.Refresh(t.Context()); err != nil || changes.Pending() {
		t.Fatalf("Refresh: %v, %v; want no change", changes, err)
	}
	if changes, err := st.Preview(t.Context()); err != nil || changes.Pending() {
		t.Fatalf("second Preview: %v, %v; want no change", changes, err)
	}

	if changes, err := st.PreviewDestroy(t.Context()); err != nil || changes["delete"] != 3 {
		t.Fatalf("PreviewDestroy: %v, %v; want 3 deletes", changes, err)
	}
	if outs, _ := st.Outputs(t.Context()); len(outs) == 0 {
		t.Fatal("PreviewDestroy destroyed the stack")
	}
	runs := rec.count()
	if err := st.Destroy(t.Context()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if rec.count() != runs {
		t.Error("destroy ran the program")
	}
	if outs, err := st.Outputs(t.Context()); err != nil || len(outs) != 0 {
		t.Fatalf("after destroy: outputs %v, %v; want none", outs, err)
	}
}

// A stack file made elsewhere (secure values and encryption salt committed with it) works in a
// fresh backend with the same passphrase, and a wrong passphrase fails clearly.
func TestSecretsFromACommittedStackFile(t *testing.T) {
	f := newFixture(t, map[string]string{"test": testStack})
	f.pulumi("stack", "init", "test", "--secrets-provider", "passphrase")
	f.pulumi("config", "set", "--secret", "--stack", "test", "tenantpool:apiToken", "token-0123456789")

	f.backend = "file://" + t.TempDir() // another machine: only the stack file came along
	rec := &recorder{}
	outs, err := f.mustOpen("test", rec.program, nil).Up(t.Context())
	if err != nil {
		t.Fatalf("Up in a fresh backend: %v", err)
	}
	if tok := outs["apiToken"]; !tok.Secret || tok.Value != "token-0123456789" {
		t.Fatalf("apiToken output %+v", tok)
	}

	f.backend = "file://" + t.TempDir()
	st, err := f.open("test", rec.program, nil, map[string]string{"PULUMI_CONFIG_PASSPHRASE": "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Preview(t.Context())
	if err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("wrong passphrase: %v, want an error about the passphrase", err)
	}
	if strings.Contains(err.Error(), "token-0123456789") {
		t.Error("the error carries the secret")
	}
}

// An unknown stack is refused before anything runs, naming the stacks there are.
func TestUnknownStack(t *testing.T) {
	f := newFixture(t, map[string]string{"test": testStack, "other": testStack})
	_, err := f.open("nosuch", (&recorder{}).program, nil, nil)
	if !errors.Is(err, deploy.ErrUnknownStack) || !strings.Contains(err.Error(), "Pulumi.nosuch.yaml") ||
		!strings.Contains(err.Error(), "stacks: other, test") {
		t.Fatalf("got %v, want ErrUnknownStack naming the file and the known stacks", err)
	}
	if _, err := f.open("../test", (&recorder{}).program, nil, nil); !errors.Is(err, deploy.ErrUnknownStack) {
		t.Fatalf("a path as stack name: %v", err)
	}
	if entries, _ := os.ReadDir(strings.TrimPrefix(f.backend, "file://")); len(entries) != 0 {
		t.Errorf("the backend was touched: %v", entries)
	}
}

// Refresh and destroy never create a stack: a stack missing in the backend is a clear error.
func TestRefreshAndDestroyNeedAnExistingStack(t *testing.T) {
	f := newFixture(t, map[string]string{"test": testStack})
	st := f.mustOpen("test", (&recorder{}).program, nil)
	if _, err := st.Refresh(t.Context()); !errors.Is(err, deploy.ErrNoStack) {
		t.Errorf("Refresh: %v, want ErrNoStack", err)
	}
	if err := st.Destroy(t.Context()); !errors.Is(err, deploy.ErrNoStack) {
		t.Errorf("Destroy: %v, want ErrNoStack", err)
	}
	if _, err := st.PreviewDestroy(t.Context()); !errors.Is(err, deploy.ErrNoStack) {
		t.Errorf("PreviewDestroy: %v, want ErrNoStack", err)
	}
}

// repoFile reads a file of the repository.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The real platform program with the repository's dev stack file, on the real engine: the
// Docker provider plugin cannot be downloaded here, so the preview fails with the command that
// installs it. Everything before the plugin (project, stack file, configuration loading and
// validation) is the production path.
func TestPlatformDevStackNamesTheMissingPlugin(t *testing.T) {
	f := newFixture(t, map[string]string{"dev": repoFile(t, "stacks/Pulumi.dev.yaml")})
	write(t, filepath.Join(f.dir, "Pulumi.yaml"), repoFile(t, "Pulumi.yaml"))
	st := f.mustOpen("dev", deploy.Platform, nil)
	_, err := st.Preview(t.Context())
	if !errors.Is(err, deploy.ErrMissingPlugin) ||
		!strings.Contains(err.Error(), "PULUMI_HOME="+f.home+" pulumi plugin install resource docker v4.10.0") {
		t.Fatalf("got %v, want ErrMissingPlugin with the docker plugin's install command", err)
	}
}

// A stack file the platform's validation rejects stops before the engine runs the program, with
// the validation message.
func TestPlatformInvalidConfigIsTheValidationMessage(t *testing.T) {
	dev := repoFile(t, "stacks/Pulumi.dev.yaml")
	bad := strings.Replace(dev, "tenantpool:domain: localhost", "tenantpool:domain: example.com", 1)
	if bad == dev {
		t.Fatal("the dev stack file changed: adapt the test")
	}
	f := newFixture(t, map[string]string{"dev": bad})
	_, err := f.mustOpen("dev", deploy.Platform, nil).Preview(t.Context())
	if !errors.Is(err, platform.ErrInvalidConfig) || !strings.Contains(err.Error(), "domain example.com needs Cloudflare") ||
		!strings.Contains(err.Error(), "Pulumi.dev.yaml") {
		t.Fatalf("got %v, want the validation message naming the stack file", err)
	}
	f2 := newFixture(t, map[string]string{"dev": "config:\n  tenantpool:domain: localhost\n"})
	_, err = f2.mustOpen("dev", deploy.Platform, nil).Preview(t.Context())
	if !errors.Is(err, platform.ErrInvalidConfig) || !strings.Contains(err.Error(), "tenantpool:hosts") {
		t.Fatalf("got %v, want the missing hosts named", err)
	}
}

// The repository's prod stack file holds placeholders, not ciphertexts, for its secure values:
// they cannot be decrypted, and the error says how to set them.
func TestPlatformProdPlaceholdersSayHowToSetThem(t *testing.T) {
	f := newFixture(t, map[string]string{"prod": repoFile(t, "stacks/Pulumi.prod.yaml")})
	_, err := f.mustOpen("prod", deploy.Platform, nil).Preview(t.Context())
	if err == nil || !strings.Contains(err.Error(), "decrypt") || !strings.Contains(err.Error(), "pulumi config set --secret --stack prod <key>") {
		t.Fatalf("got %v, want a decryption error saying how to set the secure values", err)
	}
}
