package pulumiprov

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/axiestudio/tenantpool/infra/tenant"
	"github.com/axiestudio/tenantpool/pool"
)

// Error kinds, tested with errors.Is.
var (
	// ErrMissingCLI: the pulumi binary is not there or does not run. Permanent.
	ErrMissingCLI = errors.New("pulumi CLI missing: build it with `make pulumi` (Pulumi v3.274.1) and pass its path (--pulumi-cli / TENANTPOOL_PULUMI)")
	// ErrMissingPlugin: a provider plugin the program needs is not installed and could not be
	// downloaded. Permanent; the message names the plugin and the install command.
	ErrMissingPlugin = errors.New("pulumi provider plugin missing")
	// ErrConcurrentUpdate: another update holds the stack's lock. Retryable.
	ErrConcurrentUpdate = errors.New("another pulumi update holds the stack")
	// ErrProgram: the tenant program failed (invalid spec, a resource the provider refused).
	// Permanent.
	ErrProgram = errors.New("tenant program failed")
)

// op is one engine operation's outcome, as classify needs it.
type op struct {
	name        string // "up", "destroy", "select stack", …
	stack       string
	err         error  // the SDK's error, unwrapped
	diagnostics string // error diagnostics from the engine events, scrubbed
	stderr      string // captured stderr, scrubbed
	home        string // PULUMI_HOME, for the plugin install hint
}

// pluginRE finds the plugin in the engine's "no resource plugin 'pulumi-resource-docker' found
// in the workspace at version v4.10.0 …".
var pluginRE = regexp.MustCompile(`resource plugin '(?:pulumi-resource-)?([A-Za-z0-9_-]+)'(?:[^\n']*?version v?([0-9][0-9A-Za-z.+-]*[0-9A-Za-z]))?`)

// classify turns an engine error into the provisioner's error, checking the SDK's predicates on
// the unwrapped error first.
func classify(ctx context.Context, o op) error {
	if o.err == nil {
		return nil
	}
	text := o.diagnostics
	if text == "" {
		text = firstErrorLines(o.stderr)
	}
	switch {
	case errors.Is(o.err, ErrMissingCLI):
		return pool.Permanent(fmt.Errorf("%s %s: %w", o.name, o.stack, o.err))
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s interrupted: %w", o.name, o.stack, ctx.Err())
	case auto.IsConcurrentUpdateError(o.err):
		return fmt.Errorf("%s %s: %w", o.name, o.stack, ErrConcurrentUpdate)
	case missingPlugin(o.stderr + "\n" + o.diagnostics):
		return pool.Permanent(fmt.Errorf("%s %s: %w: %s; %s", o.name, o.stack, ErrMissingPlugin, text, pluginHint(o.stderr+"\n"+o.diagnostics, o.home)))
	case strings.Contains(o.diagnostics+o.stderr, tenant.ErrInvalidSpec.Error()):
		return pool.Permanent(fmt.Errorf("%s %s: %w: %s", o.name, o.stack, ErrProgram, text))
	case auto.IsCompilationError(o.err), auto.IsRuntimeError(o.err), programFailed(o.diagnostics):
		return pool.Permanent(fmt.Errorf("%s %s: %w: %s", o.name, o.stack, ErrProgram, text))
	}
	if text == "" {
		text = "exit status unknown"
	}
	return fmt.Errorf("%s %s: %s", o.name, o.stack, text)
}

func missingPlugin(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "no resource plugin") ||
		(strings.Contains(l, "plugin") && (strings.Contains(l, "failed to download") ||
			strings.Contains(l, "could not find") || strings.Contains(l, "not found in the workspace") ||
			strings.Contains(l, "disable_automatic_plugin_acquisition")))
}

// pluginHint names the install command for the plugin the text mentions.
func pluginHint(s, home string) string {
	name, version := "<name>", "<version>"
	if m := pluginRE.FindStringSubmatch(s); m != nil {
		name = m[1]
		if m[2] != "" {
			version = "v" + m[2]
		}
	}
	return fmt.Sprintf("install it with: PULUMI_HOME=%s pulumi plugin install resource %s %s (or allow plugin downloads)", home, name, version)
}

// programFailed reports whether the engine's error diagnostics say the program (not the engine)
// failed.
func programFailed(diag string) bool {
	return strings.Contains(diag, "an unhandled error occurred") || strings.Contains(diag, "go inline source runtime error") ||
		strings.Contains(diag, "error: update failed") && strings.Contains(diag, "program failed")
}

// firstErrorLines keeps the "error:" lines of CLI output (the reason), at most 2000 bytes.
func firstErrorLines(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "error:") {
			keep = append(keep, strings.TrimSpace(strings.TrimPrefix(line, "error:")))
		}
	}
	out := strings.Join(keep, "; ")
	if out == "" {
		out = strings.TrimSpace(s)
	}
	if len(out) > 2000 {
		out = out[:2000] + "…"
	}
	return out
}

// scrubber removes secret values from engine text.
type scrubber []string

func (s scrubber) scrub(text string) string {
	for _, v := range s {
		if len(v) >= 4 {
			text = strings.ReplaceAll(text, v, "[secret]")
		}
	}
	return text
}
