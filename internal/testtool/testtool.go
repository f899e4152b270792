// Package testtool finds the tools the tests run beside the project (Mailpit, stripe-mock),
// which the Makefile builds from the Go module proxy into $HOME/.cache/tenantpool/<name>-<version>/.
package testtool

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Find returns the tool's path: the one the environment variable envVar names (or "" when that
// is not an executable file), else the newest $HOME/.cache/tenantpool/<name>-*/<name>, else "".
func Find(envVar, name string) string {
	if p := os.Getenv(envVar); p != "" {
		if executable(p) {
			return p
		}
		return ""
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	matches, _ := filepath.Glob(filepath.Join(home, ".cache", "tenantpool", name+"-*", name))
	slices.Sort(matches)
	for i := len(matches) - 1; i >= 0; i-- {
		if executable(matches[i]) {
			return matches[i]
		}
	}
	return ""
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// SyncBuffer collects the output of a process or of a daemon's goroutines; safe for concurrent
// use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
