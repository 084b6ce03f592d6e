package breaker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// Breaker is the circuit breaker of one source. Its methods are safe for
// concurrent use; Allow and done take no lock shared with other Breakers.
// A nil *Breaker lets everything through and reports a closed state.
type Breaker struct {
	name   string
	cfg    Config // defaults filled in
	logger *zap.Logger
	hook   func(source string, from, to State, counts Counts)

	// halfOpenFull is the Reason of a rejection by a full half-open state,
	// made once so that rejecting does not format.
	halfOpenFull string

	mode        atomic.Uint32
	eng         atomic.Pointer[engine]
	transitions atomic.Uint64
	since       atomic.Int64 // UnixNano of the last state change
	q           eventQueue
	sharedFields
}

// New returns a closed Breaker for source. cfg's zero and invalid values
// mean their defaults (see Config.Validate); cfg.Disabled starts it in
// ModeDisabled. A nil logger means zap.NewNop().
func New(source string, cfg Config, logger *zap.Logger, opts ...Option) *Breaker {
	if logger == nil {
		logger = zap.NewNop()
	}
	o := buildOptions(opts)
	b := &Breaker{
		name:   source,
		cfg:    cfg.withDefaults(),
		logger: logger,
		hook:   o.onStateChange,
	}
	b.halfOpenFull = fmt.Sprintf("all %d half-open probes in flight", b.cfg.HalfOpenMaxRequests)
	if cfg.Disabled {
		b.mode.Store(uint32(ModeDisabled))
	}
	now := time.Now()
	b.since.Store(now.UnixNano())
	b.eng.Store(newEngine(b, now))
	b.attach(o.shared)
	return b
}

// noop is the done of a statement nothing counts.
func noop(error, time.Duration) {}

// Allow asks whether a statement may go to the source now.
//
// When it may, Allow returns a done func and a nil error. done must be
// called exactly once with the statement's error (nil for success) and how
// long it took; later calls do nothing. A done that is never called keeps a
// half-open breaker from ever closing, so call it on panic paths too.
//
// When it may not (open, half-open with every probe in flight or, when
// shared, with the probe left to another instance, or ModeForcedOpen),
// Allow returns a nil done and an *OpenError wrapping
// errclass.ErrCircuitOpen that names the source, the state, why, and when
// it will try again.
func (b *Breaker) Allow() (done func(err error, elapsed time.Duration), err error) {
	if b == nil || Mode(b.mode.Load()) == ModeDisabled {
		return noop, nil
	}
	var tmp Permit // on the stack: a refusal allocates only its error
	if err := b.Admit(&tmp); err != nil {
		return nil, err
	}
	if tmp.e == nil {
		return noop, nil // ModeMetricsOnly let a refused statement through
	}
	p := &Permit{e: tmp.e, w: tmp.w, gb: tmp.gb}
	return p.Done, nil
}

// Admit is Allow without allocating: when the statement may go, it fills
// *p, whose Done must then be called exactly once, and returns nil; when
// it may not, it returns the *OpenError Allow would and leaves *p unfilled.
// A nil b or a disabled breaker admits without filling *p (its Done does
// nothing). A nil p is a programming error: Admit returns an error saying
// so and admits nothing.
func (b *Breaker) Admit(p *Permit) error { return b.AdmitAt(p, time.Now()) }

// AdmitAt is Admit for a caller that has just read the clock: now is the
// time of the call (a zero now reads the clock).
func (b *Breaker) AdmitAt(p *Permit, now time.Time) error {
	if b == nil {
		return nil
	}
	if p == nil {
		return errNilPermit
	}
	switch Mode(b.mode.Load()) {
	case ModeDisabled:
		return nil
	case ModeForcedOpen:
		b.eng.Load().win.Load().rejected.Add(1)
		return &OpenError{Source: b.name, State: StateForcedOpen, Reason: "set by operator"}
	}
	e := b.eng.Load()
	w := e.win.Load()
	if w.state == StateClosed {
		if now.IsZero() {
			now = time.Now()
		}
		if now.After(w.expiry) {
			w = e.roll(w, now)
		}
		if w.state == StateClosed {
			// Closed: admitted without gobreaker, whose lock would be
			// shared by every statement; gobreaker's closed-state counts
			// are never read. It hears of the call only if its outcome
			// trips the breaker (see call.done).
			w.requests.Add(1)
			b.flush()
			p.e, p.w = e, w
			return nil
		}
	}
	// Shared: a half-open probe needs the fleet's go-ahead. Past this point
	// the breaker is open or half-open, so the closed path never asks.
	l := b.sharedLink()
	if l != nil && Mode(b.mode.Load()) == ModeMetricsOnly {
		l = nil
	}
	// While open, gobreaker refuses by itself: the token is not asked for.
	stillOpen := l != nil && w.state == StateOpen && !time.Now().After(w.retryAt)
	if l != nil && !stillOpen && !l.ProbeAllowed() {
		return b.rejectFleetProbe(e)
	}
	gbDone, gbErr := e.cb.Allow()
	if gbErr != nil {
		return b.reject(e, gbErr)
	}
	// The token was skipped as still open; gobreaker, on
	// its own clock, may have turned half-open since: then this is a
	// probe after all, and needs the token like any other.
	if stillOpen && !l.ProbeAllowed() {
		gbDone(errExclude)
		return b.rejectFleetProbe(e)
	}
	w = e.win.Load()
	w.requests.Add(1)
	b.flush()
	p.e, p.w, p.gb = e, w, gbDone
	return nil
}

var errNilPermit = errors.New("breaker: Admit with a nil *Permit")

// reject builds the refusal of a statement gobreaker did not admit, or lets
// it through uncounted (nil) in ModeMetricsOnly.
func (b *Breaker) reject(e *engine, gbErr error) error {
	w := e.win.Load()
	w.rejected.Add(1)
	b.flush()
	if Mode(b.mode.Load()) == ModeMetricsOnly {
		return nil
	}
	if gbErr == gobreaker.ErrTooManyRequests {
		return &OpenError{Source: b.name, State: StateHalfOpen, Reason: b.halfOpenFull}
	}
	oe := &OpenError{Source: b.name, State: StateOpen, Reason: w.reason}
	if w.state == StateOpen {
		oe.RetryIn = max(time.Until(w.retryAt), 0)
	}
	if oe.Reason == "" {
		oe.Reason = "tripped"
	}
	return oe
}

// Name returns the source the Breaker guards.
func (b *Breaker) Name() string {
	if b == nil {
		return ""
	}
	return b.name
}

// Config returns the Breaker's configuration with defaults filled in.
func (b *Breaker) Config() Config {
	if b == nil {
		return Config{}
	}
	return b.cfg
}

// State returns the state the Breaker reports: StateForcedOpen in
// ModeForcedOpen, else gobreaker's state (reading it turns an open breaker
// half-open once OpenTimeout has passed).
func (b *Breaker) State() State {
	if b == nil {
		return StateClosed
	}
	if Mode(b.mode.Load()) == ModeForcedOpen {
		return StateForcedOpen
	}
	s := fromGobreaker(b.eng.Load().cb.State())
	b.flush()
	return s
}

// Counts returns the counts of the current window.
func (b *Breaker) Counts() Counts {
	if b == nil {
		return Counts{}
	}
	return b.eng.Load().win.Load().counts()
}

// Transitions returns how many state changes the Breaker has made,
// including those made by SetMode and Reset.
func (b *Breaker) Transitions() uint64 {
	if b == nil {
		return 0
	}
	return b.transitions.Load()
}

// Status returns a snapshot of the Breaker for reports and /debug pages.
func (b *Breaker) Status() Status {
	if b == nil {
		return Status{State: StateClosed}
	}
	st := b.State()
	w := b.eng.Load().win.Load()
	s := Status{
		Source:      b.name,
		State:       st,
		Mode:        b.Mode(),
		Counts:      w.counts(),
		Since:       time.Unix(0, b.since.Load()),
		Transitions: b.transitions.Load(),
	}
	if st == StateOpen {
		s.Reason = w.reason
		s.RetryIn = max(time.Until(w.retryAt), 0)
	}
	return s
}
