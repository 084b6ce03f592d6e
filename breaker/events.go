package breaker

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// event is one state change waiting to be logged and handed to the hook.
type event struct {
	from, to State
	counts   Counts // of the window that just ended
	reason   string // why it opened
	mode     Mode
	prevMode Mode   // cause "mode": the mode before
	cause    string // "" (counts), "mode" (SetMode) or "reset" (Reset)
	origin   string // the fleet instance whose change this mirrors; "" for our own
	at       time.Time
}

// eventQueue carries state changes out of gobreaker's lock. enqueue may run
// under that lock; deliver never runs under any.
type eventQueue struct {
	pending    atomic.Bool // list may be non-empty
	delivering atomic.Bool // one goroutine is delivering
	mu         sync.Mutex
	list       []event
}

func (b *Breaker) enqueue(ev event) {
	b.q.mu.Lock()
	b.q.list = append(b.q.list, ev)
	b.q.pending.Store(true)
	b.q.mu.Unlock()
}

// flush delivers queued events, if any. One atomic load when there are none.
func (b *Breaker) flush() {
	if b.q.pending.Load() {
		b.deliver()
	}
}

// deliver emits queued events in order. If another goroutine is already
// delivering, it returns: that goroutine picks the events up.
func (b *Breaker) deliver() {
	for b.q.pending.Load() {
		if !b.q.delivering.CompareAndSwap(false, true) {
			return
		}
		b.drain()
	}
}

func (b *Breaker) drain() {
	defer b.q.delivering.Store(false) // a panicking hook must not stop delivery for good
	for {
		b.q.mu.Lock()
		list := b.q.list
		b.q.list = nil
		b.q.pending.Store(false)
		b.q.mu.Unlock()
		if len(list) == 0 {
			return
		}
		for _, ev := range list {
			b.emit(ev)
		}
	}
}

// emit writes one log line and calls the hook.
func (b *Breaker) emit(ev event) {
	fields := make([]zap.Field, 0, 8)
	fields = append(fields,
		zap.String("source", b.name),
		zap.Stringer("from", ev.from),
		zap.Stringer("to", ev.to),
		zap.Object("counts", ev.counts),
	)
	if ev.reason != "" {
		fields = append(fields, zap.String("reason", ev.reason))
	}
	if ev.origin != "" {
		fields = append(fields, zap.String("origin", ev.origin))
	}
	if ev.to == StateOpen {
		fields = append(fields, zap.Duration("retry_in", b.cfg.OpenTimeout))
	}
	switch {
	case ev.cause == "mode":
		fields = append(fields, zap.Stringer("from_mode", ev.prevMode), zap.Stringer("to_mode", ev.mode))
	case ev.mode != ModeNormal:
		fields = append(fields, zap.Stringer("mode", ev.mode))
	}
	msg := eventMessage(ev)
	if ev.to == StateOpen || ev.to == StateForcedOpen {
		b.logger.Warn(msg, fields...)
	} else {
		b.logger.Info(msg, fields...)
	}
	b.report(ev)
	if b.hook != nil {
		b.hook(b.name, ev.from, ev.to, ev.counts)
	}
}

func eventMessage(ev event) string {
	switch {
	case ev.cause == "reset":
		return "circuit breaker reset"
	case ev.cause == "mode":
		return "circuit breaker mode changed"
	case ev.origin != "" && ev.to == StateOpen:
		return "circuit breaker opened by another instance"
	case ev.origin != "" && ev.to == StateClosed:
		return "circuit breaker closed by another instance"
	case ev.mode == ModeMetricsOnly:
		return "circuit breaker would turn " + ev.to.String() + " (metrics-only mode)"
	case ev.to == StateOpen:
		return "circuit breaker opened"
	case ev.to == StateHalfOpen:
		return "circuit breaker half-open"
	}
	return "circuit breaker closed"
}

// record counts the change and queues it.
func (b *Breaker) record(ev event, at time.Time) {
	b.transitions.Add(1)
	b.since.Store(at.UnixNano())
	ev.at = at
	b.enqueue(ev)
}
