package callbacks

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/internal/interrupt"
	"github.com/replyrocket/gormsession/internal/scope"
)

// txExpiry enforces a tracked transaction's own deadline out of band, as
// the sweeper does a statement's: the transaction's context then carries
// no timer, so BEGIN and COMMIT do not start the driver's watcher, and
// database/sql's transaction context does not hang off a timer context.
// When the deadline passes the sweeper stops whatever BEGIN, COMMIT or
// ROLLBACK is in flight, and rolls the transaction back and returns its
// connection, as database/sql and the AfterFunc do for a context deadline.
// It holds nothing that refers to the Tx, which must stay collectable for
// leak detection.
type txExpiry struct {
	due  atomic.Int64 // 0: not watched
	busy atomic.Bool  // BEGIN, COMMIT or ROLLBACK in flight

	mu      sync.Mutex
	state   int32 // txLive, txFired, txEnded; guarded by mu
	stopped bool  // the driver connection was stopped once
	broken  bool  // stopping it left the connection unusable (discard it)
	// gone: the connection is going back to the pool; the sweeper must
	// not stop it again, fired or not. Guarded by mu.
	gone bool

	drv     any
	w       *txWatch
	tx      *sql.Tx // set once BEGIN succeeded, under mu
	conn    *sql.Conn
	scope   *scope.Scope
	parent  context.Context
	timeout time.Duration
}

const (
	txLive int32 = iota
	txFired
	txEnded
)

// fired reports whether x's deadline passed. A nil x did not.
func (x *txExpiry) fired() bool {
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.state == txFired
}

// end stops the watch before the connection goes back to the pool: the
// sweeper never stops it after. It reports whether a stop already left the
// connection unusable, so that it is discarded rather than pooled. A nil x
// does nothing and reports false.
func (x *txExpiry) end() (broken bool) {
	if x == nil {
		return false
	}
	x.due.Store(0)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state == txLive {
		x.state = txEnded // ended on its own
	}
	x.gone = true
	return x.broken
}

// expireTx acts on x, whose deadline passed, and returns its next due (0:
// none). The first time, an idle transaction is logged, rolled back and
// its connection returned; as long as BEGIN, COMMIT or ROLLBACK is in
// flight its connection is stopped, again every refire.
func (r *Runtime) expireTx(x *txExpiry, now int64) int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state == txEnded || x.gone {
		return 0
	}
	first := x.state == txLive
	x.state = txFired
	if x.busy.Load() {
		discard, cancelOnServer, err := interrupt.Stop(x.drv)
		if cancelOnServer != nil && !x.stopped {
			r.cancelInBackground(cancelOnServer)
		}
		x.stopped = true
		x.broken = x.broken || discard || err != nil
	}
	if first && x.tx != nil {
		tx := x.tx
		r.sw.bg.Add(1)
		go func() {
			defer r.sw.bg.Done()
			if x.parent.Err() == nil { // else the caller's cancel ended it first
				r.expiredIdle(x.scope, x.parent, x.timeout)
			}
			_ = tx.Rollback() // waits for a statement still running
			x.w.release()
			closeConn(x.conn, x.end())
		}()
	}
	if !x.busy.Load() && !first {
		return 0
	}
	due := now + int64(refire)
	x.due.Store(due)
	return due
}
