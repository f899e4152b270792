// Package browsertest starts a headless Chromium for tests of the daemon's pages (the
// storefront, the operator console) and drives it with chromedp.
//
// The browser is found through TENANTPOOL_CHROMIUM, else `chromium` (Debian's package) or
// `chromium-browser` / `google-chrome` in PATH. Without one the test is skipped, or fails when
// POOL_TEST_REQUIRE_ALL=1 (as in CI, whose .ci/run installs Debian's chromium).
//
// Every test gets a fresh profile directory, and when it ends a screenshot of the page it was
// on is saved as an artefact (PNG): <dir>/<TestName>.png, where dir is TENANTPOOL_TEST_ARTIFACTS or
// else test-artifacts/browser at the module root (git-ignored).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Binary returns the Chromium executable, or "" if there is none.
func Binary() string {
	if p := os.Getenv("TENANTPOOL_CHROMIUM"); p != "" {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Flags are the launch flags that work on this project's machines (as root, no GPU, no
// network beyond loopback).
func Flags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(412, 915), // a phone: the pages must read there
	}
}

// New starts Chromium for t and returns a chromedp context bound to one tab, which ends after
// Timeout. The browser is closed, and a screenshot of the tab saved as an artefact, when the
// test ends.
func New(t testing.TB) context.Context {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "chromium not found: install Debian's chromium or set TENANTPOOL_CHROMIUM"
		if os.Getenv("POOL_TEST_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := append(Flags(), chromedp.ExecPath(bin), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// Start the browser now, so that a failure to launch is reported here.
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	// Every action of the test must end within Timeout: a hung browser fails the test instead
	// of blocking the package until go test's own timeout.
	tctx, cancelTimeout := context.WithTimeout(ctx, Timeout)
	t.Cleanup(func() {
		cancelTimeout()
		Screenshot(t, ctx, "")
		cancelTab()
		cancelAlloc()
	})
	return tctx
}

// Timeout bounds what one test may do in its browser (generous: a loaded 2-core machine).
const Timeout = 3 * time.Minute

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Screenshot saves the tab's current page as <ArtifactDir>/<TestName>[-<name>].png (New saves
// one, unnamed, when the test ends); failures are only logged (the artefact helps, it is not
// what the test asserts).
func Screenshot(t testing.TB, ctx context.Context, name string) {
	dir := ArtifactDir()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	file := t.Name()
	if name != "" {
		file += "-" + name
	}
	path := filepath.Join(dir, unsafeName.ReplaceAllString(file, "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// ArtifactDir is where screenshots go: TENANTPOOL_TEST_ARTIFACTS, else test-artifacts/browser
// at the module root (found by walking up to go.mod), else "" (none saved).
func ArtifactDir() string {
	if d := os.Getenv("TENANTPOOL_TEST_ARTIFACTS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "test-artifacts", "browser")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
