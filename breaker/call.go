package breaker

import (
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// call is one admitted statement. Allow allocates it and returns its done
// method value; with gobreaker's own done closure these are the three
// allocations of an admitted statement.
type call struct {
	e    *engine
	w    *window // the window the call was admitted in
	gb   func(error)
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
	c.gb(out)
	b.flush()
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
