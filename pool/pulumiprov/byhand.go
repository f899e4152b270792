package pulumiprov

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"

	"github.com/axiestudio/tenantpool/pool"
)

// The by-hand driver of tenant stacks (`poold tenant preview|refresh|up SLUG`): the operator runs
// the engine on one existing tenant's stack exactly as the daemon would (same stack, work
// directory, backend, secrets provider and spec: the account's row, its tier, its host and the
// provisioner's platform settings, suspended when the account is) and reads the engine's
// progress. None of them creates a stack: an account without one is an error wrapping
// pool.ErrNotFound. Secrets of the account and the passphrase are scrubbed from the progress
// (Pulumi already prints secret values as [secret]).

// Preview shows what an update of the account's stack would change; it changes no resource.
func (p *Provisioner) Preview(ctx context.Context, a pool.Account, out io.Writer) error {
	_, err := p.byHand(ctx, a, out, true)
	return err
}

// Up updates the account's stack with the spec the daemon would build for it (a suspended
// account stays suspended: the update keeps its container stopped) and returns the tenant's URL.
// It does not wait for the tenant to be healthy and never touches its logins. A retired account
// is refused: its tenant is being or has been torn down.
func (p *Provisioner) Up(ctx context.Context, a pool.Account, out io.Writer) (string, error) {
	if a.State == pool.StateRetired {
		return "", pool.Permanent(fmt.Errorf("up %s: the account is retired", a.Slug))
	}
	return p.byHand(ctx, a, out, false)
}

// Refresh brings the account's stack's state in line with what really runs (a removed
// container leaves the state). It does not run the program.
func (p *Provisioner) Refresh(ctx context.Context, a pool.Account, out io.Writer) error {
	defer p.lockSlug(a.Slug)()
	log := p.cfg.Log.With("account", a.Slug, "tier", a.Tier)
	sec := p.secrets(a)
	w := &scrubWriter{w: out, sec: sec}
	err := p.refresh(ctx, log, sec, a.Slug, w, nil)
	w.Flush()
	if err != nil {
		return fmt.Errorf("refresh %s: %w", a.Slug, err)
	}
	return nil
}

func (p *Provisioner) byHand(ctx context.Context, a pool.Account, out io.Writer, preview bool) (string, error) {
	verb := "up"
	if preview {
		verb = "preview"
	}
	t, err := p.cfg.Tiers.Get(a.Tier)
	if err != nil {
		return "", pool.Permanent(fmt.Errorf("%s %s: %w", verb, a.Slug, err))
	}
	defer p.lockSlug(a.Slug)()
	log := p.cfg.Log.With("account", a.Slug, "tier", t.Name)
	sec := p.secrets(a)
	w := &scrubWriter{w: out, sec: sec}
	url, _, err := p.up(ctx, log, sec, a, t, upMode{suspended: a.State == pool.StateSuspended, byHand: true, preview: preview, out: w})
	w.Flush()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", verb, a.Slug, err)
	}
	return url, nil
}

// secrets are the values scrubbed from everything the engine says about a.
func (p *Provisioner) secrets(a pool.Account) scrubber {
	return append(scrubber{a.OperatorPassword, a.OperatorBootstrap, a.SecretKey, a.CustomerPassword}, p.scrub...)
}

// preview runs the engine's preview of a selected stack whose program is set.
func (p *Provisioner) preview(ctx context.Context, log *slog.Logger, sec scrubber, st auto.Stack, out io.Writer) error {
	ev := watchEvents(ctx, log, sec)
	var stderr bytes.Buffer
	opts := []optpreview.Option{optpreview.EventStreams(ev.ch), optpreview.ErrorProgressStreams(&stderr)}
	if out != nil {
		opts = append(opts, optpreview.ProgressStreams(out))
	}
	_, err := st.Preview(ctx, opts...)
	diag := ev.stop()
	if err != nil {
		if ctx.Err() != nil {
			p.cancel(ctx, log, st)
		}
		return classify(ctx, op{name: "preview", stack: st.Name(), err: err, diagnostics: diag, stderr: sec.scrub(stderr.String()), home: p.home})
	}
	return nil
}

// noStack is the error for a tenant without a stack; it removes the work directory that
// workspaceOptions made for nothing.
func (p *Provisioner) noStack(slug string) error {
	_ = os.RemoveAll(p.workDir(slug))
	return fmt.Errorf("stack %s does not exist (never provisioned, or destroyed): %w", StackName(slug), pool.ErrNotFound)
}

// scrubWriter writes whole lines to w with secrets scrubbed; Flush writes what is left. A nil w
// discards.
type scrubWriter struct {
	w   io.Writer
	sec scrubber

	mu  sync.Mutex
	buf []byte
}

func (s *scrubWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return len(b), nil
	}
	s.buf = append(s.buf, b...)
	if i := bytes.LastIndexByte(s.buf, '\n'); i >= 0 {
		if _, err := io.WriteString(s.w, s.sec.scrub(string(s.buf[:i+1]))); err != nil {
			return 0, err
		}
		s.buf = append(s.buf[:0], s.buf[i+1:]...)
	}
	return len(b), nil
}

// Flush writes the last, unterminated line.
func (s *scrubWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil && len(s.buf) > 0 {
		_, _ = io.WriteString(s.w, s.sec.scrub(string(s.buf)))
		s.buf = s.buf[:0]
	}
}
