package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// newEdgeACMEStorage is `poold edge acme-storage`: in ACME mode the platform runs it once, as
// root with CAP_CHOWN only, before Traefik starts, so that Traefik can run as nobody and still
// write its certificates into the volume the engine created owned by root.
func newEdgeACMEStorage() *cobra.Command {
	var dir, owner string
	cmd := &cobra.Command{
		Use:   "acme-storage --dir DIR --owner UID:GID",
		Short: "Hand the edge's ACME storage (DIR and DIR/acme.json) to the user Traefik runs as",
		Long: `Makes DIR (mode 0700) and DIR/acme.json (created empty if missing, mode 0600, as Traefik
requires) owned by UID:GID. Idempotent; a symbolic link or anything but a regular file at
DIR/acme.json is refused. Needs CAP_CHOWN (the platform runs it as root with that capability only).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			uid, gid, err := parseOwner(owner)
			if err != nil {
				return fmt.Errorf("--owner: %w", err)
			}
			if !filepath.IsAbs(dir) {
				return fmt.Errorf("--dir %q: must be an absolute path", dir)
			}
			if err := prepareACMEStorage(dir, uid, gid); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s and %s owned by %d:%d\n", dir, filepath.Join(dir, "acme.json"), uid, gid)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "/acme", "the ACME storage directory (the mounted volume)")
	cmd.Flags().StringVar(&owner, "owner", "65534:65534", "numeric UID:GID Traefik runs as")
	return cmd
}

func parseOwner(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not UID:GID", s)
	}
	if uid, err = strconv.Atoi(u); err != nil || uid < 1 || uid > 1<<31-2 {
		return 0, 0, fmt.Errorf("%q: UID must be a number from 1 (not root)", s)
	}
	if gid, err = strconv.Atoi(g); err != nil || gid < 1 || gid > 1<<31-2 {
		return 0, 0, fmt.Errorf("%q: GID must be a number from 1 (not root)", s)
	}
	return uid, gid, nil
}

func prepareACMEStorage(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if st, err := os.Lstat(dir); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	file := filepath.Join(dir, "acme.json")
	st, err := os.Lstat(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s): refusing to hand it over", file, st.Mode().Type())
	}
	if err := os.Lchown(file, uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", file, err)
	}
	return os.Chmod(file, 0o600)
}
