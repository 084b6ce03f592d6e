package callbacks

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/internal/interrupt"
	"github.com/replyrocket/gormsession/internal/scope"
)

// Statement deadlines out of band.
//
// A context.WithDeadline per statement costs a timer, the parent's child
// map and, under a context with no Done channel, the watcher goroutines
// database/sql and the drivers start for any cancellable context: most of
// what the plugin used to add to a point select. So where the driver lets
// us stop a statement from outside (interrupt.MethodOf), the statement runs
// under its caller's context, and one sweeper goroutine per Runtime stops
// it through the driver when its deadline passes. The sweeper sleeps until
// the soonest deadline it knows of; a statement whose deadline is sooner
// than that wakes it. Under steady traffic with one statement timeout it
// wakes about once per timeout, not once per statement.

// Watch phases of a statement (stmtCtx.phase).
const (
	phaseNone      int32 = iota // not watched: no deadline, or one in the context
	phaseAcquiring              // waiting for a connection; due is the wait's deadline
	phaseRunning                // on its connection; due is the statement's deadline
	phaseFired                  // the deadline passed and the statement was stopped
	phaseDone                   // the after-step took it back: never stop it again
)

// refire is how often a stopped statement that still runs is stopped
// again: SQLite drops an interrupt that arrives between two statements'
// virtual machines, and pgx clears a connection's deadline after each of
// its own waits.
const refire = 20 * time.Millisecond

// sweeper stops statements whose out-of-band deadline passed.
type sweeper struct {
	base  time.Time    // dues are nanoseconds since base (monotonic)
	next  atomic.Int64 // when the sweeper wakes next; math.MaxInt64: never
	state atomic.Int32 // 0 stopped, 1 running
	kick  chan struct{}

	closed atomic.Bool // Runtime.Close: new statements keep deadlines in context
	wg     sync.WaitGroup
	bg     sync.WaitGroup // PostgreSQL cancel requests in flight
	fire   []*stmtCtx     // scratch, used by the sweeper goroutine only
	txs    []*txExpiry    // scratch, likewise
	leaks  []*txState     // scratch, likewise
}

func (s *sweeper) init() {
	s.base = time.Now()
	s.next.Store(math.MaxInt64)
	s.kick = make(chan struct{}, 1)
}

// at converts t to a due (never 0, which means "not watched").
func (s *sweeper) at(t time.Time) int64 { return max(int64(t.Sub(s.base)), 1) }

func (s *sweeper) now() int64 { return s.at(time.Now()) }

// lower makes the sweeper wake by due, and reports whether that is sooner
// than it planned.
func (s *sweeper) lower(due int64) bool {
	for {
		n := s.next.Load()
		if due >= n {
			return false
		}
		if s.next.CompareAndSwap(n, due) {
			return true
		}
	}
}

// outOfBand reports whether statements may use out-of-band deadlines.
func (r *Runtime) outOfBand() bool { return !r.sw.closed.Load() }

// watch makes sc's deadline due (a sweeper due) enforced by the sweeper,
// starting it if it is not running. phase is phaseAcquiring or
// phaseRunning.
func (r *Runtime) watch(sc *stmtCtx, phase int32, due int64) {
	sc.due.Store(due)
	sc.phase.Store(phase)
	r.wake(due)
}

// wake makes the sweeper, started if need be, wake by due.
func (r *Runtime) wake(due int64) {
	s := &r.sw
	if s.lower(due) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if s.state.Load() == 0 && s.state.CompareAndSwap(0, 1) {
		s.wg.Add(1)
		go r.sweepLoop()
	}
}

// finishWatch ends sc's watch before its connection goes back to the
// pool, and reports whether the sweeper stopped the statement. After it
// returns the sweeper never touches sc's connection again. It may be
// called more than once (a transaction ending ends its statement's watch).
func (sc *stmtCtx) finishWatch() (fired bool) {
	switch sc.phase.Load() {
	case phaseNone:
		return false
	case phaseDone:
		return sc.stopped.Load()
	}
	// Not stopped: done without the lock. The sweeper moves a running
	// statement to fired under the lock before it stops it, so a failed
	// swap means it did or is doing so: wait for it to finish.
	if sc.phase.CompareAndSwap(phaseRunning, phaseDone) {
		return false
	}
	sc.mu.Lock()
	sc.phase.Store(phaseDone)
	sc.mu.Unlock()
	return sc.stopped.Load()
}

// retireWatch ends sc's watch like finishWatch, and also one not armed
// yet: it never will be.
func (sc *stmtCtx) retireWatch() {
	if !sc.phase.CompareAndSwap(phaseNone, phaseDone) {
		sc.finishWatch()
	}
	// Not watched any more: a statement whose after-step never runs stays
	// open until Reclaim takes it, and the sweeper need not look at it.
	sc.due.Store(0)
}

// txWatch lets a tracked transaction end the watches of the statements it
// runs, before its connection goes back to the pool: a deadline or cancel
// ends a transaction from another goroutine, possibly ahead of the
// statements' after-steps, and a statement whose after-step never runs (a
// hook panicked) would otherwise have the sweeper stop the connection
// after someone else took it from the pool.
type txWatch struct {
	drv    any                     // the transaction's driver connection
	cur    atomic.Pointer[stmtCtx] // the innermost statement running; outer ones through its parent
	closed atomic.Bool             // the transaction ended: its connection is not its own any more
}

// watchInTx arms sc's out-of-band deadline on its transaction's
// connection, unless the transaction already ended.
func (r *Runtime) watchInTx(sc *stmtCtx, w *txWatch) {
	sc.drv = w.drv
	w.cur.Store(sc)
	// Published first, then checked: either release sees sc in cur and
	// retires it, or this sees closed. A retired sc is never armed.
	if w.closed.Load() {
		return
	}
	due := r.sw.at(sc.deadline)
	sc.due.Store(due)
	if sc.phase.CompareAndSwap(phaseNone, phaseRunning) {
		r.wake(due)
	}
}

// done takes sc, whose after-step runs, off w: the statement it is nested
// in, if any, is current again. A nil w does nothing.
func (w *txWatch) done(sc *stmtCtx) {
	if w == nil || w.cur.Load() != sc {
		return // never current (no deadline armed), or no longer
	}
	w.cur.CompareAndSwap(sc, outerInTx(sc))
}

// outerInTx returns the statement of the same transaction that sc is
// nested in (a hook's, a Preload's), or nil.
func outerInTx(sc *stmtCtx) *stmtCtx {
	if o := stmtFrom(sc.parent); o != nil && sc.scope.Parent != nil && o.scope.Parent == sc.scope.Parent {
		return o
	}
	return nil
}

// release ends, for good, the watches of the transaction's statements
// still running: the current one and those it is nested in. Statements
// that start afterwards are not watched. A nil w does nothing.
func (w *txWatch) release() {
	if w == nil {
		return
	}
	w.closed.Store(true)
	for sc := w.cur.Swap(nil); sc != nil; sc = outerInTx(sc) {
		sc.retireWatch()
	}
}

func (r *Runtime) sweepLoop() {
	s := &r.sw
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var wake <-chan time.Time
		d := time.Duration(-1) // none
		if n := s.next.Load(); n != math.MaxInt64 {
			d = max(time.Duration(n-s.now()), 1)
		}
		if s.closed.Load() && (d < 0 || d > refire) {
			// Closed: keep going only while something is watched, and
			// look at least every refire so its end is noticed (an ended
			// transaction does not wake the sweeper to say so).
			d = refire
		}
		if d > 0 {
			t.Reset(d)
			wake = t.C
		}
		select {
		case <-s.kick:
		case <-wake:
		}
		t.Stop()
		if watched := r.sweep(); watched == 0 && s.closed.Load() {
			// Stop, unless a statement registered after the sweep: it
			// saw state 1, so it did not start another sweeper.
			s.state.Store(0)
			if r.sweep() == 0 || !s.state.CompareAndSwap(0, 1) {
				return
			}
		}
	}
}

// sweep stops the statements whose deadline passed, plans the next wake,
// and returns how many statements are watched.
func (r *Runtime) sweep() (watched int) {
	s := &r.sw
	s.next.Store(math.MaxInt64)
	now := s.now()
	soonest := int64(math.MaxInt64)
	s.fire = s.fire[:0]
	s.txs = s.txs[:0]
	s.leaks = s.leaks[:0]
	r.reg.Each(func(sp *scope.Scope) {
		sc, ok := sp.Owner.(*stmtCtx)
		if !ok {
			if st, ok := sp.Owner.(*txState); ok {
				if due := st.exp.due.Load(); due != 0 {
					watched++
					if due > now {
						soonest = min(soonest, due)
					} else {
						s.txs = append(s.txs, &st.exp)
					}
				}
				if due := st.leakDue.Load(); due != 0 {
					watched++
					if due > now {
						soonest = min(soonest, due)
					} else {
						s.leaks = append(s.leaks, st)
					}
				}
			}
			return
		}
		due := sc.due.Load()
		if due == 0 {
			return
		}
		watched++
		if due > now {
			soonest = min(soonest, due)
			return
		}
		s.fire = append(s.fire, sc)
	})
	for i, sc := range s.fire {
		if due := r.expire(sc, now); due != 0 {
			soonest = min(soonest, due)
		}
		s.fire[i] = nil
	}
	for i, x := range s.txs {
		if due := r.expireTx(x, now); due != 0 {
			soonest = min(soonest, due)
		}
		s.txs[i] = nil
	}
	for i, st := range s.leaks {
		r.leakDue(st)
		s.leaks[i] = nil
	}
	s.lower(soonest)
	return watched
}

// expire acts on sc, whose due passed: a connection wait is woken (it
// sees its deadline itself); a running statement is stopped through its
// driver. It returns sc's next due, or 0.
func (r *Runtime) expire(sc *stmtCtx, now int64) int64 {
	if sc.phase.Load() == phaseAcquiring {
		// Again every refire until the wait sees its deadline: it may
		// have checked the clock just before, and then started waiting on
		// the gate this kick installs.
		sc.cp.src.kickWaiters(nil)
		return now + int64(refire)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.due.Load() > now {
		return sc.due.Load() // it moved on (a wait that got its connection) since the sweep
	}
	first := sc.phase.CompareAndSwap(phaseRunning, phaseFired)
	if !first && sc.phase.Load() != phaseFired {
		return 0 // done
	}
	if first {
		// Stored, then rows loaded, as handOverRows stores rows and then
		// loads stopped: one of the two sees the other.
		sc.stopped.Store(true)
	}
	rows := sc.rows.Load()
	if first {
		// Rows the caller still reads end as under an expired context:
		// Next returns false, Err says why; marked before the Stop below
		// fails a Next in the driver. The caller's Close then releases
		// them (rowsClosed).
		if rows != nil {
			expireRows(rows, r.rowsTimeout(sc, context.DeadlineExceeded))
		}
	} else if rows != nil && now >= r.sw.at(sc.deadline.Add(r.reclaimAfter())) {
		r.closeAbandonedRows(sc, rows)
	}
	discard, cancelOnServer, err := interrupt.Stop(sc.drv)
	if first {
		sc.discard = discard || err != nil
		if cancelOnServer != nil {
			r.cancelInBackground(cancelOnServer)
		}
	}
	due := now + int64(refire)
	sc.due.Store(due)
	return due
}

// cancelInBackground sends a server-side cancel (interrupt.Stop's) from a
// goroutine of its own, bounded by cancelTimeout; Wait waits for it.
func (r *Runtime) cancelInBackground(cancelOnServer func(context.Context) error) {
	r.inBackground(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
		_ = cancelOnServer(ctx)
		cancel()
	})
}

// inBackground runs f in a goroutine of its own that Wait waits for.
func (r *Runtime) inBackground(f func()) {
	r.sw.bg.Add(1)
	go func() {
		defer r.sw.bg.Done()
		f()
	}()
}

// Close stops the deadline sweeper once no statement it watches is left;
// statements that start after Close keep their deadline in their context.
// It does not wait.
func (r *Runtime) Close() {
	r.sw.closed.Store(true)
	select {
	case r.sw.kick <- struct{}{}:
	default:
	}
}

// Wait waits for the sweeper and the cancel requests it sent to end, after
// Close; for tests.
func (r *Runtime) Wait() {
	r.sw.wg.Wait()
	r.sw.bg.Wait()
}
