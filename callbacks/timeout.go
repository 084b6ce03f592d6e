package callbacks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// Budget names the time budget a TimeoutError ran out of.
type Budget string

// The budgets.
const (
	// BudgetPool: waiting for a free connection (Config.PoolTimeout).
	BudgetPool Budget = "pool"
	// BudgetStatement: running one statement (QueryTimeout, an
	// OperationTimeouts entry, or WithTimeout).
	BudgetStatement Budget = "statement"
	// BudgetTransaction: the whole transaction (TransactionTimeout or
	// WithTxTimeout).
	BudgetTransaction Budget = "transaction"
)

// TimeoutError reports a deadline gormsession set and saw expire. It says
// which budget ran out and what the pool looked like.
//
// errors.Is(err, errclass.ErrPoolTimeout) holds when the wait for a
// connection ran out; errors.Is(err, errclass.ErrQueryTimeout) holds when a
// statement or transaction deadline of gormsession's ran out (both can hold:
// the statement's deadline can end its wait for a connection). It always
// matches context.DeadlineExceeded.
type TimeoutError struct {
	Budget  Budget        // the budget that ran out
	Timeout time.Duration // its size
	Waiting bool          // true if it ran out before a connection was obtained
	Waited  time.Duration // time spent waiting for a connection
	Op      string        // query, create, ..., begin, commit
	Table   string
	Source  string
	InUse   int // connections in use when it ran out (waiting only)
	MaxOpen int // the pool's MaxOpenConns (0 = unlimited)
	Waiters int // other callers waiting for this pool
	Err     error
}

// Error says which budget ran out, where, and the pool's state.
func (e *TimeoutError) Error() string {
	var b strings.Builder
	b.WriteString("sessionplugin: ")
	what := e.Op
	if e.Table != "" {
		what += " on " + e.Table
	}
	if e.Waiting {
		if e.Budget == BudgetPool {
			fmt.Fprintf(&b, "pool timeout: no connection to %s free within %s", e.Source, round(e.Timeout))
		} else {
			fmt.Fprintf(&b, "pool timeout: no connection to %s free after waiting %s (the %s's %s deadline ran out first)",
				e.Source, round(e.Waited), e.Budget, round(e.Timeout))
		}
		maxOpen := "unlimited"
		if e.MaxOpen > 0 {
			maxOpen = fmt.Sprint(e.MaxOpen)
		}
		fmt.Fprintf(&b, ": %d/%s connections in use, %d other callers waiting; %s not sent", e.InUse, maxOpen, e.Waiters, what)
	} else {
		fmt.Fprintf(&b, "%s timeout: %s on %s ran past its %s deadline", e.Budget, what, e.Source, round(e.Timeout))
		if e.Waited > time.Millisecond {
			fmt.Fprintf(&b, " (%s of it spent waiting for a connection)", round(e.Waited))
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the driver's or context's error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Is matches ErrPoolTimeout, ErrQueryTimeout and context.DeadlineExceeded as
// documented on the type.
func (e *TimeoutError) Is(target error) bool {
	switch target {
	case errclass.ErrPoolTimeout:
		return e.Waiting
	case errclass.ErrQueryTimeout:
		return e.Budget != BudgetPool
	case context.DeadlineExceeded:
		return true
	}
	return false
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// CommitUnknownError reports a COMMIT whose outcome is unknown: the
// connection was lost, or the deadline passed, while it was in flight. It matches
// errclass.ErrCommitUnknown and unwraps to the driver's error. Never retry
// the transaction blindly: it may have committed.
type CommitUnknownError struct {
	Source string
	Err    error
}

func (e *CommitUnknownError) Error() string {
	return "sessionplugin: commit outcome unknown on " + e.Source + ": COMMIT was sent and its answer lost: " + e.Err.Error()
}

// Unwrap returns the driver's error.
func (e *CommitUnknownError) Unwrap() error { return e.Err }

// Is matches errclass.ErrCommitUnknown.
func (e *CommitUnknownError) Is(target error) bool { return target == errclass.ErrCommitUnknown }
