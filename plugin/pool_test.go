package sessionplugin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// With the only connection held by a transaction, a statement and a BEGIN
// each fail after PoolTimeout with ErrPoolTimeout and a message that says
// which budget ran out and what the pool looked like.
func TestPoolTimeout(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) {
			c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 150*time.Millisecond
		})
		holder := db.Begin()
		if holder.Error != nil {
			t.Fatal(holder.Error)
		}
		defer holder.Rollback()

		var it Item
		stmtErr := db.First(&it).Error
		txErr := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			t.Error("fn ran without a connection")
			return nil
		})
		for name, err := range map[string]error{"statement": stmtErr, "BEGIN": txErr} {
			if !errors.Is(err, sessionplugin.ErrPoolTimeout) {
				t.Fatalf("%s: err = %v, want ErrPoolTimeout", name, err)
			}
			if errors.Is(err, sessionplugin.ErrQueryTimeout) {
				t.Errorf("%s: pool timeout also claims a query timeout: %v", name, err)
			}
			if c := sessionplugin.Classify(err); c != sessionplugin.CategoryPoolExhausted {
				t.Errorf("%s: Classify = %q, want pool_exhausted", name, c)
			}
			for _, want := range []string{"pool timeout", "primary", "1/1 connections in use", "150ms"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: message %q lacks %q", name, err, want)
				}
			}
		}
		if got := p.Stats().Errors[sessionplugin.CategoryPoolExhausted]; got < 2 {
			t.Errorf("Stats().Errors[pool_exhausted] = %d, want >= 2", got)
		}
	})
}

// When the statement's own deadline is shorter than PoolTimeout and ends
// the wait, the error says so: both sentinels hold.
func TestStatementDeadlineEndsTheWait(t *testing.T) {
	db, _, _ := install(t, testdb.SQLite, func(c *sessionplugin.Config) {
		c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 10*time.Second
	})
	holder := db.Begin()
	defer holder.Rollback()
	var it Item
	err := sessionplugin.WithTimeout(db, 100*time.Millisecond).First(&it).Error
	if !errors.Is(err, sessionplugin.ErrPoolTimeout) || !errors.Is(err, sessionplugin.ErrQueryTimeout) {
		t.Fatalf("err = %v; want both ErrPoolTimeout and ErrQueryTimeout", err)
	}
	if !strings.Contains(err.Error(), "statement's 100ms deadline ran out first") {
		t.Errorf("message %q does not name the statement budget", err)
	}
}

// A BEGIN waiting for a connection ends the way a statement's wait does:
// at PoolTimeout, at the transaction's own deadline if that is sooner,
// at once when the caller gives up, and with the connection when one is
// freed. On PostgreSQL and SQLite the wait has no timer unless it blocks.
func TestBeginWait(t *testing.T) {
	cases := []struct {
		name        string
		poolTimeout time.Duration
		opts        []sessionplugin.TxOption
		cancelAfter bool // the caller cancels once BEGIN waits
		releaseHold bool // the held connection is freed once BEGIN waits
		want        func(*testing.T, error)
	}{
		{"pool timeout", 150 * time.Millisecond, nil, false, false, wantBeginWaitTimeout("pool", 150*time.Millisecond)},
		{"transaction deadline first", 10 * time.Second, []sessionplugin.TxOption{sessionplugin.WithTxTimeout(150 * time.Millisecond)},
			false, false, wantBeginWaitTimeout("transaction", 150*time.Millisecond)},
		{"caller cancel", 10 * time.Second, nil, true, false, wantCanceled},
		{"connection freed", 10 * time.Second, nil, false, true, func(t *testing.T, err error) {
			if err != nil {
				t.Errorf("err = %v; want the transaction to run once the connection is free", err)
			}
		}},
	}
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				db, p, _ := install(t, kind, func(cfg *sessionplugin.Config) {
					cfg.PoolSize, cfg.MaxOverflow, cfg.PoolTimeout = 1, 0, c.poolTimeout
				})
				holder := db.Begin()
				if holder.Error != nil {
					t.Fatal(holder.Error)
				}
				defer holder.Rollback()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ran := make(chan struct{}, 1)
				done := make(chan error, 1)
				go func() {
					done <- sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
						ran <- struct{}{}
						var it Item
						return tx.Limit(1).Find(&it).Error
					}, c.opts...)
				}()
				if c.cancelAfter || c.releaseHold {
					waitFor(t, func() bool { return waiting(p) == 1 }, "BEGIN to wait for a connection")
					time.Sleep(50 * time.Millisecond) // let it block on the gate
					if c.cancelAfter {
						cancel()
					} else {
						holder.Rollback()
					}
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(5 * time.Second):
					t.Fatal("BEGIN's wait did not end within 5s")
				}
				c.want(t, err)
				if got := len(ran) == 1; got != c.releaseHold {
					t.Errorf("fn ran: %v, want %v", got, c.releaseHold)
				}
				waitFor(t, func() bool { return waiting(p) == 0 }, "no caller left waiting")
			})
		}
	})
}

// wantBeginWaitTimeout: BEGIN's wait for a connection ended at budget's
// deadline of d.
func wantBeginWaitTimeout(budget string, d time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var te *sessionplugin.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v; want a *TimeoutError", err)
		}
		if !te.Waiting || string(te.Budget) != budget || te.Timeout != d || te.Op != "begin" {
			t.Errorf("TimeoutError = %+v; want Waiting, Budget %s, Timeout %s, Op begin", te, budget, d)
		}
		if te.Waited < d {
			t.Errorf("waited %s, less than the %s deadline", te.Waited, d)
		}
		if !errors.Is(err, sessionplugin.ErrPoolTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v; want ErrPoolTimeout and DeadlineExceeded", err)
		}
		if c := sessionplugin.Classify(err); c != sessionplugin.CategoryPoolExhausted {
			t.Errorf("Classify = %q, want pool_exhausted", c)
		}
	}
}
