package callbacks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// cancelWait is how long a statement's caller waits for the server-side
// cancel; past it, the cancel goes on in the background.
const cancelWait = 100 * time.Millisecond

// cancelTimeout bounds the cancel request itself (a dial and a write).
const cancelTimeout = 2 * time.Second

// cancelOnServer makes PostgreSQL stop the statement of sc, whose deadline
// passed. pgx's default reaction to a cancelled context closes the socket,
// and the server keeps running the query (pg_sleep does not notice a gone
// client). A cancel request with the backend's key stops it; the
// connection is then discarded so a late cancel can never hit the next
// statement on it. Other drivers: nothing to do (SQLite interrupts itself;
// MySQL is documented).
//
// It reports whether it finished. A cancel that takes longer than
// cancelWait (the server is unreachable) goes on in the background, which
// then returns the connection and releases sc: the caller must not.
func (r *Runtime) cancelOnServer(sc *stmtCtx) bool {
	var pc *pgconn.PgConn
	if c, ok := driverConnOf(sc.cp.conn).(interface{ Conn() *pgx.Conn }); ok {
		pc = c.Conn().PgConn()
	}
	if pc == nil {
		return true
	}
	// 0: running; 1: finished while the caller waited; 2: the caller left.
	var state atomic.Int32
	finished := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
		_ = pc.CancelRequest(ctx)
		cancel()
		discard(sc.cp.conn)
		if !state.CompareAndSwap(0, 1) {
			sc.cp.conn.Close()
			r.release(sc)
		}
		close(finished)
	}()
	t := time.NewTimer(cancelWait)
	defer t.Stop()
	select {
	case <-finished:
		return true
	case <-t.C:
		if state.CompareAndSwap(0, 2) {
			return false
		}
		<-finished
		return true
	}
}

// discard marks conn broken, so database/sql closes it instead of pooling it.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
}
