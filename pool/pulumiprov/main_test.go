package pulumiprov_test

import (
	"os"
	"testing"
)

// TestMain removes what the tests built once for the whole binary (the test plugin).
func TestMain(m *testing.M) {
	code := m.Run()
	if pluginBuilt.Load() { // never build it here
		if dir, err := buildPlugin(); err == nil {
			_ = os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}
