package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// Error kinds, tested with errors.Is.
var (
	// ErrUnknownStack: the project has no stack file for the stack (Pulumi.<stack>.yaml in its
	// stackConfigDir).
	ErrUnknownStack = errors.New("unknown stack")
	// ErrNoStack: the stack does not exist in the backend yet (refresh and destroy never create
	// one).
	ErrNoStack = errors.New("stack does not exist in the backend")
	// ErrMissingPlugin: a provider plugin the program needs is not installed and could not be
	// downloaded. The message names the plugin and the command that installs it.
	ErrMissingPlugin = errors.New("pulumi provider plugin missing")
	// ErrConcurrentUpdate: another update holds the stack's lock.
	ErrConcurrentUpdate = errors.New("another pulumi update holds the stack")
)

// pluginRE finds the plugin in the engine's "no resource plugin 'pulumi-resource-docker' found
// in the workspace at version v4.10.0 …".
var pluginRE = regexp.MustCompile(`resource plugin '(?:pulumi-resource-)?([A-Za-z0-9_-]+)'(?:[^\n']*?version v?([0-9][0-9A-Za-z.+-]*[0-9A-Za-z]))?`)

// MissingPlugin reports whether engine output says that a plugin is missing (not installed, and
// not downloaded: downloads are off or failed).
func MissingPlugin(text string) bool {
	l := strings.ToLower(text)
	return strings.Contains(l, "no resource plugin") ||
		(strings.Contains(l, "plugin") && (strings.Contains(l, "failed to download") ||
			strings.Contains(l, "could not find") || strings.Contains(l, "not found in the workspace") ||
			strings.Contains(l, "disable_automatic_plugin_acquisition")))
}

// PluginInstallHint names the command that installs the plugin the engine output mentions into
// the PULUMI_HOME home ("" leaves PULUMI_HOME out).
func PluginInstallHint(text, home string) string {
	name, version := "<name>", "<version>"
	if m := pluginRE.FindStringSubmatch(text); m != nil {
		name = m[1]
		if m[2] != "" {
			version = "v" + m[2]
		}
	}
	env := ""
	if home != "" {
		env = "PULUMI_HOME=" + home + " "
	}
	return fmt.Sprintf("install it with: %spulumi plugin install resource %s %s (or allow plugin downloads)", env, name, version)
}

// ErrorLines keeps the "error:" lines of CLI output (the reason), joined, at most 2000 bytes;
// output without such a line is returned trimmed. It also reads the text of an Automation API
// error, whose lines carry "stdout: " and "stderr: " prefixes.
func ErrorLines(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(strings.TrimPrefix(line, "stderr: "), "stdout: ")
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

// classify turns an engine error of operation name on stack into the driver's error, checking
// the SDK's predicates on the unwrapped error first (they match by type). stderr is what the CLI
// wrote to its standard error; home is PULUMI_HOME for the plugin hint.
func classify(ctx context.Context, name, stack string, err error, stderr, home string) error {
	if err == nil {
		return nil
	}
	all := err.Error() // the SDK's error carries the CLI's stdout and stderr
	reason := ErrorLines(stderr)
	if reason == "" {
		reason = ErrorLines(all)
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s interrupted: %w", name, stack, ctx.Err())
	case auto.IsConcurrentUpdateError(err):
		return fmt.Errorf("%s %s: %w: %s", name, stack, ErrConcurrentUpdate, reason)
	case MissingPlugin(all):
		return fmt.Errorf("%s %s: %w: %s; %s", name, stack, ErrMissingPlugin, reason, PluginInstallHint(all, home))
	}
	return fmt.Errorf("%s %s: %s", name, stack, reason)
}
