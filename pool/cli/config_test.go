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
	// The tier's resource limits, and their refusals.
	_, tiers, err = loadFileConfig(write("tiers:\n  - {name: solo, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 1024, cpus: 1, pids_limit: 300, nofile: 2048, volume_mb: 4096, io_weight: 100}\n"))
	if err != nil || tiers["solo"].PidsLimit != 300 || tiers["solo"].NoFile != 2048 || tiers["solo"].VolumeMB != 4096 || tiers["solo"].IOWeight != 100 {
		t.Fatalf("limits = %+v, %v", tiers["solo"].Limits, err)
	}
	_, _, err = loadFileConfig(write("tiers:\n  - {name: solo, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 1024, cpus: 1, pids_limit: 5}\n"))
	if err == nil || !strings.Contains(err.Error(), "tier solo: pids_limit 5 must be between 64") {
		t.Fatalf("a pids limit of 5: %v, want it refused with its bounds", err)
	}
	if _, _, err := loadFileConfig(write("tiers:\n  - {name: solo, min_ready: 1, max_total: 1, max_in_flight: 1, memory_mb: 1024, cpus: 1, pid_limit: 300}\n")); err == nil || !strings.Contains(err.Error(), "pid_limit") {
		t.Fatalf("a misspelt limit: %v", err)
	}
}
