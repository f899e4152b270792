package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadFileConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	fc, tiers, err := loadFileConfig("")
	if err != nil || fc.SlugPrefix != "client" || len(tiers) != 3 {
		t.Fatalf("defaults = %+v, %v, %v", fc, tiers, err)
	}
	fc, tiers, err = loadFileConfig(write("slug_prefix: acme\ntiers:\n  - {name: solo, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 512, cpus: 0.5}\n"))
	if err != nil || fc.SlugPrefix != "acme" || tiers["solo"].CPUs != 0.5 {
		t.Fatalf("custom = %+v, %v, %v", fc, tiers, err)
	}
	// Every problem at once.
	_, _, err = loadFileConfig(write("slug_prefix: 9x\ntiers:\n  - {name: solo, min_ready: 3, max_total: 1, max_in_flight: 1, memory_mb: 512, cpus: 1}\n"))
	if err == nil || !strings.Contains(err.Error(), "slug prefix") || !strings.Contains(err.Error(), "max_total") {
		t.Fatalf("err = %v, want both the prefix and the tier reported", err)
	}
	if _, _, err := loadFileConfig(write("tier: []\n")); err == nil || !strings.Contains(err.Error(), "tier") {
		t.Fatalf("unknown key: %v", err)
	}
}
