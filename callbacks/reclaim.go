package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
	"github.com/replyrocket/gormsession/internal/scope"
)

// DefaultReclaimAfter is Options.ReclaimAfter's default.
const DefaultReclaimAfter = 10 * time.Second

// errAbandoned is what the breaker is told of a reclaimed statement; it is
// excluded, so it never counts either way.
var errAbandoned = errors.New("gormsession: statement abandoned before its after-callback")

// Reclaim ends the statement scope s if its after-step will never run,
// and reports whether it did. That happens when a GORM callback or model
// hook panics between gormsession's before and after steps and something
// above GORM recovers (net/http does, and so does Transaction before it
// re-panics): GORM's callback chain has no recover, so the statement's
// connection, scope and breaker permit would stay taken for good.
//
// A statement is reclaimed once its context has ended (its deadline or
// the caller's cancel), or its transaction has ended, and it has stayed
// open for ReclaimAfter after Reclaim first saw that. A statement with
// neither a deadline nor a cancellable context cannot be told from a slow
// one and is never reclaimed. The reclaimed statement is logged at error
// level with the line that opened it; its connection goes back to the
// pool and its breaker permit is returned uncounted. Reclaim ignores a nil
// s, transaction scopes and scopes it did not open; now is the caller's
// clock (the monitor's tick).
func (r *Runtime) Reclaim(s *scope.Scope, now time.Time) bool {
	if s == nil {
		return false
	}
	sc, ok := s.Owner.(*stmtCtx)
	if !ok || !sc.armed.Load() || s.Ended() {
		return false
	}
	if sc.Context.Err() == nil && !sc.stopped.Load() && (s.Parent == nil || !s.Parent.Ended()) {
		return false
	}
	first := sc.suspect.Load()
	if first == 0 {
		sc.suspect.CompareAndSwap(0, now.UnixNano())
		return false
	}
	if now.Sub(time.Unix(0, first)) < r.reclaimAfter() || !s.End() {
		return false
	}
	age := now.Sub(s.Start)
	sc.permit.Done(breaker.Excluded(errAbandoned), age)
	if s.Parent != nil {
		s.Parent.StatementEnded(now)
	}
	r.log.Error("abandoned database statement: its GORM after-callback did not run within ReclaimAfter of its context ending (a callback or model hook panicked and the panic was recovered above GORM, or a hook ignores the context); connection returned, scope closed",
		zap.String("operation", s.Op), zap.String("table", s.Table), zap.String("source", s.Source),
		zap.String("caller", s.Caller), zap.Uint64("scope_id", s.ID), zap.Duration("age", age),
		zap.Bool("held_connection", sc.cp.conn != nil), zap.String("stack", s.Stack()))
	if t := sc.tx; t != nil {
		t.w.done(sc) // else it would keep the Tx from being collected
	}
	go func() {
		fired := sc.finishWatch()
		if sc.cp.conn != nil {
			// GORM's implicit transaction of an abandoned write is never
			// ended by GORM, and holds the connection until it is: both
			// discard and Close would wait for it for good.
			if tx := sc.cp.tx.Load(); tx != nil {
				_ = tx.Rollback() // waits for its statement; ErrTxDone if it did end
			}
			if fired && sc.discard {
				discard(sc.cp.conn) // waits for the statement to return
			}
			sc.cp.conn.Close() // waits for anything still running on it
		}
		r.release(sc)
	}()
	return true
}

// returnedAfterReclaim logs the after-step of a statement Reclaim already
// took back: it was late, not abandoned (a hook that ignored the context,
// a driver that does not interrupt). Its error, if any, was not counted.
func (r *Runtime) returnedAfterReclaim(sc *stmtCtx, err error) {
	s := &sc.scope
	if ce := r.log.Check(zapcore.WarnLevel, "database statement returned after it was taken back as abandoned"); ce != nil {
		ce.Write(r.fields(sc.parent, s, err, time.Since(s.Start), nil, zap.String("category", string(errclass.Classify(err))))...)
	}
}

func (r *Runtime) reclaimAfter() time.Duration {
	if r.opts.ReclaimAfter > 0 {
		return r.opts.ReclaimAfter
	}
	return DefaultReclaimAfter
}

// rowsCut logs Rows() that were still open when the statement's deadline
// passed (their rows.Err() is the statement's *TimeoutError; database/sql's
// bare context error where it ended them itself: MySQL, and the fallback
// of rowshook.go). This line says which budget it was, and where. It runs
// after the rows closed, and cannot see why they closed (rows.Err races
// with the caller's last Next): rows the caller finished within a
// scheduling delay of the deadline are reported as cut too.
func (r *Runtime) rowsCut(sc *stmtCtx) {
	if !sc.ownDeadlineFired() {
		return // the caller's own context ended first
	}
	elapsed := time.Since(sc.scope.Start)
	err := r.rowsTimeout(sc, context.DeadlineExceeded)
	if r.opts.OnEnd != nil {
		r.opts.OnEnd(&sc.scope, err, elapsed)
	}
	cat := errclass.Classify(err)
	if ce := r.log.Check(cat.Level(), "database rows cut by their deadline while being read"); ce != nil {
		ce.Write(r.fields(sc.parent, &sc.scope, err, elapsed, nil, zap.String("category", string(cat)))...)
	}
}

// closeAbandonedRows closes Rows() whose deadline passed ReclaimAfter ago
// and that their caller still has not closed, once nobody is reading them
// (until then every sweep tries again), and logs, once, where they were
// opened: the rows hold a connection, which would otherwise never go back
// to the pool. It runs on the sweeper, holding sc.mu.
func (r *Runtime) closeAbandonedRows(sc *stmtCtx, rows *sql.Rows) {
	s := &sc.scope
	if !sc.rowsReported {
		sc.rowsReported = true
		r.log.Error("database rows never closed: ended by their deadline, still open ReclaimAfter later; gormsession closes them and returns their connection once nobody reads them (a missing rows.Close()?)",
			zap.String("operation", s.Op), zap.String("table", s.Table), zap.String("source", s.Source),
			zap.String("caller", s.Caller), zap.Uint64("scope_id", s.ID), zap.Duration("age", time.Since(s.Start)),
			zap.String("stack", s.Stack()))
	}
	if !failIdleRows(rows, r.rowsTimeout(sc, context.DeadlineExceeded)) || !sc.rows.CompareAndSwap(rows, nil) {
		return
	}
	r.inBackground(func() { rows.Close() }) // calls rowsClosed, which takes sc.mu
}

// rowsTimeout is the error of Rows() cut by their deadline: the budget, and
// err, what the rows saw.
func (r *Runtime) rowsTimeout(sc *stmtCtx, err error) *TimeoutError {
	return &TimeoutError{Budget: sc.budget(), Timeout: sc.timeout, Waited: sc.waited, Op: sc.scope.Op, Table: sc.scope.Table, Source: sc.cp.src.Name, Err: err}
}
