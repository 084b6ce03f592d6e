package breaker

import (
	"time"

	"github.com/sony/gobreaker/v2"
)

// engine is one gobreaker instance and its current window. Reset replaces
// the whole engine; outcomes of calls admitted by an old engine go to it and
// are lost with it.
type engine struct {
	b   *Breaker
	cb  *gobreaker.TwoStepCircuitBreaker[any]
	win atomicWindow

	// last is the outcome gobreaker is recording. Written by IsSuccessful,
	// read by ReadyToTrip and OnStateChange: all three run under
	// gobreaker's mutex within one afterRequest.
	last error
}

func newEngine(b *Breaker, now time.Time) *engine {
	e := &engine{b: b}
	e.win.Store(e.newWindow(StateClosed, now, ""))
	e.cb = gobreaker.NewTwoStepCircuitBreaker[any](gobreaker.Settings{
		Name:        b.name,
		MaxRequests: b.cfg.HalfOpenMaxRequests,
		// Interval stays 0: gobreaker never clears its closed-state
		// Counts, and nothing reads them; the Breaker's own windows
		// do the counting, see roll.
		Timeout:       b.cfg.OpenTimeout,
		ReadyToTrip:   e.readyToTrip,
		OnStateChange: e.onStateChange,
		IsSuccessful:  e.isSuccessful,
		IsExcluded:    isExcludedOutcome,
	})
	return e
}

func (e *engine) newWindow(s State, now time.Time, reason string) *window {
	w := &window{state: s, reason: reason}
	switch s {
	case StateClosed:
		w.expiry = now.Add(e.b.cfg.Interval)
	case StateOpen:
		w.retryAt = now.Add(e.b.cfg.OpenTimeout)
	}
	return w
}

// roll replaces the closed window w, whose Interval ended, with a fresh one
// and returns the window now current. Lock-free: if another goroutine
// replaced w first (a roll or a state change), its window wins.
func (e *engine) roll(w *window, now time.Time) *window {
	nw := e.newWindow(StateClosed, now, "")
	if e.win.CompareAndSwap(w, nw) {
		return nw
	}
	return e.win.Load()
}

func isExcludedOutcome(err error) bool { return err == errExclude }

// isSuccessful runs under gobreaker's lock for every outcome it records.
func (e *engine) isSuccessful(err error) bool {
	e.last = err
	return err == nil
}

// readyToTrip runs under gobreaker's lock right after isSuccessful returned
// false in the closed state. The decision was made in done.
func (e *engine) readyToTrip(gobreaker.Counts) bool {
	_, trip := e.last.(*tripError)
	return trip
}

// onStateChange runs under gobreaker's lock: it must not call into
// gobreaker, so it only swaps the window and queues the event.
func (e *engine) onStateChange(_ string, from, to gobreaker.State) {
	b := e.b
	if b.eng.Load() != e {
		return // replaced by Reset
	}
	now := time.Now()
	ev := event{
		from:   fromGobreaker(from),
		to:     fromGobreaker(to),
		counts: e.win.Load().counts(),
		mode:   b.Mode(),
	}
	if te, ok := e.last.(*tripError); ok && to == gobreaker.StateOpen {
		ev.counts, ev.reason, ev.origin = te.counts, te.reason, te.origin
	}
	e.last = nil
	e.win.Store(e.newWindow(ev.to, now, ev.reason))
	b.record(ev, now)
}
