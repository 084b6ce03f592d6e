package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
	"github.com/replyrocket/gormsession/internal/clock"
	"github.com/replyrocket/gormsession/internal/scope"
)

// Pool replaces gorm's ConnPool (a *sql.DB) so that every db.Begin(),
// db.Transaction() and sessionplugin.Transaction opens a tracked
// transaction scope with a deadline, a breaker gate and a pool timeout.
// Statements pass straight through to the *sql.DB: the callbacks handle
// them.
type Pool struct {
	rt  *Runtime
	src *Source
}

var (
	_ gorm.ConnPoolBeginner = (*Pool)(nil)
	_ gorm.GetDBConnector   = (*Pool)(nil)
)

// Source returns the source the pool sends to.
func (p *Pool) Source() *Source { return p.src }

// GetDBConn returns the underlying *sql.DB, so db.DB() keeps working.
func (p *Pool) GetDBConn() (*sql.DB, error) { return p.src.DB, nil }

// PrepareContext prepares on the underlying *sql.DB.
func (p *Pool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.src.DB.PrepareContext(ctx, query)
}

// ExecContext runs on the underlying *sql.DB.
func (p *Pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.src.DB.ExecContext(ctx, query, args...)
}

// QueryContext runs on the underlying *sql.DB.
func (p *Pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.src.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs on the underlying *sql.DB.
func (p *Pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.src.DB.QueryRowContext(ctx, query, args...)
}

// BeginTx begins a tracked transaction; see Runtime.BeginTx.
func (p *Pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	return p.rt.BeginTx(ctx, p.src, opts)
}

// Tx is a transaction gorm runs statements on. A tracked Tx (from Pool)
// owns its connection, its deadline and its scope, and releases all three
// exactly once, on Commit, Rollback, or its deadline.
type Tx struct {
	tx       *sql.Tx
	src      *Source
	implicit bool // GORM's per-statement transaction: no scope of its own

	rt       *Runtime
	scope    *scope.Scope // in st, apart from Tx: the registry holds it (see txState)
	conn     *sql.Conn
	ctx      context.Context // the transaction's context
	parent   context.Context // the caller's
	cancel   context.CancelFunc
	timeout  time.Duration
	deadline time.Time // zero when not ours
	stop     func() bool
	w        *txWatch  // set when its statements' deadlines are out of band
	exp      *txExpiry // set when its own deadline is out of band
	st       *txState  // scope, w and exp live in it
}

var _ gorm.Tx = (*Tx)(nil)

// BeginTx opens a tracked transaction on src: the breaker is asked first,
// then a connection is awaited under PoolTimeout, then BEGIN runs under the
// transaction's deadline (TransactionTimeout, or WithTransactionTimeout in
// ctx, unless ctx has a sooner one). A nil ctx is context.Background().
func (r *Runtime) BeginTx(ctx context.Context, src *Source, opts *sql.TxOptions) (gorm.ConnPool, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	start := clock.Now()
	t := &Tx{rt: r, src: src, parent: ctx, ctx: ctx}
	st := new(txState)
	st.scope = scope.Scope{Kind: scope.Transaction, Op: "transaction", Source: src.Name, Start: start, Ctx: ctx, Owner: st}
	t.scope, t.st = &st.scope, st
	scope.Capture(t.scope, 1)

	d := r.opts.TransactionTimeout
	if o, ok := transactionOverride(ctx); ok {
		d = o
	}
	// The deadline is enforced out of band (txExpiry) where the source's
	// statements can be stopped that way; else it is the context's.
	oob := false
	if d > 0 {
		if dl, ok := ctx.Deadline(); !ok || dl.After(start.Add(d)) {
			t.timeout = d
			t.deadline = start.Add(d)
			// Unknown yet (the source's first use): found out on the connection.
			if oob = r.outOfBand() && src.method.Load() != methodNo; !oob {
				t.ctx, t.cancel = context.WithTimeout(ctx, d)
			}
		}
	}

	var permit breaker.Permit
	if err := src.brk.AdmitAt(&permit, start); err != nil {
		return nil, t.fail("begin", err, start)
	}
	var conn *sql.Conn
	var err error
	if oob {
		st.src, st.parent = src, ctx
		conn, err = r.acquireForTx(st, start, t.deadline, d)
	} else {
		conn, _, err = r.acquire(t.ctx, src, start, "begin", "", t.cancel != nil, BudgetTransaction, d)
	}
	if err == nil {
		t.conn = conn
		if r.outOfBand() {
			if dc := stoppableConn(src, conn); dc != nil {
				st.w.drv = dc
				t.w = &st.w
			}
		}
		if oob && t.w == nil { // not stoppable after all
			oob = false
			t.ctx, t.cancel = context.WithDeadline(ctx, t.deadline)
		}
		if oob {
			t.exp = &st.exp
			t.exp.drv, t.exp.w, t.exp.conn, t.exp.scope, t.exp.parent, t.exp.timeout = t.w.drv, t.w, conn, t.scope, ctx, d
			t.exp.busy.Store(true)
			r.reg.Open(t.scope) // the sweeper finds the expiry through it
			t.exp.due.Store(r.sw.at(t.deadline))
			r.wake(t.exp.due.Load())
		}
		t.tx, err = conn.BeginTx(t.ctx, opts)
		if x := t.exp; x != nil {
			x.mu.Lock()
			if x.state == txFired && err == nil {
				_ = t.tx.Rollback() // BEGIN answered past the deadline
				err = context.DeadlineExceeded
			}
			if x.state == txFired {
				err = &TimeoutError{Budget: BudgetTransaction, Timeout: d, Op: "begin", Source: src.Name, Err: err}
			}
			x.tx = t.tx
			x.mu.Unlock()
			x.busy.Store(false)
			if err != nil {
				x.end()
				r.reg.Close(t.scope)
			}
		}
		if err != nil {
			conn.Close()
		}
	}
	permit.Done(breakerOutcome(err, ctx), time.Since(start))
	if err != nil {
		return nil, t.fail("begin", errclass.MarkBeforeStatement(err), start)
	}
	if t.exp == nil {
		r.reg.Open(t.scope)
	}
	if t.ctx.Done() != nil {
		// The deadline or the caller's cancel rolls the transaction back
		// (database/sql does that); give the connection back to the pool too.
		// The closure must not hold t, or t could never be collected.
		c, s, parent, timeout, own, w := t.conn, t.scope, t.parent, t.timeout, t.cancel != nil, t.w
		t.stop = context.AfterFunc(t.ctx, func() {
			if own && parent.Err() == nil {
				r.expiredIdle(s, parent, timeout)
			}
			w.release()
			c.Close()
		})
	}
	r.watchLeak(t, st, leak{scope: t.scope, tx: t.tx, conn: t.conn, cancel: t.cancel, w: t.w, exp: t.exp}, start)
	return t, nil
}

// txState is a tracked transaction's scope and out-of-band deadline
// state, in one allocation apart from the Tx: the registry and the
// sweeper hold them, and must not keep the Tx from being collected once
// its leak detection is attached. Until then (its first LeakCheckAfter)
// leakTx does hold it, on purpose (leakwatch.go).
type txState struct {
	scope scope.Scope
	w     txWatch
	exp   txExpiry

	// BEGIN's wait for a connection, out of band (wait.go).
	src       *Source
	parent    context.Context
	wait      waitCtx
	waitMu    sync.Mutex
	waitOver  bool
	waitTimer *time.Timer

	// Leak detection not yet attached (leakwatch.go). leakTx holds the Tx
	// until then, so it must be dropped when the transaction ends.
	leakMu  sync.Mutex
	leakTx  *Tx
	leakArg leak
	leakDue atomic.Int64 // a sweeper due; 0: attached, or ended
}

// isBudget reports whether err is a *TimeoutError of budget b. Apart from
// its caller so that the target errors.As needs is only allocated on the
// path that asks.
func isBudget(err error, b Budget) bool {
	var te *TimeoutError
	return errors.As(err, &te) && te.Budget == b
}

// leak is what the cleanup of a garbage-collected Tx needs; nothing in it
// refers back to the Tx.
type leak struct {
	scope  *scope.Scope
	tx     *sql.Tx
	conn   *sql.Conn
	cancel context.CancelFunc
	w      *txWatch
	exp    *txExpiry
}

// leaked runs when a Tx was garbage-collected. If it never ended, it was
// leaked: report it with the line that began it, then roll it back and
// give its connection back, which no pool does on its own.
func (r *Runtime) leaked(l leak) {
	if !l.scope.End() {
		return
	}
	// Cleanups share one runtime goroutine: the rollback's round trip (or
	// a dead server's timeout) must not hold up everyone else's.
	go r.rollbackLeaked(l)
}

func (r *Runtime) rollbackLeaked(l leak) {
	l.exp.end()
	_ = l.tx.Rollback()
	l.w.release()
	if l.conn != nil {
		l.conn.Close()
	}
	if l.cancel != nil {
		l.cancel()
	}
	r.reg.Close(l.scope)
	r.log.Error("leaked database transaction: garbage-collected without Commit or Rollback; rolled back",
		zap.String("caller", l.scope.Caller), zap.Uint64("scope_id", l.scope.ID), zap.String("source", l.scope.Source),
		zap.Duration("age", time.Since(l.scope.Start)), zap.String("stack", l.scope.Stack()))
	if r.opts.OnLeak != nil {
		r.opts.OnLeak(l.scope)
	}
}

// fail ends a transaction that never began: logs it and frees the timer.
func (t *Tx) fail(op string, err error, start time.Time) error {
	if t.cancel != nil {
		t.cancel()
	}
	t.rt.report(t.parent, t.src, int(numOps), t.scope, err, time.Since(start), nil, nil)
	return err
}

// Scope returns the transaction's scope (nil for GORM's implicit ones).
func (t *Tx) Scope() *scope.Scope { return t.scope }

// Deadline returns the transaction's own deadline and budget, if it has one.
func (t *Tx) Deadline() (time.Time, time.Duration, bool) {
	return t.deadline, t.timeout, !t.deadline.IsZero()
}

// PrepareContext prepares inside the transaction.
func (t *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, query)
}

// ExecContext runs inside the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryContext runs inside the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs inside the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, query, args...)
}

// StmtContext returns a transaction-specific prepared statement.
func (t *Tx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, stmt)
}

// Commit commits. A COMMIT that loses its connection returns a
// *CommitUnknownError; one refused because the transaction's own deadline
// passed returns a *TimeoutError.
func (t *Tx) Commit() error {
	start := clock.Now()
	// database/sql refuses a COMMIT whose context already ended without
	// sending it; once sent, a deadline or a lost connection leaves the
	// outcome unknown: the server may have committed.
	refused := t.ctx != nil && t.ctx.Err() != nil || t.exp.fired()
	t.finishing()
	var err error
	abandoned := false
	switch {
	case refused && t.exp.fired():
		// As database/sql does for an ended context: not sent. The
		// sweeper's rollback may not have run yet.
		_ = t.tx.Rollback()
		err = sql.ErrTxDone
	case t.bounded():
		err, abandoned = t.await(t.tx.Commit)
	default:
		err = t.tx.Commit()
	}
	if err != nil {
		if te := t.timedOut(err, "commit"); te != nil && refused {
			err = te
		} else if refused && !t.implicit && t.parent.Err() != nil && errors.Is(err, sql.ErrTxDone) {
			// The caller's cancel rolled it back before COMMIT: say so,
			// not "already committed or rolled back" (closed).
			err = fmt.Errorf("sessionplugin: COMMIT not sent, the caller's context ended first: %w", t.parent.Err())
		} else if !refused && CommitOutcomeUnknown(err) {
			err = &CommitUnknownError{Source: t.src.Name, Err: err}
		}
	}
	t.end("commit", err, start, abandoned)
	return err
}

// Rollback rolls back. If the transaction's deadline or the caller's
// cancel already rolled it back (database/sql does that when the context
// ends), Rollback returns nil: the work is undone either way. A second
// Rollback, or one after Commit, returns sql.ErrTxDone (category closed).
func (t *Tx) Rollback() error {
	start := clock.Now()
	t.finishing()
	var err error
	abandoned := false
	if t.bounded() {
		// A ROLLBACK cut by the deadline cannot have committed anything:
		// nil, like one database/sql already did.
		if err, abandoned = t.await(t.tx.Rollback); abandoned {
			err = nil
		}
	} else {
		err = t.tx.Rollback()
	}
	if errors.Is(err, sql.ErrTxDone) && !t.implicit && !t.scope.Ended() && (t.ctx.Err() != nil || t.exp.fired()) {
		err = nil
	}
	t.end("rollback", err, start, abandoned)
	return err
}

// finishing marks the transaction busy for good: its COMMIT or ROLLBACK
// is on its way, so a deadline passing now is not "while idle".
func (t *Tx) finishing() {
	if !t.implicit && t.scope != nil {
		t.scope.Finishing()
	}
	if t.exp != nil {
		t.exp.busy.Store(true)
	}
}

// bounded reports whether COMMIT and ROLLBACK need await to honour the
// transaction's deadline or the caller's cancel: a live tracked
// transaction whose context can still end, on a driver that ignores it
// there. (Once the context has ended database/sql answers at once.)
func (t *Tx) bounded() bool {
	return !t.implicit && t.src.ctxlessEnd && t.ctx.Done() != nil && t.ctx.Err() == nil && !t.scope.Ended()
}

// await runs the driver's COMMIT or ROLLBACK in a goroutine and waits for
// it until the transaction's context ends. Past that it returns the
// context's error and abandoned: the answer may still come (a healed
// link) or never; the connection goes back to the pool only when the
// driver returns, which the context's AfterFunc waits for.
func (t *Tx) await(fn func() error) (err error, abandoned bool) {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	select {
	case err = <-ch:
		return err, false
	case <-t.ctx.Done():
	}
	select {
	case err = <-ch:
		return err, false
	default:
		return t.ctx.Err(), true
	}
}

// timedOut returns a *TimeoutError if err comes from the transaction's own
// deadline having passed.
func (t *Tx) timedOut(err error, op string) error {
	own := t.cancel != nil && t.ctx.Err() == context.DeadlineExceeded || t.exp.fired()
	if !own || t.parent.Err() != nil {
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return &TimeoutError{Budget: BudgetTransaction, Timeout: t.timeout, Op: op, Source: t.src.Name, Err: err}
}

// end releases the connection, the timer and the scope, once. After an
// abandoned COMMIT or ROLLBACK the connection is still busy: the context's
// AfterFunc, already running, returns it when the driver does.
func (t *Tx) end(op string, err error, start time.Time, abandoned bool) {
	if t.implicit || !t.scope.End() {
		return
	}
	if t.stop != nil {
		t.stop()
	}
	t.st.unwatchLeak()
	broken := t.exp.end() // the sweeper stopped COMMIT or ROLLBACK on it
	t.w.release()
	if t.conn != nil {
		if abandoned {
			// Returns it when the driver does; the context's AfterFunc may
			// have lost the race with stop() above, so it cannot be relied on.
			go closeConn(t.conn, broken)
		} else {
			closeConn(t.conn, broken)
		}
	}
	if t.cancel != nil {
		t.cancel()
	}
	t.rt.reg.Close(t.scope)
	var already error // the deadline's line was written when it passed
	if t.scope.Expired() && isBudget(err, BudgetTransaction) {
		already = err
	}
	t.rt.report(t.parent, t.src, int(numOps), t.scope, err, time.Since(t.scope.Start), nil, already)
	_ = start
}

// closeConn gives conn back to the pool, or closes it for good if broken.
func closeConn(conn *sql.Conn, broken bool) {
	if broken {
		discard(conn)
	}
	conn.Close()
}

// expiredIdle logs a transaction whose own deadline passed while no
// statement ran: database/sql rolled it back, and nothing else would say
// so until the caller next used it (its Commit then fails with the
// *TimeoutError, not logged a second time). A deadline that passes during
// a statement is that statement's failure, logged by it.
func (r *Runtime) expiredIdle(s *scope.Scope, ctx context.Context, timeout time.Duration) {
	idle, since, last := s.Idle()
	if !idle || s.Ended() || !s.MarkExpired() {
		return
	}
	err := &TimeoutError{Budget: BudgetTransaction, Timeout: timeout, Op: "transaction", Source: s.Source, Err: context.DeadlineExceeded}
	cat := errclass.Classify(err)
	if ce := r.log.Check(cat.Level(), "database transaction rolled back by its deadline while idle"); ce != nil {
		ce.Write(r.fields(ctx, s, err, time.Since(s.Start), nil, zap.String("category", string(cat)),
			zap.String("last_statement", last), zap.Duration("idle", time.Since(since)))...)
	}
}

// CommitOutcomeUnknown reports whether a COMMIT that was sent failed in a
// way that leaves its outcome unknown: the connection broke, or a deadline
// or cancel cut the wait for the answer.
func CommitOutcomeUnknown(err error) bool {
	switch errclass.Classify(err) {
	case errclass.Connection, errclass.Timeout, errclass.Canceled:
		return true
	}
	return false
}
