package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/secret"
)

func newKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// listSlugs runs `poold list`, which opens every account's sealed secrets: a keyring that
// cannot open one fails it.
func listSlugs(t *testing.T, h *harness) []string {
	t.Helper()
	out, err := h.run(context.Background(), "list", "--json")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, r := range rows {
		slugs = append(slugs, r["slug"].(string))
	}
	slices.Sort(slugs)
	return slugs
}

// The development default key in the data directory is warned about; the key moves out to a
// keyring file (new key first, old key after), `poold secrets rotate` re-seals every value
// with the new key and a second run has nothing to do; then the new key alone opens everything.
func TestSecretsRotate(t *testing.T) {
	h := newHarness(t)
	h.mustRun("batch", "create", "--count", "3", "--tier", "basic")
	if !strings.Contains(h.logs.String(), "the sealing key file is inside the data directory") {
		t.Fatalf("no warning about the key in the data directory:\n%s", h.logs.String())
	}
	oldKeyFile, err := os.ReadFile(filepath.Join(h.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	before := passwords(t, h)
	slugs := listSlugs(t, h)

	newK := newKey(t)
	ring := filepath.Join(t.TempDir(), "sealing.keys")
	if err := os.WriteFile(ring, []byte(newK+"\n"+strings.TrimSpace(string(oldKeyFile))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["POOL_SEALING_KEY_FILE"] = ring
	warnings := strings.Count(h.logs.String(), "inside the data directory")
	out := h.mustRun("secrets", "rotate")
	if !strings.Contains(out, "accounts 3: already current 0, re-sealed 3, changed meanwhile 0, failed 0") {
		t.Fatalf("first rotation:\n%s", out)
	}
	if out := h.mustRun("secrets", "rotate"); !strings.Contains(out, "accounts 3: already current 3, re-sealed 0") {
		t.Fatalf("second rotation:\n%s", out)
	}
	if strings.Count(h.logs.String(), "inside the data directory") != warnings {
		t.Error("a key file outside the data directory was warned about")
	}

	// The new key alone now opens every value, and the secrets are unchanged.
	if err := os.WriteFile(ring, []byte(newK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := listSlugs(t, h); !slices.Equal(got, slugs) {
		t.Fatalf("after rotation: %v, want %v", got, slugs)
	}
	keyring, err := secret.ParseKeyring(newK)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "secret.key"), []byte(newK+"\n"), 0o600); err != nil { // passwords reads the data dir's file
		t.Fatal(err)
	}
	if after := passwords(t, h); !slices.Equal(after, before) {
		t.Fatalf("secrets changed by the rotation (key %s)", keyring.CurrentID())
	}

	// The same keyring from the environment works too; both at once are refused.
	h.env["POOL_SEALING_KEY"] = newK
	if _, err := h.run(context.Background(), "list"); err == nil || !strings.Contains(err.Error(), "set more than once") {
		t.Fatalf("key file and POOL_SEALING_KEY together: %v", err)
	}
	delete(h.env, "POOL_SEALING_KEY_FILE")
	if got := listSlugs(t, h); !slices.Equal(got, slugs) {
		t.Fatalf("POOL_SEALING_KEY: %v", got)
	}
	// Without the new key nothing opens: rotate reports it (the old key alone no longer works).
	h.env["POOL_SEALING_KEY"] = strings.TrimSpace(string(oldKeyFile))
	if _, err := h.run(context.Background(), "list"); err == nil {
		t.Fatal("the old key alone opened values re-sealed with the new one")
	}
}

// A key file that is named but missing is an error that creates nothing.
func TestMissingSealingKeyFileIsAnError(t *testing.T) {
	h := newHarness(t)
	h.env["POOL_SEALING_KEY_FILE"] = filepath.Join(t.TempDir(), "absent.key")
	_, err := h.run(context.Background(), "list")
	if err == nil || !strings.Contains(err.Error(), "--sealing-key-file") || !strings.Contains(err.Error(), "head -c32") {
		t.Fatalf("missing key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "secret.key")); !os.IsNotExist(err) {
		t.Fatal("a key was created in the data directory although a key file was named")
	}
}
