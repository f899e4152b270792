package pulumiprov

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"

	"github.com/axiestudio/tenantpool/infra/deploy"
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
	// ErrProgram: the tenant program failed (invalid spec, a program error). Permanent.
	ErrProgram = errors.New("tenant program failed")
	// ErrRefused: a provider refused a resource (the Docker Engine rejected a container, a
	// request needs a newer engine API, a name is taken): the same request fails the same way
	// every time. Permanent; the message is the provider's.
	ErrRefused = errors.New("the provider refused a resource")
	// ErrNotSold: a re-apply of an account that is no longer sold (suspended, retired): it
	// would start or resurrect its tenant. Permanent. The domain's sentinel, so the prober can
	// tell it from a failed re-apply.
	ErrNotSold = pool.ErrNotSold
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

// classify turns an engine error into the provisioner's error, checking the SDK's predicates on
// the unwrapped error first.
func classify(ctx context.Context, o op) error {
	if o.err == nil {
		return nil
	}
	text := o.diagnostics
	if text == "" {
		text = deploy.ErrorLines(o.stderr)
	}
	switch {
	case errors.Is(o.err, ErrMissingCLI):
		return pool.Permanent(fmt.Errorf("%s %s: %w", o.name, o.stack, o.err))
	case ctx.Err() != nil:
		return fmt.Errorf("%s %s interrupted: %w", o.name, o.stack, ctx.Err())
	case auto.IsConcurrentUpdateError(o.err):
		return fmt.Errorf("%s %s: %w", o.name, o.stack, ErrConcurrentUpdate)
	case deploy.MissingPlugin(o.stderr + "\n" + o.diagnostics):
		return pool.Permanent(fmt.Errorf("%s %s: %w: %s; %s", o.name, o.stack, ErrMissingPlugin, text, deploy.PluginInstallHint(o.stderr+"\n"+o.diagnostics, o.home)))
	case refused(o.diagnostics+"\n"+o.stderr) != "":
		return pool.Permanent(fmt.Errorf("%s %s: %w: %s", o.name, o.stack, ErrRefused, refused(o.diagnostics+"\n"+o.stderr)))
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

// refusalMarkers are how a provider's refusal of a resource reads: the Docker provider (a
// Terraform bridge) reports `sdk.helper_schema: Unable to create container: <the engine's
// answer>`; the engine answers `Error response from daemon: …` (a taken name, an invalid
// spec), and its client library `"<feature>" requires API version 1.44, but the Docker daemon
// API version is 1.41`.
var refusalMarkers = []string{"sdk.helper_schema:", "Error response from daemon", "requires API version", "Unable to create"}

// transientMarkers say that the provider could not reach what it manages (or was asked to come
// back later), whatever else the message says: such a failure is retried.
var transientMarkers = []string{
	"connection refused", "connection reset", "broken pipe", "i/o timeout", "timed out", "deadline exceeded",
	"timeout exceeded", "handshake timeout", "unexpected eof", "no such host", "network is unreachable",
	"temporary failure", "cannot connect to the docker daemon", "is the docker daemon running", "error during connect",
	"toomanyrequests", "too many requests", "service unavailable", "bad gateway", "gateway timeout",
}

var diagNoise = regexp.MustCompile(`^(?:error:\s*)?(?:sdk-v2/provider2\.go:\d+:\s*)?(?:sdk\.helper_schema:\s*)?|:\s*provider=[\w.-]+@[\w.+-]+\s*$`)

// refused returns the provider's message when text (engine diagnostics and stderr) says that a
// provider refused a resource, "" otherwise (also when the failure is a transient one).
func refused(text string) string {
	lower := strings.ToLower(text)
	for _, t := range transientMarkers {
		if strings.Contains(lower, t) {
			return ""
		}
	}
	for line := range strings.Lines(text) {
		for _, m := range refusalMarkers {
			if strings.Contains(line, m) {
				msg := strings.TrimSpace(diagNoise.ReplaceAllString(strings.TrimSpace(line), ""))
				if len(msg) > 1500 {
					msg = msg[:1500] + "…"
				}
				return msg
			}
		}
	}
	return ""
}

// programFailed reports whether the engine's error diagnostics say the program (not the engine)
// failed.
func programFailed(diag string) bool {
	return strings.Contains(diag, "an unhandled error occurred") || strings.Contains(diag, "go inline source runtime error") ||
		strings.Contains(diag, "error: update failed") && strings.Contains(diag, "program failed")
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
