package breaker

import (
	"sync/atomic"
	"time"
)

// Shared makes the Breakers of one source in many processes act as one
// breaker: when one opens, the others open too, and only one of them at a
// time sends the half-open probe. Pass it to New or NewSet with WithShared.
// Package breaker/redisshare implements it on Redis; nothing here does I/O.
//
// The contract between a Breaker and its Shared:
//
//   - New calls Attach once, after the Breaker is ready for use. The
//     SharedLink it returns is the Breaker's line to the fleet; a nil link
//     leaves the Breaker on its own.
//   - The Breaker tells the link of every state change it makes by its own
//     counts and timers in ModeNormal (SharedLink.Report). Changes made by
//     SetMode, Reset, OpenedElsewhere and ClosedElsewhere are not reported:
//     they are this instance's own business, or came from the fleet.
//   - Before a half-open probe, and only then, the Breaker asks the link
//     whether this instance may send it (SharedLink.ProbeAllowed). The
//     closed state never consults the link: the hot path stays as it is.
//   - The implementation applies what other instances did with
//     Breaker.OpenedElsewhere and Breaker.ClosedElsewhere, from its own
//     goroutines.
//
// A Shared that cannot reach its store must let each Breaker work on its
// own: ProbeAllowed returns true and Report drops what it cannot send.
type Shared interface {
	// Attach links b to the fleet and returns the link, or nil to leave b
	// on its own (for instance when the Shared is closed, or b is nil). It
	// is called once per Breaker, from New, possibly under the lock of a
	// Set: it may read b.Name and b.Config, but must not change b's state
	// or block on I/O; whatever it learns of the fleet it applies later,
	// from its own goroutines.
	Attach(b *Breaker) SharedLink
}

// SharedLink is one Breaker's line to its Shared. Both methods run on a
// statement's path and must return at once: no I/O, no waiting on a lock
// held across I/O.
type SharedLink interface {
	// Report is told of a state change the Breaker made by its own counts
	// or timers (not by SetMode, Reset or the fleet), after it was logged,
	// in order, one at a time per Breaker.
	Report(t Transition)
	// ProbeAllowed reports whether this instance may send the half-open
	// probes now. Allow calls it only when the Breaker is due to probe
	// (open past its OpenTimeout, or half-open); when it returns false the
	// statement is rejected and the implementation should fetch the right
	// to probe in the background, so that a later Allow finds it.
	ProbeAllowed() bool
}

// Transition is a state change a Breaker made on its own, as handed to
// SharedLink.Report.
type Transition struct {
	// Source is the Breaker's name.
	Source string
	// From and To are the states before and after.
	From, To State
	// Reason says why it opened; "" unless To is StateOpen.
	Reason string
	// Counts are the counts of the window that just ended.
	Counts Counts
	// At is when the change happened.
	At time.Time
}

// WithShared links every Breaker New or NewSet creates to s, so that a
// fleet of processes shares one breaker per source (see Shared). A nil s
// means no sharing (the default). A nil pointer of a type implementing
// Shared is passed on as it is: its Attach must return nil, as
// redisshare's does.
func WithShared(s Shared) Option {
	return optionFunc(func(o *options) { o.shared = s })
}

// sharedBox holds a SharedLink behind an atomic pointer: New stores it
// after Attach returned, while the Shared's goroutines may already call the
// Breaker.
type sharedBox struct{ link SharedLink }

// sharedFields is the part of Breaker that sharing adds.
type sharedFields struct {
	shared atomic.Pointer[sharedBox]
}

// attach links b to s, if any.
func (b *Breaker) attach(s Shared) {
	if s == nil {
		return
	}
	if l := s.Attach(b); l != nil {
		b.shared.Store(&sharedBox{link: l})
	}
}

// sharedLink returns b's link, or nil when b is not shared.
func (b *Breaker) sharedLink() SharedLink {
	if sb := b.shared.Load(); sb != nil {
		return sb.link
	}
	return nil
}

// Shared reports whether b is linked to a fleet through WithShared.
func (b *Breaker) Shared() bool { return b != nil && b.shared.Load() != nil }

// rejectFleetProbe refuses a statement because another instance holds the
// fleet's half-open probe (or this one is still fetching it).
func (b *Breaker) rejectFleetProbe(e *engine) error {
	e.win.Load().rejected.Add(1)
	b.flush()
	return &OpenError{Source: b.name, State: StateHalfOpen, Reason: fleetProbeReason}
}

const fleetProbeReason = "probe left to the instance holding the fleet's probe token"

// report hands ev to b's link if b is shared and ev is a change b made on
// its own in ModeNormal. Called from emit, outside every lock.
func (b *Breaker) report(ev event) {
	if ev.origin != "" || ev.cause != "" || ev.mode != ModeNormal {
		return
	}
	l := b.sharedLink()
	if l == nil {
		return
	}
	t := Transition{Source: b.name, From: ev.from, To: ev.to, Counts: ev.counts, At: ev.at}
	if ev.to == StateOpen {
		t.Reason = ev.reason
	}
	l.Report(t)
}

// OpenedElsewhere opens b because another instance of the fleet opened its
// breaker for the same source, with the reason "shared from <origin>:
// <reason>". retryIn is how long the fleet stays open from now, as far as
// the caller knows; 0 or less means a full OpenTimeout.
//
// A closed or half-open b opens for a full OpenTimeout (a breaker cannot
// open for less); the change is logged ("circuit breaker opened by another
// instance", with an origin field) and handed to the WithOnStateChange
// hook, but not reported back to the link. An open b whose OpenTimeout ends
// before the fleet's open period (retryIn) is opened anew, silently: it
// stays open, for a full OpenTimeout from now. Either way b gets a fresh
// engine, as with Reset: outcomes of statements admitted before are
// ignored.
//
// It returns whether b's state changed: false when b is nil, in
// ModeDisabled, or already open. Shared implementations call it; it is
// safe for concurrent use.
func (b *Breaker) OpenedElsewhere(origin, reason string, retryIn time.Duration) bool {
	if b == nil || b.Mode() == ModeDisabled {
		return false
	}
	if origin == "" {
		origin = "another instance"
	}
	e := b.eng.Load()
	w := e.win.Load()
	now := time.Now()
	if w.state == StateOpen {
		if retryIn <= 0 {
			retryIn = b.cfg.OpenTimeout
		}
		// Our timer covers the fleet's (give or take a push's transit).
		if w.retryAt.Sub(now)+b.cfg.OpenTimeout/10 >= retryIn {
			return false
		}
	}
	te := &tripError{reason: "shared from " + origin + ": " + reason, counts: w.counts(), origin: origin}
	if !b.eng.CompareAndSwap(e, openEngine(b, now, te)) {
		return false // Reset, or the fleet again, got there first
	}
	if w.state == StateOpen {
		return false
	}
	b.record(event{from: w.state, to: StateOpen, counts: te.counts, reason: te.reason, mode: b.Mode(), origin: origin}, now)
	b.flush()
	return true
}

// openEngine returns a new engine already open since now, for te. Its
// gobreaker is tripped before it is b's engine, so its onStateChange
// ignores that; the window is set here instead. Swapping whole engines,
// rather than tripping the current one, works from any state: an open
// gobreaker cannot be tripped again, nor a half-open one whose probes are
// all in flight.
func openEngine(b *Breaker, now time.Time, te *tripError) *engine {
	ne := newEngine(b, now)
	if gbDone, err := ne.cb.Allow(); err == nil { // a new gobreaker is closed: it admits
		gbDone(te)
	}
	ne.last = nil
	ne.win.Store(ne.newWindow(StateOpen, now, te.reason))
	return ne
}

// ClosedElsewhere closes b because another instance of the fleet closed its
// breaker for the same source after a successful probe: b gets a fresh
// closed engine, as with Reset, and outcomes of statements admitted before
// are ignored. The change is logged ("circuit breaker closed by another
// instance") and handed to the hook, not reported back to the link. It
// returns whether b's state changed: false when b is nil or already closed.
// The Mode stays; in ModeForcedOpen b keeps rejecting.
//
// Shared implementations call it; it is safe for concurrent use.
func (b *Breaker) ClosedElsewhere(origin string) bool {
	if b == nil {
		return false
	}
	if origin == "" {
		origin = "another instance"
	}
	e := b.eng.Load()
	w := e.win.Load()
	if w.state == StateClosed {
		return false
	}
	now := time.Now()
	if !b.eng.CompareAndSwap(e, newEngine(b, now)) {
		return false // Reset or another ClosedElsewhere got there first
	}
	b.record(event{from: w.state, to: StateClosed, counts: w.counts(), mode: b.Mode(), origin: origin}, now)
	b.flush()
	return true
}
