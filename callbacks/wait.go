package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"
)

// gate is the context every out-of-band statement of a source waits for a
// connection under: database/sql only lets a context end a wait, and one
// shared context costs nothing per statement. Whoever needs a waiter woken
// (the sweeper at a wait's deadline, a waiting caller's cancel) cancels the
// gate, which wakes all of the source's waiters; those whose own deadline
// has not passed and whose caller has not given up wait again on the next
// gate.
type gate struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// currentGate returns s's gate, making one if needed.
func (s *Source) currentGate() *gate {
	if g := s.gate.Load(); g != nil {
		return g
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gate{ctx, cancel}
	if s.gate.CompareAndSwap(nil, g) {
		return g
	}
	cancel()
	return s.gate.Load()
}

// kickWaiters wakes everyone waiting for a connection of s: it installs a
// fresh gate, then cancels old (the current one, when old is nil). A stale
// old is only cancelled.
func (s *Source) kickWaiters(old *gate) {
	if old == nil {
		old = s.currentGate()
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !s.gate.CompareAndSwap(old, &gate{ctx, cancel}) {
		cancel()
	}
	old.cancel()
}

// waitCtx is what DB.Conn sees while an out-of-band statement waits for a
// connection: the source's gate for Done and Err, the statement's for
// values and deadline. It lives in the statement's state: no allocation.
type waitCtx struct {
	rt       *Runtime
	sc       *stmtCtx
	g        *gate
	deadline time.Time // the wait's: the sooner of PoolTimeout and the statement's
	looks    atomic.Int32
	flags    atomic.Uint32 // waitWatched, waitBlocked
	stop     atomic.Pointer[func() bool]
}

// waitCtx.flags: the sweeper knows the wait's deadline; the wait is
// counted in the source's waiting (it did block).
const (
	waitWatched uint32 = 1 << iota
	waitBlocked
)

// mark sets f and reports whether it was clear.
func (w *waitCtx) mark(f uint32) bool { return w.flags.Or(f)&f == 0 }

func (w *waitCtx) marked(f uint32) bool { return w.flags.Load()&f != 0 }

// Deadline returns the wait's deadline, or the caller's if sooner.
func (w *waitCtx) Deadline() (time.Time, bool) {
	if pdl, ok := w.sc.parent.Deadline(); ok && (w.deadline.IsZero() || pdl.Before(w.deadline)) {
		return pdl, true
	}
	return w.deadline, !w.deadline.IsZero()
}

// Done returns the gate's channel. database/sql looks at it once to see
// whether the context already ended, and again only to wait on it (for a
// free connection, or a new one's dial): that second look is when the
// caller's own cancel must be able to end the wait, so only then does it
// pay for hearing of it.
func (w *waitCtx) Done() <-chan struct{} {
	if w.looks.Add(1) == 2 {
		w.slow()
	}
	return w.g.ctx.Done()
}

// slow readies a wait that will block: the sweeper is told its deadline,
// and the caller's cancel is made to wake it. A connection taken at once
// pays for neither.
func (w *waitCtx) slow() {
	sc := w.sc
	if w.mark(waitBlocked) {
		sc.src.waiting.Add(1)
	}
	if !w.deadline.IsZero() && w.mark(waitWatched) {
		w.rt.watch(sc, phaseAcquiring, w.rt.sw.at(w.deadline))
	}
	if sc.parent.Done() != nil {
		g := w.g
		stop := context.AfterFunc(sc.parent, func() { sc.src.kickWaiters(g) })
		w.stop.Store(&stop)
	}
}

// Err returns the gate's error.
func (w *waitCtx) Err() error { return w.g.ctx.Err() }

// Value reads the statement's context.
func (w *waitCtx) Value(key any) any { return w.sc.Value(key) }

// acquireOutOfBand takes a connection for sc from src like acquire, with the
// wait's deadline enforced by the sweeper through src's gate instead of a
// timer of its own. stmtDeadline is the statement's (zero: none).
func (r *Runtime) acquireOutOfBand(sc *stmtCtx, src *Source, start, stmtDeadline time.Time) (*sql.Conn, time.Duration, error) {
	w := &sc.wait
	w.rt, w.sc = r, sc
	w.deadline = stmtDeadline
	poolBudget := false
	if pt := r.opts.PoolTimeout; pt > 0 {
		if p := start.Add(pt); w.deadline.IsZero() || p.Before(w.deadline) {
			w.deadline, poolBudget = p, true
		}
	}
	var conn *sql.Conn
	var err error
	for {
		if perr := sc.parent.Err(); perr != nil {
			err = perr // as database/sql would, before taking a connection
			break
		}
		w.g = src.currentGate()
		w.looks.Store(0)
		conn, err = src.DB.Conn(w)
		if w.stop.Load() != nil {
			(*w.stop.Swap(nil))()
		}
		if err == nil || w.g.ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			break
		}
		// The gate was cancelled: for this wait, or for another.
		if perr := sc.parent.Err(); perr != nil {
			err = perr
			break
		}
		if !w.deadline.IsZero() && !time.Now().Before(w.deadline) {
			err = context.DeadlineExceeded
			break
		}
	}
	if !w.marked(waitBlocked) && err == nil {
		// Taken at once: no clock read, no shared counter touched.
		return conn, 0, nil
	}
	waiters := src.waiting.Load()
	if w.marked(waitBlocked) {
		waiters = src.waiting.Add(-1)
	}
	if w.marked(waitWatched) {
		sc.phase.Store(phaseNone)
		sc.due.Store(0)
	}
	waited := time.Since(start)
	if err == nil {
		return conn, waited, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return nil, waited, err
	}
	callerDone := sc.parent.Err() != nil
	if te := r.waitTimeout(src, err, waited, waiters, sc.scope.Op, sc.scope.Table, !callerDone && poolBudget, !callerDone, sc.budget, sc.timeout); te != nil {
		return nil, waited, te
	}
	return nil, waited, err
}
