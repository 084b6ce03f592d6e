package breaker

import (
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// call is one admitted statement. Allow allocates it and returns its done
// method value: the two allocations of an admitted statement (three in the
// half-open state, with gobreaker's own done closure).
type call struct {
	e    *engine
	w    *window     // the window the call was admitted in
	gb   func(error) // nil when admitted in the closed state
	used atomic.Bool
}

// done records the outcome once; later calls return at once.
func (c *call) done(err error, elapsed time.Duration) {
	if c.used.Swap(true) {
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
		w.consecutive.Store(0)
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
