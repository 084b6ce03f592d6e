package breaker

import (
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// Permit is one admitted statement's right to run, filled by Admit; Done
// reports its outcome. Keep it in the caller's per-statement state (a
// struct field) and admission allocates nothing; Allow allocates one and
// returns its Done. The zero Permit, and one Admit refused, do nothing on
// Done. A Permit must not be copied once filled.
type Permit struct {
	e    *engine
	w    *window     // the window the call was admitted in
	gb   func(error) // nil when admitted in the closed state
	used atomic.Bool
}

// Done records the outcome of the admitted statement: err (nil for
// success) and how long it took. Only the first call counts; later calls,
// and calls on a Permit that was not admitted, do nothing. A Permit whose
// Done is never called keeps a half-open breaker from ever closing, so call
// it on panic paths too.
func (c *Permit) Done(err error, elapsed time.Duration) {
	if c.e == nil || c.used.Swap(true) {
		return
	}
	b := c.e.b
	out := errExclude
	if Mode(b.mode.Load()) != ModeDisabled {
		out = c.e.record(c.w, err, elapsed)
	}
	if c.gb != nil {
		c.gb(out)
	} else if te, ok := out.(*tripError); ok {
		c.e.trip(c.w, te)
	}
	b.flush()
}

// trip hands gobreaker the decision to open that a call admitted in the
// closed window w made: through one request of its own, which it admits
// only while still closed. If w stopped being the current window between
// the decision and that request, the request is reported as excluded.
func (e *engine) trip(w *window, te *tripError) {
	gbDone, err := e.cb.Allow()
	if err != nil {
		return // already open
	}
	if e.win.Load() != w {
		gbDone(errExclude)
		return
	}
	gbDone(te)
}

// record counts err in w and returns what gobreaker is told: nil (success),
// errFailure, errExclude or a *tripError.
func (e *engine) record(w *window, err error, elapsed time.Duration) error {
	var cause error
	if err != nil {
		if markedExcluded(err) {
			w.excluded.Add(1)
			return errExclude
		}
		switch cat := errclass.Classify(err); {
		case cat == errclass.Canceled, cat == errclass.CircuitOpen:
			// The caller gave up, or the statement was never sent.
			w.excluded.Add(1)
			return errExclude
		case cat.Infrastructure():
			cause = err
		}
	}
	if cause != nil {
		w.failures.Add(1)
		w.consecutive.Add(1)
	} else {
		w.successes.Add(1)
		if w.consecutive.Load() != 0 { // a store would dirty the line every statement shares
			w.consecutive.Store(0)
		}
		if t := e.b.cfg.SlowCallThreshold; t > 0 && elapsed > t {
			w.slow.Add(1)
		}
	}
	if te := e.judge(w, cause); te != nil {
		return te
	}
	if cause != nil {
		return errFailure
	}
	return nil
}
