package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
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

// waitCtx is what DB.Conn sees while an out-of-band statement, or the
// BEGIN of an out-of-band transaction, waits for a connection: the
// source's gate for Done and Err, the caller's context for values and
// deadline. It lives in the statement's (or transaction's) state: no
// allocation, except one waitAttempt per retry of a wait that was woken
// and waits again.
type waitCtx struct {
	rt       *Runtime
	sc       *stmtCtx             // the statement waiting, or nil
	tx       *txState             // else the transaction waiting
	g        atomic.Pointer[gate] // the wait's first gate, set once (see waitAttempt)
	deadline time.Time            // the wait's: the sooner of PoolTimeout and the statement's
	looks    atomic.Int32
	flags    atomic.Uint32 // waitWatched, waitBlocked, ...
	stop     atomic.Pointer[func() bool]
}

// waitCtx.flags: the wait's deadline is watched (by the sweeper for a
// statement, by a timer for a transaction); the wait is counted in the
// source's waiting (it did block).
const (
	waitWatched uint32 = 1 << iota
	waitBlocked
	waitEnded   // waitConn returned: a late look at Done must not arm anything
	waitSlow    // slow runs: waitConn does not end until it returns
	waitRetired // the first attempt is over: a late look at its Done counts for nothing
)

// mark sets f and reports whether it was clear.
func (w *waitCtx) mark(f uint32) bool { return w.flags.Or(f)&f == 0 }

func (w *waitCtx) marked(f uint32) bool { return w.flags.Load()&f != 0 }

// parent is the waiting caller's context.
func (w *waitCtx) parent() context.Context {
	if w.sc != nil {
		return w.sc.parent
	}
	return w.tx.parent
}

func (w *waitCtx) src() *Source {
	if w.sc != nil {
		return w.sc.cp.src
	}
	return w.tx.src
}

// Deadline returns the wait's deadline, or the caller's if sooner.
func (w *waitCtx) Deadline() (time.Time, bool) {
	if pdl, ok := w.parent().Deadline(); ok && (w.deadline.IsZero() || pdl.Before(w.deadline)) {
		return pdl, true
	}
	return w.deadline, !w.deadline.IsZero()
}

// Done returns the gate's channel. database/sql looks at it once to see
// whether the context already ended, and again only to wait on it (for a
// free connection, or a new one's dial): that second look is when the
// caller's own cancel must be able to end the wait, so only then does it
// pay for hearing of it.
func (w *waitCtx) Done() <-chan struct{} { return w.done(w.g.Load(), w.marked(waitRetired)) }

// done counts a look at an attempt's Done; one at an attempt already over
// (a goroutine the dial left behind) is not the current attempt's.
func (w *waitCtx) done(g *gate, retired bool) <-chan struct{} {
	if !retired && w.looks.Add(1) == 2 {
		w.slow(g)
	}
	return g.ctx.Done()
}

// AfterFunc arranges for f to run when the gate is cancelled, as
// context.AfterFunc would for a context ending. Without it context.AfterFunc
// (pgx's context watcher, while it dials or checks a connection for the
// wait) would start a goroutine to wait on Done.
func (w *waitCtx) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(w.g.Load().ctx, f)
}

// waitAttempt is the context of a second or later DB.Conn call of one
// wait, on a newer gate. A context must not change once done: one derived
// from it (pgx's, for a dial) reads its Err when its gate's cancel reaches
// it, possibly after the wait moved on, and must find it ended. So w keeps
// its first gate for good, and each retry gets a context of its own (an
// allocation, only for a wait that was woken and waits again).
type waitAttempt struct {
	w       *waitCtx
	g       *gate
	retired atomic.Bool
}

func (a *waitAttempt) Deadline() (time.Time, bool)           { return a.w.Deadline() }
func (a *waitAttempt) Done() <-chan struct{}                 { return a.w.done(a.g, a.retired.Load()) }
func (a *waitAttempt) Err() error                            { return a.g.ctx.Err() }
func (a *waitAttempt) Value(key any) any                     { return a.w.Value(key) }
func (a *waitAttempt) AfterFunc(f func()) (stop func() bool) { return context.AfterFunc(a.g.ctx, f) }

// slow readies a wait on gate g that will block: its deadline is watched,
// and the caller's cancel is made to wake it. A connection taken at once
// pays for neither.
func (w *waitCtx) slow(g *gate) {
	// Excludes the end of the wait: what slow arms, waitConn's end must
	// see, or a straggling look would leave a watch or a hook behind.
	for {
		f := w.flags.Load()
		if f&(waitEnded|waitSlow) != 0 {
			return // over, or armed by another look
		}
		if w.flags.CompareAndSwap(f, f|waitSlow) {
			break
		}
	}
	defer w.flags.And(^waitSlow)
	src := w.src()
	if w.mark(waitBlocked) {
		src.waiting.Add(1)
	}
	if !w.deadline.IsZero() && w.mark(waitWatched) {
		if w.sc != nil {
			w.rt.watch(w.sc, phaseAcquiring, w.rt.sw.at(w.deadline))
		} else {
			w.tx.watchWait(w.deadline)
		}
	}
	if parent := w.parent(); parent.Done() != nil {
		stop := context.AfterFunc(parent, func() { src.kickWaiters(g) })
		if old := w.stop.Swap(&stop); old != nil {
			(*old)()
		}
	}
}

// Err returns the gate's error.
func (w *waitCtx) Err() error { return w.g.Load().ctx.Err() }

// Value reads the statement's context, or the transaction's caller's.
func (w *waitCtx) Value(key any) any {
	if w.sc != nil {
		return w.sc.Value(key)
	}
	return w.tx.parent.Value(key)
}

// watchWait wakes the BEGIN waiting on st at deadline, through its
// source's gate, and again every refire until the wait ends: like the
// sweeper does a statement's wait, for the same reason (the waiter may
// have read the clock just before the kick, then waited on the next gate).
func (st *txState) watchWait(deadline time.Time) {
	src := st.src
	var kick func()
	kick = func() {
		src.kickWaiters(nil)
		st.waitMu.Lock()
		if !st.waitOver {
			st.waitTimer.Reset(refire)
		}
		st.waitMu.Unlock()
	}
	st.waitMu.Lock()
	if !st.waitOver {
		st.waitTimer = time.AfterFunc(time.Until(deadline), kick)
	}
	st.waitMu.Unlock()
}

// endWait stops watchWait's timer.
func (st *txState) endWait() {
	st.waitMu.Lock()
	st.waitOver = true
	if st.waitTimer != nil {
		st.waitTimer.Stop()
	}
	st.waitMu.Unlock()
}

// waitConn takes a connection from w's source, waiting on its gate until
// w.deadline (the sweeper or watchWait kicks the gate then), the caller's
// context ends, or a connection is free. blocked reports whether it
// waited at all.
func (r *Runtime) waitConn(w *waitCtx) (conn *sql.Conn, blocked bool, err error) {
	src, parent := w.src(), w.parent()
	g := src.currentGate()
	w.g.Store(g)
	var ctx context.Context = w
	for {
		if perr := parent.Err(); perr != nil {
			err = perr // as database/sql would, before taking a connection
			break
		}
		w.looks.Store(0)
		conn, err = src.DB.Conn(ctx)
		w.unhookCaller()
		if err == nil || g.ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			break
		}
		// The gate was cancelled: for this wait, or for another.
		if perr := parent.Err(); perr != nil {
			err = perr
			break
		}
		if !w.deadline.IsZero() && !time.Now().Before(w.deadline) {
			err = context.DeadlineExceeded
			break
		}
		if a, ok := ctx.(*waitAttempt); ok {
			a.retired.Store(true)
		} else {
			w.mark(waitRetired)
		}
		g = src.currentGate()
		ctx = &waitAttempt{w: w, g: g}
	}
	for {
		f := w.flags.Load()
		if f&waitSlow == 0 && w.flags.CompareAndSwap(f, f|waitEnded) {
			break
		}
		runtime.Gosched() // a late look's slow, which does not block
	}
	w.unhookCaller() // one armed by a look at Done racing the end
	return conn, w.marked(waitBlocked), err
}

// unhookCaller stops slow's AfterFunc on the caller's context, if any.
func (w *waitCtx) unhookCaller() {
	if w.stop.Load() != nil {
		if stop := w.stop.Swap(nil); stop != nil {
			(*stop)()
		}
	}
}

// acquireOutOfBand takes a connection for sc from src like acquire, with the
// wait's deadline enforced by the sweeper through src's gate instead of a
// timer of its own. stmtDeadline is the statement's (zero: none).
func (r *Runtime) acquireOutOfBand(sc *stmtCtx, src *Source, start, stmtDeadline time.Time) (*sql.Conn, time.Duration, error) {
	w := &sc.wait
	w.rt, w.sc = r, sc
	var poolBudget bool
	w.deadline, poolBudget = r.waitDeadline(start, stmtDeadline)
	conn, blocked, err := r.waitConn(w)
	if !blocked && err == nil {
		// Taken at once: no clock read, no shared counter touched.
		return conn, 0, nil
	}
	if w.marked(waitWatched) {
		sc.phase.Store(phaseNone)
		sc.due.Store(0)
	}
	return r.waitResult(w, conn, err, start, poolBudget, sc.scope.Op, sc.scope.Table, sc.budget(), sc.timeout)
}

// acquireForTx takes the connection for st's BEGIN from src like acquire,
// waiting at most until the sooner of PoolTimeout and the transaction's
// deadline, through src's gate.
func (r *Runtime) acquireForTx(st *txState, start, txDeadline time.Time, timeout time.Duration) (*sql.Conn, error) {
	w := &st.wait
	w.rt, w.tx = r, st
	var poolBudget bool
	w.deadline, poolBudget = r.waitDeadline(start, txDeadline)
	conn, blocked, err := r.waitConn(w)
	if w.marked(waitWatched) {
		st.endWait()
	}
	if !blocked && err == nil {
		return conn, nil
	}
	conn, _, err = r.waitResult(w, conn, err, start, poolBudget, "begin", "", BudgetTransaction, timeout)
	return conn, err
}

// waitDeadline is when a wait for a connection that began at start ends:
// at PoolTimeout, or at own (the statement's or transaction's deadline;
// zero: none) if that is sooner. pool reports whether PoolTimeout's it is.
func (r *Runtime) waitDeadline(start, own time.Time) (deadline time.Time, pool bool) {
	if pt := r.opts.PoolTimeout; pt > 0 {
		if p := start.Add(pt); own.IsZero() || p.Before(own) {
			return p, true
		}
	}
	return own, false
}

// waitResult finishes a wait that blocked or failed: it leaves the
// source's waiting count and names the budget that ended a wait cut short
// by a deadline (see waitTimeout).
func (r *Runtime) waitResult(w *waitCtx, conn *sql.Conn, err error, start time.Time, poolBudget bool, op, table string, b Budget, timeout time.Duration) (*sql.Conn, time.Duration, error) {
	src := w.src()
	waiters := src.waiting.Load()
	if w.marked(waitBlocked) {
		waiters = src.waiting.Add(-1)
	}
	waited := time.Since(start)
	if err == nil {
		return conn, waited, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return nil, waited, err
	}
	// Whose deadline ended the wait: the caller's if it was the sooner
	// (or the wait had none of its own), however close the two were.
	callerFirst := w.deadline.IsZero()
	if pdl, ok := w.parent().Deadline(); ok && !pdl.After(w.deadline) {
		callerFirst = true
	}
	if te := r.waitTimeout(src, err, waited, waiters, op, table, !callerFirst && poolBudget, !callerFirst, b, timeout); te != nil {
		return nil, waited, te
	}
	return nil, waited, err
}
