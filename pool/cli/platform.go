package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/pool/pulumiprov"
)

// errNotConfirmed ends an up or destroy the operator did not confirm.
var errNotConfirmed = errors.New("not confirmed: nothing changed (answer yes, or pass --yes)")

type platformFlags struct {
	stack, backend, projectDir, secrets string
	yes                                 bool
}

// newPlatform is `poold platform preview|up|refresh|destroy --stack S`: the platform program
// (infra/platform) through the Automation API, configured by the project's stack file.
func newPlatform(e *Env) *cobra.Command {
	var f platformFlags
	cmd := &cobra.Command{
		Use:   "platform",
		Short: "Roll out the shared platform (Docker hosts, network, edge proxy, Cloudflare) from stacks/Pulumi.<stack>.yaml",
		Long: `Runs the platform Pulumi program (infra/platform) with the Pulumi CLI through the Automation
API; no Go language host is needed. The stack's configuration comes from its stack file
(stacks/Pulumi.<stack>.yaml, next to the project's Pulumi.yaml). State goes to the daemon's
backend unless --backend says otherwise, so "poold serve --platform-stack
organization/tenantpool/<stack>" finds it. Secure values need PULUMI_CONFIG_PASSPHRASE (or
PULUMI_CONFIG_PASSPHRASE_FILE) with the passphrase secrets provider.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.stack, "stack", "", "the stack: its file stacks/Pulumi.<stack>.yaml configures the platform (dev, prod)")
	pf.StringVar(&f.backend, "backend", "", "Pulumi backend URL (default: --pulumi-backend / POOL_PULUMI_BACKEND, else the daemon's file://<data-dir>/pulumi/state)")
	pf.StringVar(&f.projectDir, "project-dir", "", "directory of Pulumi.yaml (default: the nearest one from the working directory upwards)")
	pf.StringVar(&f.secrets, "secrets-provider", deploy.SecretsPassphrase, "secrets provider of a new stack: passphrase (PULUMI_CONFIG_PASSPHRASE) or a KMS URL")
	_ = cmd.MarkPersistentFlagRequired("stack")

	verb := func(use, short string, confirm bool, run func(cmd *cobra.Command, st *deploy.Stack) error) *cobra.Command {
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				st, err := e.platformStack(cmd.Context(), f)
				if err != nil {
					return err
				}
				return run(cmd, st)
			},
		}
		if confirm {
			c.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not show the preview and ask first")
		}
		return c
	}
	cmd.AddCommand(
		verb("preview", "Show what up would change", false, func(cmd *cobra.Command, st *deploy.Stack) error {
			_, err := st.Preview(cmd.Context())
			return err
		}),
		verb("up", "Create or update the platform (shows the preview and asks first unless --yes)", true, func(cmd *cobra.Command, st *deploy.Stack) error {
			if !f.yes {
				if _, err := st.Preview(cmd.Context()); err != nil {
					return err
				}
				if err := confirm(cmd.InOrStdin(), e.Stdout, fmt.Sprintf("Update stack %s?", st.Name())); err != nil {
					return err
				}
			}
			if _, err := st.Up(cmd.Context()); err != nil {
				return err
			}
			e.Log.Info("platform stack updated", "stack", st.Name(), "file", st.File())
			return nil
		}),
		verb("refresh", "Read the real state of the platform's resources into the stack", false, func(cmd *cobra.Command, st *deploy.Stack) error {
			_, err := st.Refresh(cmd.Context())
			return err
		}),
		verb("destroy", "Delete every platform resource (shows the preview and asks first unless --yes)", true, func(cmd *cobra.Command, st *deploy.Stack) error {
			if !f.yes {
				if _, err := st.PreviewDestroy(cmd.Context()); err != nil {
					return err
				}
				if err := confirm(cmd.InOrStdin(), e.Stdout, fmt.Sprintf("Destroy every resource of stack %s?", st.Name())); err != nil {
					return err
				}
			}
			if err := st.Destroy(cmd.Context()); err != nil {
				return err
			}
			e.Log.Info("platform stack destroyed", "stack", st.Name())
			return nil
		}),
	)
	return cmd
}

// platformStack opens the platform stack with the daemon's CLI, backend and PULUMI_HOME.
func (e *Env) platformStack(ctx context.Context, f platformFlags) (*deploy.Stack, error) {
	dataDir, err := filepath.Abs(e.DataDir)
	if err != nil {
		return nil, err
	}
	backend := f.backend
	if backend == "" {
		backend = e.provision.backend
	}
	if backend == "" {
		backend = pulumiprov.DefaultBackendURL(dataDir)
	}
	env := map[string]string{}
	for _, k := range []string{"PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"} {
		if v := e.Getenv(k); v != "" {
			env[k] = v
		}
	}
	opts := deploy.Options{
		Dir: f.projectDir, Stack: f.stack, BackendURL: backend, Home: pulumiprov.HomeDir(dataDir),
		SecretsProvider: f.secrets, Env: env, NoPluginDownload: e.provision.noPluginDownload, Out: e.Stdout,
	}
	// The project and the stack file first: a wrong stack is named even without a Pulumi CLI.
	if _, err := deploy.Open(opts); err != nil {
		return nil, err
	}
	if opts.Command, err = pulumiprov.NewCommand(ctx, e.provision.cliPath()); err != nil {
		return nil, err
	}
	return deploy.Open(opts)
}

// confirm asks question on out and reads one answer line from in; only "y" or "yes" goes on (no
// answer, as without a terminal: errNotConfirmed).
func confirm(in io.Reader, out io.Writer, question string) error {
	fmt.Fprintf(out, "%s [yes/no] ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil {
		fmt.Fprintln(out)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}
