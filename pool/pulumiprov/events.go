package pulumiprov

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
)

// eventWatch drains one operation's engine events: every event goes to the log at debug level
// (kind, resource, operation; never outputs), error diagnostics are kept as the failure's reason.
type eventWatch struct {
	ch   chan events.EngineEvent
	quit chan struct{}
	done sync.WaitGroup
	errs []string
}

func watchEvents(ctx context.Context, log *slog.Logger, sec scrubber) *eventWatch {
	w := &eventWatch{ch: make(chan events.EngineEvent), quit: make(chan struct{})}
	debug := log.Enabled(ctx, slog.LevelDebug)
	w.done.Go(func() {
		for {
			var e events.EngineEvent
			var ok bool
			select {
			case e, ok = <-w.ch:
			case <-w.quit:
				return
			}
			if !ok {
				return
			}
			w.handle(ctx, log, debug, sec, e)
		}
	})
	return w
}

func (w *eventWatch) handle(ctx context.Context, log *slog.Logger, debug bool, sec scrubber, e events.EngineEvent) {
	if e.Error != nil {
		if debug {
			log.DebugContext(ctx, "engine event stream", "err", sec.scrub(e.Error.Error()))
		}
		return
	}
	switch {
	case e.DiagnosticEvent != nil:
		d := e.DiagnosticEvent
		msg := strings.TrimSpace(sec.scrub(d.Message))
		if d.Severity == "error" && msg != "" {
			w.errs = append(w.errs, msg)
		}
		if debug {
			log.DebugContext(ctx, "engine diagnostic", "severity", d.Severity, "urn", d.URN, "msg", msg)
		}
	case !debug:
	case e.ResourcePreEvent != nil:
		log.DebugContext(ctx, "engine resource", "op", e.ResourcePreEvent.Metadata.Op, "urn", e.ResourcePreEvent.Metadata.URN)
	case e.ResOutputsEvent != nil:
		log.DebugContext(ctx, "engine resource done", "op", e.ResOutputsEvent.Metadata.Op, "urn", e.ResOutputsEvent.Metadata.URN)
	case e.ResOpFailedEvent != nil:
		log.DebugContext(ctx, "engine resource failed", "op", e.ResOpFailedEvent.Metadata.Op, "urn", e.ResOpFailedEvent.Metadata.URN)
	case e.SummaryEvent != nil:
		log.DebugContext(ctx, "engine summary", "changes", e.SummaryEvent.ResourceChanges, "seconds", e.SummaryEvent.DurationSeconds)
	case e.PreludeEvent != nil:
		log.DebugContext(ctx, "engine start")
	case e.CancelEvent != nil:
		log.DebugContext(ctx, "engine cancelled")
	}
}

// stop ends the watch once the operation has returned (the SDK has then closed its event server,
// so nothing more is sent) and returns the error diagnostics, joined.
func (w *eventWatch) stop() string {
	close(w.quit)
	w.done.Wait()
	return strings.Join(w.errs, "; ")
}
