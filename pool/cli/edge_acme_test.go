package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// acme-storage hands the ACME directory and acme.json to the edge's user with the modes Traefik
// requires, keeps what acme.json holds, is idempotent, and refuses a link or bad flags.
// Changing owners needs root (CI runs as root).
func TestEdgeACMEStorage(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("POOL_TEST_REQUIRE_ALL") == "1" {
			t.Fatal("POOL_TEST_REQUIRE_ALL=1 but not root: acme-storage changes owners")
		}
		t.Skip("needs root to change owners")
	}
	h := newHarness(t)
	dir := filepath.Join(t.TempDir(), "acme")
	owned := func(p string, mode os.FileMode) {
		t.Helper()
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 65534 || sys.Gid != 65534 || st.Mode().Perm() != mode {
			t.Fatalf("%s: owner %d:%d mode %v, want 65534:65534 %v", p, sys.Uid, sys.Gid, st.Mode().Perm(), mode)
		}
	}
	run := func(args ...string) (string, error) {
		return h.run(context.Background(), append([]string{"edge", "acme-storage"}, args...)...)
	}
	if _, err := run("--dir", dir, "--owner", "65534:65534"); err != nil {
		t.Fatal(err)
	}
	owned(dir, 0o700)
	owned(filepath.Join(dir, "acme.json"), 0o600)
	// Certificates already there are kept, and a loosened mode is put back.
	file := filepath.Join(dir, "acme.json")
	if err := os.WriteFile(file, []byte(`{"le":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(file, 0o644)
	os.Chown(file, 0, 0)
	if _, err := run("--dir", dir, "--owner", "65534:65534"); err != nil {
		t.Fatal(err)
	}
	owned(file, 0o600)
	if b, _ := os.ReadFile(file); string(b) != `{"le":{}}` {
		t.Fatalf("acme.json = %q: its content was not kept", b)
	}
	// A symbolic link in its place is refused and not followed.
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, nil, 0o600)
	os.Remove(file)
	if err := os.Symlink(target, file); err != nil {
		t.Fatal(err)
	}
	if _, err := run("--dir", dir, "--owner", "65534:65534"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a link at acme.json: %v", err)
	}
	if st, _ := os.Stat(target); st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatal("the link's target was handed over")
	}
	for _, c := range []struct{ args []string }{
		{[]string{"--dir", dir, "--owner", "0:0"}},
		{[]string{"--dir", dir, "--owner", "nobody"}},
		{[]string{"--dir", "relative", "--owner", "65534:65534"}},
	} {
		if _, err := run(c.args...); err == nil {
			t.Errorf("%v accepted", c.args)
		}
	}
}
