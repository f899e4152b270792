package cli

import (
	"errors"
	"strings"
	"testing"
)

// Only an explicit yes goes on; no answer (no terminal, EOF) is a no.
func TestConfirm(t *testing.T) {
	for in, ok := range map[string]bool{"yes\n": true, "y\n": true, " YES \n": true, "yes": true,
		"no\n": false, "\n": false, "": false, "yep\n": false} {
		var out strings.Builder
		err := confirm(strings.NewReader(in), &out, "Update stack dev?")
		if ok != (err == nil) || (!ok && !errors.Is(err, errNotConfirmed)) {
			t.Errorf("answer %q: %v", in, err)
		}
		if !strings.HasPrefix(out.String(), "Update stack dev? [yes/no] ") {
			t.Errorf("prompt %q", out.String())
		}
	}
}
