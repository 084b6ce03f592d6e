package callbacks

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/scope"
)

type stmtKey struct{}

// stmtCtx is the context a statement runs under while its scope is open.
// It carries the scope itself, so the after-step and the connection wrapper
// find it with one type assertion, and it is one allocation for all of it.
type stmtCtx struct {
	context.Context                 // parent, or a deadline derived from it
	parent          context.Context // Statement.Context before the scope
	stmt            *gorm.Statement
	scope           scope.Scope
	tx              *Tx // the tracked transaction the statement runs in

	cancel   context.CancelFunc // set when the deadline is ours, in Context
	deadline time.Time          // set when the deadline is ours, out of band
	timeout  time.Duration      // the deadline's budget: the transaction's if txBudget, else the statement's

	origPool gorm.ConnPool // restored by the after-step
	// cp is the connection acquired for the statement, as installed in
	// Statement.ConnPool; cp.src is the statement's source on every route.
	cp     connPool
	waited time.Duration
	permit breaker.Permit // the breaker's admission; Done with the outcome

	loggedBelow error // an error a nested scope already logged

	// suspect holds when (unix nanos) Reclaim first saw the statement's
	// context ended with its after-step not yet run.
	suspect atomic.Int64

	// Out-of-band deadline (sweep.go). mu orders the sweeper's stopping of
	// the statement with the after-step's taking it back.
	mu   sync.Mutex
	due  atomic.Int64
	drv  any // the driver connection, as Raw gives it
	wait waitCtx
	// rows are a Rows() statement's, while the caller reads them: the
	// sweeper ends them at the deadline (rowshook.go).
	rows atomic.Pointer[sql.Rows]

	// The small fields last, packed into two words, past the last pointer
	// (the collector scans no further): a stmtCtx is allocated with every
	// statement, and its size class is paid for every statement.

	// armed is set once the before-step finished: only then may Reclaim
	// read the fields above.
	armed    atomic.Bool
	phase    atomic.Int32
	stopped  atomic.Bool // the sweeper stopped the statement
	op       Op
	rejected bool // refused before anything was sent
	discard  bool // stopped in a way that broke the connection
	txBudget bool // the deadline is the transaction's
	sharing  bool // runs on the connection of a statement it is nested in

	rowsReported bool // the sweeper logged the rows as never closed
}

// budget names the budget sc's deadline is from.
func (c *stmtCtx) budget() Budget {
	if c.txBudget {
		return BudgetTransaction
	}
	return BudgetStatement
}

// Deadline returns the statement's deadline when the sweeper enforces it,
// else the context's.
func (c *stmtCtx) Deadline() (time.Time, bool) {
	if !c.deadline.IsZero() {
		return c.deadline, true
	}
	return c.Context.Deadline()
}

// Value finds the scope; every other key goes to the parent chain.
func (c *stmtCtx) Value(key any) any {
	if key == (stmtKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// stmtFrom returns the open statement scope ctx belongs to, or nil.
func stmtFrom(ctx context.Context) *stmtCtx {
	if ctx == nil {
		return nil
	}
	if sc, ok := ctx.(*stmtCtx); ok {
		return sc
	}
	sc, _ := ctx.Value(stmtKey{}).(*stmtCtx)
	return sc
}

// ownDeadlineFired reports whether the deadline gormsession set expired,
// rather than the caller's own context ending.
func (c *stmtCtx) ownDeadlineFired() bool {
	if c.stopped.Load() {
		return true
	}
	return c.cancel != nil && c.Context.Err() == context.DeadlineExceeded && c.parent.Err() == nil
}
