package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// acquire takes a connection from src for one statement or transaction,
// waiting at most PoolTimeout from start (the scope's start: its caller just
// read the clock) or until ctx ends, if sooner. A wait cut short by a
// deadline becomes a *TimeoutError that says which budget ran out; owned
// tells whether ctx's deadline is gormsession's (budget b).
func (r *Runtime) acquire(ctx context.Context, src *Source, start time.Time, op, table string, owned bool, b Budget, timeout time.Duration) (*sql.Conn, time.Duration, error) {
	waitCtx := ctx
	poolTimer := false
	if pt := r.opts.PoolTimeout; pt > 0 {
		if dl, ok := ctx.Deadline(); !ok || dl.After(start.Add(pt)) {
			var cancel context.CancelFunc
			waitCtx, cancel = context.WithTimeout(ctx, pt)
			defer cancel()
			poolTimer = true
		}
	}
	src.waiting.Add(1)
	conn, err := src.DB.Conn(waitCtx)
	waiters := src.waiting.Add(-1)
	waited := time.Since(start)
	if err == nil {
		return conn, waited, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != context.DeadlineExceeded {
		return nil, waited, err
	}
	if te := r.waitTimeout(src, err, waited, waiters, op, table, poolTimer && ctx.Err() == nil, owned, b, timeout); te != nil {
		return nil, waited, te
	}
	return nil, waited, err
}

// waitTimeout names the budget that ended a wait for a connection of src:
// PoolTimeout when pool (its timer ran out, the caller's context did not),
// b when own (a deadline of gormsession's ran out), else, with a
// PoolTimeout set, the caller's own shorter deadline counts as the pool's.
// It returns nil when none applies: err is then the caller's own.
func (r *Runtime) waitTimeout(src *Source, err error, waited time.Duration, waiters int64, op, table string, pool, own bool, b Budget, timeout time.Duration) *TimeoutError {
	te := &TimeoutError{Waiting: true, Waited: waited, Op: op, Table: table, Source: src.Name, Waiters: int(waiters), Err: err}
	switch {
	case pool:
		te.Budget, te.Timeout = BudgetPool, r.opts.PoolTimeout
	case own:
		te.Budget, te.Timeout = b, timeout
	case r.opts.PoolTimeout > 0:
		// The caller's own deadline, shorter than PoolTimeout, ended the wait.
		te.Budget, te.Timeout = BudgetPool, waited
	default:
		return nil
	}
	st := src.DB.Stats()
	te.InUse, te.MaxOpen = st.InUse, st.MaxOpenConnections
	return te
}

// connPool is a connection acquired for one statement, installed as its
// Statement.ConnPool. BEGIN on it (GORM's implicit transaction for writes)
// returns a Tx that reports a lost COMMIT as commit_unknown.
type connPool struct {
	conn *sql.Conn
	src  *Source
	// tx is GORM's implicit transaction on conn, once begun: until it
	// ends it holds conn, so a statement taken back with it still open
	// (Reclaim) must roll it back before conn can close.
	tx atomic.Pointer[sql.Tx]
}

var (
	_ gorm.ConnPool         = (*connPool)(nil)
	_ gorm.ConnPoolBeginner = (*connPool)(nil)
)

func (c *connPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.conn.PrepareContext(ctx, query)
}

func (c *connPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.conn.ExecContext(ctx, query, args...)
}

func (c *connPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.conn.QueryContext(ctx, query, args...)
}

func (c *connPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.conn.QueryRowContext(ctx, query, args...)
}

// BeginTx begins GORM's implicit transaction on the statement's connection.
func (c *connPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	tx, err := c.conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.tx.Store(tx)
	return &Tx{tx: tx, src: c.src, implicit: true}, nil
}
