package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

// newPlugins is `poold plugins install`: the provider plugins of the platform and tenant
// programs, at the versions go.mod pins, installed where the daemon and `poold platform` look
// for them (their PULUMI_HOME, <data-dir>/pulumi/home), not in ~/.pulumi where a plain
// `pulumi plugin install` puts them.
func newPlugins(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "plugins", Short: "Pulumi provider plugins"}
	cmd.AddCommand(&cobra.Command{
		Use:   "install",
		Short: "Install the Docker and Cloudflare provider plugins (the versions go.mod pins) into <data-dir>/pulumi/home, where poold looks",
		Long: `Runs "pulumi plugin install resource <name> <version>" with PULUMI_HOME=<data-dir>/pulumi/home
for every provider plugin the platform and tenant programs use, at the versions go.mod pins their
SDKs. Installing one that is already there does nothing. Needed once per data directory (and
after an upgrade that changes the versions) when the daemon runs with --no-plugin-download, or
cannot download plugins; otherwise the engine downloads them when a stack first needs them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return e.installPlugins(cmd.Context()) },
	})
	return cmd
}

// installPlugins runs `pulumi plugin install` for every plugin of deploy.Plugins into the data
// directory's PULUMI_HOME, and reports every failure at once.
func (e *Env) installPlugins(ctx context.Context) error {
	dataDir, err := filepath.Abs(e.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	home := pulumiprov.HomeDir(dataDir)
	cliPath := e.provision.cliPath()
	if _, err := os.Stat(cliPath); err != nil {
		return fmt.Errorf("Pulumi CLI not found at %q: install it or run `make pulumi` (--pulumi-cli)", cliPath)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	var errs []error
	for _, p := range deploy.Plugins {
		args := p.InstallArgs()
		by := "PULUMI_HOME=" + home + " " + cliPath + " " + strings.Join(args, " ")
		var stderr bytes.Buffer
		c := exec.CommandContext(ctx, cliPath, args...)
		// The CLI's own environment (HOME, proxies, credentials), with the daemon's PULUMI_HOME.
		c.Env = append(pool.ChildEnv(os.Environ()), "PULUMI_HOME="+home, "PULUMI_SKIP_UPDATE_CHECK=true")
		c.Stdout, c.Stderr = e.Stdout, io.MultiWriter(e.Stderr, &stderr)
		if err := c.Run(); err != nil {
			reason := deploy.ErrorLines(stderr.String())
			if reason == "" {
				reason = "no error output"
			}
			errs = append(errs, fmt.Errorf("%s plugin %s: %w: %s (ran: %s)", p.Name, p.Version, err, reason, by))
			continue
		}
		e.Log.Info("pulumi plugin installed", "plugin", p.Name, "version", p.Version, "home", home)
		fmt.Fprintf(e.Stdout, "installed the %s plugin %s in %s\n", p.Name, p.Version, home)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("plugins install: %d of %d plugins failed:\n%w", len(errs), len(deploy.Plugins), err)
	}
	return nil
}
