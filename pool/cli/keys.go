package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
)

// keySource is where the sealing keyring comes from, as flags and environment say.
type keySource struct {
	env, envName string // POOL_SEALING_KEY (or the legacy POOL_SECRET_KEY): keyring text
	file         string // --sealing-key-file / POOL_SEALING_KEY_FILE
	dflt         string // <data-dir>/secret.key, created on first run
}

// keySource resolves the sources, refusing more than one.
func (e *Env) keySource() (keySource, error) {
	src := keySource{file: e.sealingKeyFile, dflt: filepath.Join(e.DataDir, "secret.key")}
	var set []string
	for _, name := range []string{"POOL_SEALING_KEY", "POOL_SECRET_KEY"} {
		if v := e.Getenv(name); v != "" {
			src.env, src.envName = v, name
			set = append(set, name)
		}
	}
	if src.file != "" {
		set = append(set, "--sealing-key-file (POOL_SEALING_KEY_FILE)")
	}
	if len(set) > 1 {
		return src, fmt.Errorf("the sealing key is set more than once (%s): set one", strings.Join(set, ", "))
	}
	return src, nil
}

// load reads the keyring; create allows making the default key file (never in config check).
func (src keySource) load(create bool) (*secret.Keyring, error) {
	switch {
	case src.env != "":
		k, err := secret.ParseKeyring(src.env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.envName, err)
		}
		return k, nil
	case src.file != "":
		k, err := secret.ReadKeyFile(src.file)
		if err != nil {
			return nil, fmt.Errorf("--sealing-key-file: %w (generate one with: head -c32 /dev/urandom | base64 > FILE; chmod 600 FILE)", err)
		}
		return k, nil
	case create:
		return secret.LoadOrCreateKeyFile(src.dflt)
	default:
		return secret.ReadKeyFile(src.dflt)
	}
}

// keyFile is the key file in use ("" when the key comes from the environment).
func (src keySource) keyFile() string {
	switch {
	case src.env != "":
		return ""
	case src.file != "":
		return src.file
	}
	return src.dflt
}

// Keyring returns the pool's sealing keyring: POOL_SEALING_KEY (keyring text; POOL_SECRET_KEY is
// its old name), else the file --sealing-key-file / POOL_SEALING_KEY_FILE names, else
// <data-dir>/secret.key, created on first run. A key file inside the data directory sits
// beside the data it protects: that is warned about once per process.
func (e *Env) Keyring() (*secret.Keyring, error) {
	if e.keyring != nil {
		return e.keyring, nil
	}
	src, err := e.keySource()
	if err != nil {
		return nil, err
	}
	k, err := src.load(true)
	if err != nil {
		return nil, err
	}
	if src.envName == "POOL_SECRET_KEY" {
		e.Log.Warn("POOL_SECRET_KEY is the old name of POOL_SEALING_KEY: rename it")
	}
	if f := src.keyFile(); f != "" && within(f, e.DataDir) {
		e.Log.Warn("the sealing key file is inside the data directory, beside the data it protects: "+
			"move it outside (--sealing-key-file / POOL_SEALING_KEY_FILE) or pass it in POOL_SEALING_KEY(_FILE)", "key_file", f)
	}
	e.keyring = k
	return k, nil
}

// Key is the key the tenant stacks' Pulumi passphrase derives from: the keyring's oldest (its
// last) key, which rotation therefore keeps (see README, Sealing keys).
func (e *Env) Key() ([]byte, error) {
	k, err := e.Keyring()
	if err != nil {
		return nil, err
	}
	return k.Oldest(), nil
}

// checkKeyring is config check's look at the keyring: read, never created.
func (e *Env) checkKeyring() error {
	src, err := e.keySource()
	if err != nil {
		return err
	}
	if src.env == "" && src.file == "" && !fileExists(src.dflt) {
		return nil // the development default is created on first run
	}
	_, err = src.load(false)
	return err
}

func newSecrets(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "secrets", Short: "The sealed account secrets and their keys"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Re-seal every account secret with the current sealing key (idempotent, resumable)",
		Long: `Re-seals, in batches, every account secret not yet sealed with the keyring's current key
(the first of POOL_SEALING_KEY or the key file), opening it with whichever key of the keyring
sealed it. Safe beside running daemons; run it again after an interruption: what is done stays
done. Exit 1 when a value opens with no key of the keyring.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, e, func(ctx context.Context, s *store.Store) error {
				k, _ := e.Keyring() // withStore loaded it
				fmt.Fprintf(e.Stdout, "re-sealing with key %s (keyring: %s)\n", k.CurrentID(), strings.Join(k.IDs(), ", "))
				r, err := s.ResealSecrets(ctx, func(r store.ResealReport) {
					fmt.Fprintf(e.Stdout, "  %d/%d re-sealed\n", r.Resealed, r.Total-r.Current)
				})
				fmt.Fprintf(e.Stdout, "accounts %d: already current %d, re-sealed %d, changed meanwhile %d, failed %d\n",
					r.Total, r.Current, r.Resealed, r.Changed, len(r.Failed))
				d := r.Deliveries
				fmt.Fprintf(e.Stdout, "delivery passwords %d: already current %d, re-sealed %d, changed meanwhile %d, failed %d\n",
					d.Total, d.Current, d.Resealed, d.Changed, len(r.DeliveryFailed))
				if err != nil {
					return fmt.Errorf("interrupted (run it again to resume): %w", err)
				}
				if r.Changed > 0 || d.Changed > 0 {
					fmt.Fprintln(e.Stdout, "some values changed while they were re-sealed: run it again")
				}
				if len(r.Failed) > 0 {
					return fmt.Errorf("%d value(s) open with no key of the keyring (accounts %v): add the key that sealed them after the current one", len(r.Failed), r.Failed)
				}
				if len(r.DeliveryFailed) > 0 {
					return fmt.Errorf("%d delivery password(s) open with no key of the keyring (%v): add the key that sealed them after the current one", len(r.DeliveryFailed), r.DeliveryFailed)
				}
				return nil
			})
		},
	})
	return cmd
}
