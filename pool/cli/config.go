package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/langflow"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

// FileConfig is the optional YAML configuration file (--config / POOL_CONFIG). Unknown keys are
// errors, so a typo never silently falls back to a default.
type FileConfig struct {
	// SlugPrefix of new accounts (default "client": client01, client02, …).
	SlugPrefix string `yaml:"slug_prefix"`
	// Tiers replaces the default tiers when set.
	Tiers []pool.Tier `yaml:"tiers"`
	// Hosts are the Docker hosts tenants are placed on when there is no platform stack
	// (default: the local Docker socket).
	Hosts []platform.Host `yaml:"hosts"`

	// flows are the tiers' starter flows, read from their starter_flows directories (relative
	// ones are relative to the configuration file).
	flows map[string][]langflow.Flow
}

// loadFileConfig reads path ("" = defaults) and validates it, reporting every problem at once.
func loadFileConfig(path string) (FileConfig, pool.Tiers, error) {
	fc := FileConfig{SlugPrefix: "client"}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fc, nil, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
			return fc, nil, fmt.Errorf("config %s: %w", path, err)
		}
		if fc.SlugPrefix == "" {
			fc.SlugPrefix = "client"
		}
	}
	if len(fc.Tiers) == 0 {
		fc.Tiers = pool.DefaultTiers()
	}
	var errs []error
	if err := pool.ValidatePrefix(fc.SlugPrefix); err != nil {
		errs = append(errs, err)
	}
	tiers, err := pool.NewTiers(fc.Tiers)
	if err != nil {
		errs = append(errs, err)
	}
	for _, h := range fc.Hosts {
		if err := h.Validate(); err != nil {
			errs = append(errs, err)
		}
		if err := pulumiprov.ValidateSSHOpts(h.SSHOpts); err != nil {
			errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
		}
	}
	for _, t := range fc.Tiers {
		if t.StarterFlows == "" {
			continue
		}
		dir := t.StarterFlows
		if !filepath.IsAbs(dir) && path != "" {
			dir = filepath.Join(filepath.Dir(path), dir)
		}
		flows, err := langflow.LoadFlows(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("tier %s: %w", t.Name, err))
			continue
		}
		if fc.flows == nil {
			fc.flows = map[string][]langflow.Flow{}
		}
		fc.flows[t.Name] = flows
	}
	if err := errors.Join(errs...); err != nil {
		return fc, nil, fmt.Errorf("config: %w", err)
	}
	return fc, tiers, nil
}

// newLogger builds the process logger: JSON when stderr is not a terminal (or format "json"),
// text otherwise.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "auto", "":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want auto, json or text", format)
}

// writeFileAtomic0600 writes data to a temp file beside path (mode 0600, synced) and returns its
// name; the caller renames it into place (or removes it).
func writeTemp0600(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}
