package pool_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/axiestudio/tenantpool/"

// layer ranks the packages of the daemon: domain → store → runtime → daemon → cli. A package
// may import (directly or not) only packages of its own rank or below. Adapters (pulumiprov,
// langflow, delivery, infra) sit beside the store: they may use the domain, never the runtime.
var layer = map[string]int{
	"pool": 0, "pool/jobs": 0, "pool/secret": 0,
	"pool/store": 1, "pool/langflow": 1, "pool/cfhostnames": 1, "pool/pulumiprov": 1, "pool/dockerhost": 1, "delivery": 1,
	"infra/platform": 1, "infra/tenant": 1, "infra/deploy": 1, "infra/dockerproxy": 1, "infra/egress": 1, "infra/studiobrand": 1,
	"pool/control": 2, "pool/orders": 2, "pool/admin": 2, "pool/metrics": 2, "pool/shop": 2, "pool/domainpage": 2, "pool/console": 2, "pool/business": 2,
	"pool/daemon": 3,
	"pool/cli":    4,
}

// TestImportsNeverRunBackUp checks the layering with go list -deps (tests excluded).
func TestImportsNeverRunBackUp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for pkg, rank := range layer {
		out, err := exec.Command("go", "list", "-deps", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			name, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			if r, known := layer[name]; known && r > rank {
				t.Errorf("%s (layer %d) depends on %s (layer %d): imports must not run back up", pkg, rank, name, r)
			}
			if name == "pool/pooltest" || strings.HasSuffix(name, "test") {
				t.Errorf("%s depends on the test package %s", pkg, name)
			}
		}
	}
	// The Docker Engine adapter knows the domain and the platform's hosts, nothing else.
	out, err := exec.Command("go", "list", "-f", "{{join .Imports \"\\n\"}}", module+"pool/dockerhost").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if name, ok := strings.CutPrefix(imp, module); ok && name != "pool" && name != "infra/platform" {
			t.Errorf("pool/dockerhost imports %s: it may import pool and infra/platform only", name)
		}
	}
	// The pure domain imports nothing of the project.
	out, err = exec.Command("go", "list", "-f", "{{join .Imports \"\\n\"}}", module+"pool").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, module) {
			t.Errorf("the domain package imports %s", imp)
		}
	}
}
