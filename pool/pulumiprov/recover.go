package pulumiprov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"

	"github.com/axiestudio/tenantpool/infra/deploy"
	"github.com/axiestudio/tenantpool/infra/platform"
	"github.com/axiestudio/tenantpool/pool/dockerhost"
)

// Crash recovery. A daemon killed during an update leaves, in the order it matters:
//
//  1. plugin processes still running (the CLI itself dies with the daemon, see
//     runDyingWithParent), possibly still creating a container;
//  2. the stack's lock: every later update is refused as a concurrent one;
//  3. pending operations in the stack's state: a create the engine started and never saw
//     finish, whose resource may well exist;
//  4. that resource itself: a container carrying the tenant's labels that the stack does not
//     record, which holds the tenant's name (every retry fails with "Conflict. The container
//     name … is already in use") and its volume (the teardown cannot remove it).
//
// recoverStack mends all four before every update, refresh and destroy of a tenant stack, so
// the next attempt after a crash simply succeeds.

// DefaultStaleLockAfter is how old a stack lock must be to count as a dead update's whoever
// took it: no tenant update runs this long (provisioning and teardown attempts are bounded to
// 15 minutes).
const DefaultStaleLockAfter = time.Hour

// lockOwner is who holds a stack's lock, as the diy backends record it: a JSON file under
// .pulumi/locks/<org>/<project>/<stack>/ naming the CLI's pid, user, host and the time it
// locked.
type lockOwner struct {
	Pid       int       `json:"pid"`
	Username  string    `json:"username"`
	Hostname  string    `json:"hostname"`
	Timestamp time.Time `json:"timestamp"`

	file string // the lock file (file:// backends)
}

func (o lockOwner) String() string {
	return fmt.Sprintf("%s@%s (pid %d) since %s", o.Username, o.Hostname, o.Pid, o.Timestamp.Format(time.RFC3339))
}

// stale says whether the lock's update is certainly dead: its process on this host is gone, or
// it is older than after.
func (o lockOwner) stale(hostname string, now time.Time, after time.Duration) (bool, string) {
	if age := now.Sub(o.Timestamp); age > after {
		return true, fmt.Sprintf("taken %s ago, longer than any update runs (%s)", age.Round(time.Second), after)
	}
	if o.Hostname == hostname && !processAlive(o.Pid, o.Timestamp) {
		return true, fmt.Sprintf("its process %d on this host is gone", o.Pid)
	}
	return false, ""
}

// fileStateDir is the state directory of a file:// backend, "" for any other backend.
func fileStateDir(backend string) string {
	u, err := url.Parse(backend)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return ""
	}
	return filepath.FromSlash(u.Path)
}

// fileLocks reads the locks of a stack in a file:// backend (nil for other backends).
func (p *Provisioner) fileLocks(stack string) ([]lockOwner, error) {
	dir := fileStateDir(p.cfg.BackendURL)
	if dir == "" {
		return nil, nil
	}
	var files []string
	for _, pattern := range []string{
		filepath.Join(dir, ".pulumi", "locks", "*", p.cfg.Project, stack, "*.json"), // project layout
		filepath.Join(dir, ".pulumi", "locks", stack, "*.json"),                     // legacy layout
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	var out []lockOwner
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		var o lockOwner
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("lock %s: %w", f, err)
		}
		o.file = f
		out = append(out, o)
	}
	return out, nil
}

// lockLine is how the CLI names a lock holder when it refuses an update on any diy backend:
// "<url>: created by <user>@<host> (pid <pid>) at <RFC 3339 time>".
var lockLine = regexp.MustCompile(`created by (\S*)@(\S+) \(pid (\d+)\) at (\S+)`)

// lockOwnersFromMessage reads the lock holders out of a concurrent-update error of a diy
// backend whose lock files cannot be read directly (S3, GCS, Azure Blob, PostgreSQL).
func lockOwnersFromMessage(text string) []lockOwner {
	var out []lockOwner
	for _, m := range lockLine.FindAllStringSubmatch(text, -1) {
		pid, _ := strconv.Atoi(m[3])
		at, err := time.Parse(time.RFC3339, m[4])
		if err != nil {
			continue
		}
		out = append(out, lockOwner{Username: m[1], Hostname: m[2], Pid: pid, Timestamp: at})
	}
	return out
}

// deadLocks splits owners into the stale ones (with why) and reports whether every one is.
func (p *Provisioner) deadLocks(owners []lockOwner) (why []string, allStale bool) {
	hostname, _ := os.Hostname()
	now := time.Now()
	for _, o := range owners {
		ok, reason := o.stale(hostname, now, p.cfg.StaleLockAfter)
		if !ok {
			return nil, false
		}
		why = append(why, o.String()+": "+reason)
	}
	return why, len(owners) > 0
}

// sweep ends the Pulumi processes of dead owners of this data directory (a killed daemon's
// plugins), logging each.
func (p *Provisioner) sweep(log *slog.Logger) {
	killed, err := sweepOrphans(p.home)
	for _, o := range killed {
		log.Warn("killed a Pulumi process left running by a dead daemon", "pid", o.pid, "cmd", o.cmd)
	}
	if err != nil {
		log.Warn("orphaned Pulumi processes", "err", err)
	}
}

// stackState is what recovery needs of a stack's state.
type stackState struct {
	ids     map[string]bool // the ID of every resource the stack records
	pending []string        // pending operations: "<op> <type> <urn>"
}

func (p *Provisioner) readState(ctx context.Context, st auto.Stack) (stackState, error) {
	dep, err := st.Export(ctx)
	if err != nil {
		return stackState{}, err
	}
	var d struct {
		Resources []struct {
			ID string `json:"id"`
		} `json:"resources"`
		Pending []struct {
			Resource struct {
				URN  string `json:"urn"`
				Type string `json:"type"`
			} `json:"resource"`
			Type string `json:"type"`
		} `json:"pending_operations"`
	}
	if len(dep.Deployment) > 0 {
		if err := json.Unmarshal(dep.Deployment, &d); err != nil {
			return stackState{}, fmt.Errorf("stack %s: state: %w", st.Name(), err)
		}
	}
	s := stackState{ids: map[string]bool{}}
	for _, r := range d.Resources {
		if r.ID != "" {
			s.ids[r.ID] = true
		}
	}
	for _, op := range d.Pending {
		s.pending = append(s.pending, op.Type+" "+op.Resource.Type+" "+op.Resource.URN)
	}
	return s, nil
}

// recoverStack makes a stack that a killed update left behind usable (see the top of this
// file): it removes the locks of dead updates (after ending their orphaned plugins), refreshes
// the state with pending creates cleared, and removes the tenant's containers on host that the
// stack does not record. host is nil when it is not known (no Docker cleanup then). A lock held
// by a live update is ErrConcurrentUpdate. The caller holds the slug's lock and an engine slot.
func (p *Provisioner) recoverStack(ctx context.Context, log *slog.Logger, sec scrubber, st auto.Stack, slug string, host *platform.Host) error {
	name := st.Name()
	owners, err := p.fileLocks(name)
	if err != nil {
		return fmt.Errorf("stack %s: locks: %w", name, err)
	}
	if len(owners) > 0 {
		why, dead := p.deadLocks(owners)
		if !dead {
			return fmt.Errorf("stack %s: %w: locked by %s", name, ErrConcurrentUpdate, owners[0])
		}
		p.sweep(log) // a dead update's plugin may still be creating
		for i, o := range owners {
			// What `pulumi cancel` does on a diy backend (delete the lock blob, and the file
			// blob store's attributes beside it), for the dead update's lock only.
			for _, f := range []string{o.file, o.file + ".attrs"} {
				if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("stack %s: remove stale lock: %w", name, err)
				}
			}
			log.Warn("removed the stack lock of a dead update", "stack", name, "lock", why[i])
		}
	}
	state, err := p.readState(ctx, st)
	if err != nil {
		return classify(ctx, op{name: "export", stack: name, err: err, stderr: sec.scrub(err.Error()), home: p.home})
	}
	if len(state.pending) > 0 {
		log.Warn("the stack has operations an interrupted update left pending: refreshing with pending creates cleared",
			"stack", name, "pending", state.pending)
		if err := p.clearPending(ctx, log, sec, st); err != nil {
			return err
		}
	}
	if host != nil && p.cfg.Docker != nil {
		if err := p.removeUnrecorded(ctx, log, *host, slug, state.ids); err != nil {
			return err
		}
	}
	return nil
}

// clearPending refreshes the stack with its pending creates dropped (`pulumi refresh
// --clear-pending-creates`): the engine no longer waits on them, and what they created, if
// anything, is an unrecorded resource that removeUnrecorded finds.
func (p *Provisioner) clearPending(ctx context.Context, log *slog.Logger, sec scrubber, st auto.Stack) error {
	ev := watchEvents(ctx, log, sec)
	var stderr strings.Builder
	_, err := st.Refresh(ctx, optrefresh.ClearPendingCreates(), optrefresh.RunProgram(false), optrefresh.EventStreams(ev.ch),
		optrefresh.ErrorProgressStreams(&stderr), optrefresh.SuppressProgress())
	diag := ev.stop()
	if err != nil {
		if ctx.Err() != nil {
			p.cancel(ctx, log, st)
		}
		return classify(ctx, op{name: "refresh --clear-pending-creates", stack: st.Name(), err: err, diagnostics: diag, stderr: sec.scrub(stderr.String()), home: p.home})
	}
	return nil
}

// removeUnrecorded removes the containers on host that carry the tenant's labels but that the
// stack does not record: a killed update's creates. Volumes stay: the engine hands an existing
// volume back to a create of the same name, so the retry adopts it.
func (p *Provisioner) removeUnrecorded(ctx context.Context, log *slog.Logger, host platform.Host, slug string, recorded map[string]bool) error {
	c, err := p.docker(host)
	if err != nil {
		return err
	}
	cs, err := c.Containers(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		return fmt.Errorf("host %s: %w", host.Name, err)
	}
	for _, ct := range cs {
		if recorded[ct.ID] {
			continue
		}
		if err := c.RemoveContainer(ctx, ct.ID); err != nil {
			return fmt.Errorf("host %s: remove unrecorded container %s: %w", host.Name, ct.Name, err)
		}
		log.Warn("removed a container of the tenant that its stack does not record (an interrupted update's)",
			"host", host.Name, "container", ct.Name, "id", ct.ID[:min(12, len(ct.ID))], "state", ct.State)
	}
	return nil
}

// removeTenant removes every container, then every volume, that carries the tenant's labels on
// host (what a destroyed stack may have left). It reports what it found.
func (p *Provisioner) removeTenant(ctx context.Context, log *slog.Logger, host platform.Host, slug string) (containers, volumes int, err error) {
	c, err := p.docker(host)
	if err != nil {
		return 0, 0, err
	}
	cs, err := c.Containers(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		return 0, 0, fmt.Errorf("host %s: %w", host.Name, err)
	}
	for _, ct := range cs {
		if err := c.RemoveContainer(ctx, ct.ID); err != nil {
			return len(cs), 0, fmt.Errorf("host %s: remove container %s: %w", host.Name, ct.Name, err)
		}
		log.Warn("removed a container of the tenant its stack did not remove", "host", host.Name, "container", ct.Name)
	}
	vs, err := c.Volumes(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		return len(cs), 0, fmt.Errorf("host %s: %w", host.Name, err)
	}
	for _, v := range vs {
		if err := c.RemoveVolume(ctx, v.Name); err != nil {
			return len(cs), len(vs), fmt.Errorf("host %s: remove volume %s: %w", host.Name, v.Name, err)
		}
		log.Warn("removed a volume of the tenant its stack did not remove", "host", host.Name, "volume", v.Name)
	}
	return len(cs), len(vs), nil
}

// tenantLeft counts what carries the tenant's labels on host.
func (p *Provisioner) tenantLeft(ctx context.Context, host platform.Host, slug string) (containers, volumes int, err error) {
	c, err := p.docker(host)
	if err != nil {
		return 0, 0, err
	}
	cs, err := c.Containers(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		return 0, 0, fmt.Errorf("host %s: %w", host.Name, err)
	}
	vs, err := c.Volumes(ctx, dockerhost.TenantLabels(slug)...)
	if err != nil {
		return 0, 0, fmt.Errorf("host %s: %w", host.Name, err)
	}
	return len(cs), len(vs), nil
}

// docker returns the (cached) client of host's engine.
func (p *Provisioner) docker(host platform.Host) (*dockerhost.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.dockers[host.DockerURL]; ok {
		return c, nil
	}
	c, err := p.cfg.Docker(host.DockerURL)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", host.Name, err)
	}
	p.dockers[host.DockerURL] = c
	return c, nil
}

// hostNamed finds a host by name among the current hosts; nil when there is none.
func hostNamed(hosts []platform.Host, name string) *platform.Host {
	if i := slices.IndexFunc(hosts, func(h platform.Host) bool { return h.Name == name }); i >= 0 && name != "" {
		return &hosts[i]
	}
	return nil
}

// staleByMessage handles a concurrent-update refusal on a diy backend whose locks cannot be read
// as files: when every holder the CLI names is dead, it cancels the stack (`pulumi cancel`
// removes its locks) so that the next attempt recovers and runs. It reports whether it did.
func (p *Provisioner) staleByMessage(ctx context.Context, log *slog.Logger, st auto.Stack, err error) bool {
	if fileStateDir(p.cfg.BackendURL) != "" || !auto.IsConcurrentUpdateError(err) {
		return false
	}
	why, dead := p.deadLocks(lockOwnersFromMessage(err.Error()))
	if !dead {
		return false
	}
	p.sweep(log)
	cctx, done := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer done()
	if cerr := st.Cancel(cctx); cerr != nil {
		log.Warn("stack cancel of a dead update's lock failed", "stack", st.Name(), "err", deploy.ErrorLines(p.scrub.scrub(cerr.Error())))
		return false
	}
	log.Warn("cancelled the stack lock of a dead update; the next attempt recovers the stack", "stack", st.Name(), "lock", why)
	return true
}
