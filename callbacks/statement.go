package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/clock"
	"github.com/replyrocket/gormsession/internal/scope"
)

// dbresolver marks the statement's context with its choice when its
// TraceResolverMode is on; the key is its unexported constant's value.
const resolverModeKey = dbresolver.ResolverModeKey("dbresolver:resolver_mode_key")

// route says how a statement reaches the database, from Statement.ConnPool.
type route uint8

const (
	routeAcquire     route = iota // a pool: take a connection for the statement
	routePassthrough              // a connection already held (nested, db.Connection, prepared)
	routeTx                       // inside a transaction
	routePrepared                 // gorm's PrepareStmt pool: gated, its own connections
)

func (r *Runtime) resolve(stmt *gorm.Statement) (*Source, *Tx, route) {
	switch p := stmt.ConnPool.(type) {
	case *Pool:
		return p.src, nil, routeAcquire
	case *sql.DB:
		hint, _ := stmt.Context.Value(resolverModeKey).(dbresolver.ResolverMode)
		return r.source(p, string(hint)), nil, routeAcquire
	case *connPool:
		return p.src, nil, routePassthrough
	case *Tx:
		if p.implicit {
			return p.src, nil, routeTx
		}
		return p.src, p, routeTx
	case *gorm.PreparedStmtTX:
		if t, ok := p.Tx.(*Tx); ok && !t.implicit {
			return t.src, t, routeTx
		}
		return r.Primary(), nil, routeTx
	case *gorm.PreparedStmtDB:
		// Prepared statements take connections inside gorm's cache, out of
		// our reach: the breaker still gates them, PoolTimeout cannot.
		if db, ok := p.ConnPool.(*sql.DB); ok {
			return r.source(db, ""), nil, routePrepared
		}
		if pp, ok := p.ConnPool.(*Pool); ok {
			return pp.src, nil, routePrepared
		}
	case gorm.TxCommitter:
		return r.Primary(), nil, routeTx
	}
	return r.Primary(), nil, routePassthrough
}

// Before opens the statement's scope: deadline, breaker gate, connection.
// A refusal calls db.AddError, so GORM never sends the statement.
func (r *Runtime) Before(op Op) func(*gorm.DB) {
	return func(db *gorm.DB) {
		if db.Error != nil || db.DryRun {
			return
		}
		stmt := db.Statement
		parent := stmt.Context
		if parent == nil {
			parent = context.Background()
		}
		src, tx, rt := r.resolve(stmt)
		if src == nil {
			return // no primary yet: the plugin is not initialized
		}
		outer := stmtFrom(parent) // the statement this one is nested in, if any
		var shared *connPool
		if rt == routeAcquire && outer != nil {
			// A nested statement (Preload, a hook) whose source dbresolver
			// picked again: reuse the connection the outer one holds, as
			// waiting for a second one could deadlock a small pool.
			if owner := connOwner(outer); owner != nil && owner.cp.src == src {
				shared, rt = &owner.cp, routePassthrough
			}
		}
		now := clock.Now()
		sc := &stmtCtx{Context: parent, parent: parent, stmt: stmt, op: op, tx: tx}
		sc.cp.src = src
		sc.scope = scope.Scope{Kind: scope.Statement, Op: opNames[op], Table: stmt.Table, Source: src.Name, Start: now, Ctx: parent, Owner: sc}
		if tx != nil {
			sc.scope.Parent = tx.scope
		}
		// On an outer statement's connection: the one just shared, or the
		// one a hook's or Preload's statement inherits as its pool.
		_, inherited := stmt.ConnPool.(*connPool)
		sc.sharing = shared != nil || inherited
		stmt.Context = sc
		if (rt == routeAcquire || rt == routePrepared) && src.brk != nil {
			if err := src.brk.AdmitAt(&sc.permit, now); err != nil {
				// Refused: the scope ends at once, so it needs its caller
				// but neither the opening stack nor a deadline.
				scope.CaptureCaller(&sc.scope, 1)
				r.reg.Open(&sc.scope)
				sc.rejected = true
				sc.armed.Store(true)
				db.AddError(err)
				return
			}
		}
		scope.Capture(&sc.scope, 1)
		r.reg.Open(&sc.scope)
		if tx != nil {
			tx.scope.StatementStarted(&sc.scope)
		}
		// Rows handed to the caller outlive the after-step: their
		// deadline is out of band only where the rows' close can be
		// heard of (rowshook.go).
		oob := (op != OpRow || rowsHookable) && r.outOfBand() && (rt == routeAcquire || rt == routeTx && tx != nil && tx.w != nil)
		r.setDeadline(sc, outer, rt, now, oob)
		if shared != nil {
			sc.origPool = stmt.ConnPool
			stmt.ConnPool = shared
		}
		if rt != routeAcquire {
			if oob && !sc.deadline.IsZero() {
				r.watchInTx(sc, tx.w)
			}
			sc.armed.Store(true)
			return
		}
		var conn *sql.Conn
		var waited time.Duration
		var err error
		if oob {
			conn, waited, err = r.acquireOutOfBand(sc, src, now, sc.deadline)
		} else {
			conn, waited, err = r.acquire(sc, src, now, sc.scope.Op, stmt.Table, sc.cancel != nil, sc.budget(), sc.timeout)
		}
		sc.waited = waited
		if err != nil {
			sc.rejected = true
			sc.armed.Store(true)
			db.AddError(err)
			return
		}
		if !sc.deadline.IsZero() {
			r.arm(sc, conn)
		}
		sc.cp.conn = conn
		sc.origPool = stmt.ConnPool
		stmt.ConnPool = &sc.cp
		sc.armed.Store(true)
	}
}

// connOwner returns the statement whose connection the statements nested
// in o run on: o or the nearest above it that took one of its own,
// through those that share it (a Preload inside a Preload). It returns nil
// when none holds a connection, or for a nil o.
func connOwner(o *stmtCtx) *stmtCtx {
	for ; o != nil; o = stmtFrom(o.parent) {
		if o.cp.conn != nil {
			return o
		}
		if !o.sharing {
			return nil // it neither holds a connection nor shares one
		}
	}
	return nil
}

// setDeadline derives the statement's deadline: the per-call override, else
// the operation's entry, else QueryTimeout; inside a tracked transaction no
// later than the transaction's. A sooner deadline of the caller's wins.
//
// With oob the deadline is only recorded, for the sweeper to enforce once
// the statement has its connection (see arm). outer is the statement sc is
// nested in, or nil.
func (r *Runtime) setDeadline(sc, outer *stmtCtx, rt route, now time.Time, oob bool) {
	d, ok := statementOverride(sc.parent)
	if !ok {
		d = r.opts.OpTimeouts[sc.op]
		if d == 0 {
			d = r.opts.QueryTimeout
		}
	}
	// Rows handed to the caller outlive the callbacks; only a connection
	// we hold tells us when they close, so only then can we time them. In
	// a transaction the query itself runs under the transaction's
	// deadline; the rows then end with the transaction (database/sql
	// closes them when it rolls back).
	if sc.op == OpRow && rt != routeAcquire {
		if rt != routeTx || sc.tx == nil || !oob {
			return // a deadline in the context would end the rows at the after-step
		}
		d = 0
	}
	var deadline time.Time
	if d > 0 {
		deadline = now.Add(d)
		sc.txBudget, sc.timeout = false, d
	}
	// An ended transaction's deadline is not this statement's: it fails
	// as a statement on an ended transaction (closed), however late.
	if sc.tx != nil && !sc.tx.scope.Ended() {
		if tdl, td, ok := sc.tx.Deadline(); ok && (deadline.IsZero() || tdl.Before(deadline)) {
			deadline = tdl
			sc.txBudget, sc.timeout = true, td
		}
	}
	// A statement this one is nested in may have an out-of-band deadline:
	// the sweeper enforces it on that statement's connection only. On a
	// connection of its own (another source, another database) this one
	// enforces it too. (Its caller's own deadline, if any, is later: the
	// outer statement's would not be out of band otherwise.)
	adopted := false
	if o := outer; o != nil && !sc.sharing && !o.deadline.IsZero() && (deadline.IsZero() || o.deadline.Before(deadline)) {
		deadline, adopted = o.deadline, true
		sc.txBudget, sc.timeout = o.txBudget, o.timeout
	}
	if deadline.IsZero() {
		return
	}
	if pdl, ok := sc.parent.Deadline(); ok && !pdl.After(deadline) && !adopted {
		return
	}
	if oob {
		sc.deadline = deadline
		return
	}
	sc.Context, sc.cancel = context.WithDeadline(sc.parent, deadline)
}

// arm hands sc's deadline to the sweeper, which stops the statement on
// conn through its driver when it passes; for a driver that cannot be
// stopped that way, the deadline goes into the statement's context after
// all. The statement has not been sent yet.
func (r *Runtime) arm(sc *stmtCtx, conn *sql.Conn) {
	if sc.drv = stoppableConn(sc.cp.src, conn); sc.drv != nil {
		r.watch(sc, phaseRunning, r.sw.at(sc.deadline))
		return
	}
	sc.Context, sc.cancel = context.WithDeadline(sc.parent, sc.deadline)
	sc.deadline = time.Time{}
}

// stoppableConn returns conn's driver connection if the sweeper can stop
// statements on it, else nil.
func stoppableConn(src *Source, conn *sql.Conn) any {
	dc := driverConnOf(conn)
	if !src.stoppable(dc) {
		return nil
	}
	return dc
}

// After closes the statement's scope: restores the context and pool,
// names a timeout, reports to the breaker, logs a failure once, and
// releases the connection — when the caller closes the rows, for Rows().
func (r *Runtime) After(op Op) func(*gorm.DB) {
	return func(db *gorm.DB) {
		stmt := db.Statement
		if op == OpRow && db.Error != nil && !db.DryRun {
			giveRowItsError(db)
		}
		sc, ok := stmt.Context.(*stmtCtx)
		if !ok {
			if sc = stmtFrom(stmt.Context); sc == nil || sc.stmt != stmt {
				return
			}
		}
		stmt.Context = sc.parent
		if sc.origPool != nil {
			stmt.ConnPool = sc.origPool
		}
		// Rows handed to the caller on a connection of ours, under an
		// out-of-band deadline or none: their watch goes on until they
		// close (rowshook.go).
		var rows *sql.Rows
		if op == OpRow && sc.cp.conn != nil && sc.cancel == nil && db.Error == nil && rowsHookable {
			rows = rowsOf(stmt.Dest)
		}
		fired := false
		if rows == nil {
			fired = sc.finishWatch()
		}
		if sc.tx != nil {
			sc.tx.w.done(sc)
		}
		if !sc.scope.End() {
			// Reclaim took the statement back (its connection is closed):
			// say that it did come back, and how.
			r.returnedAfterReclaim(sc, db.Error)
			return
		}
		end := clock.Now()
		elapsed := end.Sub(sc.scope.Start)
		err := db.Error
		// A Row() whose query failed keeps the error in the *sql.Row, for
		// its Scan; GORM's db.Error stays nil. It is the statement's error.
		var rowErr *error
		if err == nil && op == OpRow {
			if rowErr = rowErrOf(stmt.Dest); rowErr != nil {
				err = *rowErr
			}
		}
		cancelling := false // the server-side cancel still runs, and will release
		if err != nil && !sc.rejected && (fired || sc.ownDeadlineFired()) {
			var te *TimeoutError
			if !errors.As(err, &te) {
				if sc.cp.conn != nil && !fired {
					cancelling = !r.cancelOnServer(sc)
				}
				err = &TimeoutError{Budget: sc.budget(), Timeout: sc.timeout, Waited: sc.waited, Op: sc.scope.Op, Table: stmt.Table, Source: sc.cp.src.Name, Err: err}
				if rowErr != nil {
					*rowErr = err // what the caller's Scan returns
				} else {
					db.Error = err
				}
			}
		}
		sc.permit.Done(breakerOutcome(err, sc.parent), elapsed)
		if sc.tx != nil {
			sc.tx.scope.StatementEnded(end)
		}
		logged := r.report(sc.parent, sc.cp.src, int(op), &sc.scope, err, elapsed, db, sc.loggedBelow)
		// Drivers may keep the last context they were given (pgx does); it
		// must not keep the statement or its transaction reachable, or a
		// leaked transaction could never be collected and reported.
		sc.stmt, sc.tx, sc.origPool = nil, nil, nil
		if logged {
			if outer := stmtFrom(sc.parent); outer != nil {
				outer.loggedBelow = err
			}
		}
		if cancelling {
			return
		}
		if rows != nil {
			r.handOverRows(sc, rows)
			return
		}
		if op == OpRow && sc.cp.conn != nil {
			// Rows that could not be hooked: a goroutine waits for them.
			rows := rowsOf(stmt.Dest)
			if rows != nil && err != nil {
				rows.Close() // the caller got an error: nobody else will
				rows = nil
			}
			// The caller reads the rows after we return; the connection goes
			// back, the timer stops and the scope ends when they close them.
			go func() {
				if fired && sc.discard {
					discard(sc.cp.conn)
				}
				sc.cp.conn.Close() // waits for the rows to close
				if rows != nil {
					r.rowsCut(sc)
				}
				r.release(sc)
			}()
			return
		}
		if sc.cp.conn != nil {
			if fired && sc.discard {
				discard(sc.cp.conn)
			}
			sc.cp.conn.Close()
		}
		r.release(sc)
	}
}

// handOverRows leaves sc open while the caller reads rows, which hold its
// connection: rowsClosed ends it when they close. If the sweeper stopped
// the statement before it could see the rows, they are cut here.
func (r *Runtime) handOverRows(sc *stmtCtx, rows *sql.Rows) {
	sc.rows.Store(rows)
	if !hookRowsClose(rows, func() { r.rowsClosed(sc, rows, true) }) {
		r.rowsClosed(sc, rows, false)
		return
	}
	// Stored, then loaded, as the sweeper stores stopped and then loads
	// rows: one of the two sees the other.
	if sc.stopped.Load() {
		expireRows(rows, r.rowsTimeout(sc, context.DeadlineExceeded))
		rows.Close() // nobody reads them yet: it does not block
	}
}

// rowsClosed ends a Rows() statement once its rows closed and let go of
// its connection: the watch, the connection and the scope. inClose tells
// that the rows' close is calling it, holding their lock.
func (r *Runtime) rowsClosed(sc *stmtCtx, rows *sql.Rows, inClose bool) {
	fired := sc.finishWatch()
	sc.rows.Store(nil)
	if fired {
		if inClose {
			wrapRowsErr(rows, func(err error) error { return r.rowsTimeout(sc, err) })
		}
		r.rowsCut(sc)
		if sc.discard {
			discard(sc.cp.conn)
		}
	}
	sc.cp.conn.Close()
	r.release(sc)
}

func (r *Runtime) release(sc *stmtCtx) {
	if sc.cancel != nil {
		sc.cancel()
	}
	r.reg.Close(&sc.scope)
}

// breakerOutcome is what the breaker should count: nothing when the
// caller's own context ended.
func breakerOutcome(err error, caller context.Context) error {
	if err != nil && caller.Err() != nil {
		return breaker.Excluded(err)
	}
	return err
}
