package callbacks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// waitResult names the budget by whose deadline came first, not by
// whether the caller's context had ended by the time the waiter woke: a
// waiter woken late, after both deadlines passed, must still blame the
// sooner one.
func TestWaitResultBlamesTheSoonerDeadline(t *testing.T) {
	const d = 150 * time.Millisecond
	start := time.Now().Add(-time.Second) // both deadlines long past
	waitDL := start.Add(d)
	cases := []struct {
		name        string
		poolTimeout time.Duration
		waitDL      time.Time // zero: the wait had no deadline of its own
		poolBudget  bool      // waitDL is PoolTimeout's
		callerDL    time.Time // zero: the caller has none
		wantBudget  Budget    // "": the caller's own error, unchanged
	}{
		{"transaction's deadline first, caller's just after", 10 * time.Second, waitDL, false, waitDL.Add(time.Microsecond), BudgetTransaction},
		{"pool's deadline first, caller's just after", d, waitDL, true, waitDL.Add(time.Microsecond), BudgetPool},
		{"caller's deadline first, with a PoolTimeout", 10 * time.Second, waitDL, false, waitDL.Add(-time.Millisecond), BudgetPool},
		{"caller's deadline first, no PoolTimeout", 0, waitDL, false, waitDL.Add(-time.Millisecond), ""},
		{"same instant: the caller's", 0, waitDL, false, waitDL, ""},
		{"no deadline of the wait's own", 0, time.Time{}, false, waitDL, ""},
		{"no caller deadline", 10 * time.Second, waitDL, false, time.Time{}, BudgetTransaction},
	}
	// waitTimeout reads the pool's stats: any *sql.DB will do, unopened.
	db := sql.OpenDB(nil)
	defer db.Close()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRuntime(Options{PoolTimeout: c.poolTimeout})
			defer r.Close()
			parent := context.Background()
			if !c.callerDL.IsZero() {
				var cancel context.CancelFunc
				parent, cancel = context.WithDeadline(parent, c.callerDL)
				defer cancel()
			}
			st := &txState{src: &Source{Name: "primary", DB: db}, parent: parent}
			w := &st.wait
			w.rt, w.tx, w.deadline = r, st, c.waitDL
			_, _, err := r.waitResult(w, nil, context.DeadlineExceeded, start, c.poolBudget, "begin", "", BudgetTransaction, d)
			var te *TimeoutError
			switch {
			case c.wantBudget == "":
				if errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v; want the caller's context.DeadlineExceeded as is", err)
				}
			case !errors.As(err, &te):
				t.Errorf("err = %v; want a *TimeoutError of budget %s", err, c.wantBudget)
			case te.Budget != c.wantBudget || !te.Waiting:
				t.Errorf("TimeoutError = %+v; want Waiting, budget %s", te, c.wantBudget)
			}
		})
	}
}

// dialer is a connector whose dial waits for its context to end, deriving
// a context from it first, as pgx's does: a derived context reads its
// parent's Err when the parent's cancel reaches it.
type dialer struct{ dials atomic.Int32 }

func (d *dialer) Connect(ctx context.Context) (driver.Conn, error) {
	d.dials.Add(1)
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	<-ctx.Done()
	_ = child
	return nil, ctx.Err()
}

func (d *dialer) Driver() driver.Driver { return nil }

// A wait woken while a dial runs under its context, and waiting again,
// must leave that context ended: the derived context's cancel may run
// after the retry started, and a parent whose Err went back to nil makes
// the context package panic ("missing cancel error").
func TestWaitRetryLeavesEndedContextEnded(t *testing.T) {
	d := &dialer{}
	db := sql.OpenDB(d)
	defer db.Close()
	r := NewRuntime(Options{})
	defer r.Close()
	parent, cancel := context.WithCancel(context.Background())
	st := &txState{src: &Source{Name: "primary", DB: db}, parent: parent}
	w := &st.wait
	w.rt, w.tx = r, st
	done := make(chan error, 1)
	go func() {
		_, _, err := r.waitConn(w)
		done <- err
	}()
	for i := range int32(300) {
		for d.dials.Load() <= i {
			runtime.Gosched()
		}
		st.src.kickWaiters(nil)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waitConn = %v, want the caller's context.Canceled", err)
	}
}
