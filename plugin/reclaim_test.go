package sessionplugin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Panicky's AfterFind hook panics: GORM runs it between gormsession's
// before and after steps, and GORM's callback chain has no recover.
type Panicky struct {
	ID   uint
	Name string
}

func (*Panicky) AfterFind(*gorm.DB) error { panic("hook panicked") }

// PanickyWrite's BeforeCreate hook panics inside GORM's implicit
// transaction, which then holds the statement's connection until someone
// ends it.
type PanickyWrite struct {
	ID   uint
	Name string
}

func (*PanickyWrite) BeforeCreate(*gorm.DB) error { panic("hook panicked") }

// recovered runs fn and swallows its panic, as net/http does for a handler.
func recovered(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}

// A statement whose after-step never runs (a hook panicked, something
// above recovered) is taken back: its connection returns to the pool, its
// scope closes, the breaker is not charged, and one error line names the
// line that ran it.
func TestAbandonedStatementIsReclaimed(t *testing.T) {
	defer sessionplugin.SetReclaimAfter(sessionplugin.SetReclaimAfter(100 * time.Millisecond))
	cases := []struct {
		name string
		run  func(t *testing.T, db *gorm.DB) any
	}{
		{"statement deadline", func(t *testing.T, db *gorm.DB) any {
			return recovered(func() {
				var ps []Panicky
				sessionplugin.WithTimeout(db, 500*time.Millisecond).Find(&ps)
			})
		}},
		{"caller cancel, no deadline", func(t *testing.T, db *gorm.DB) any {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			return recovered(func() {
				var ps []Panicky
				sessionplugin.WithoutTimeout(db.WithContext(ctx)).Find(&ps)
			})
		}},
		{"write in GORM's implicit transaction", func(t *testing.T, db *gorm.DB) any {
			return recovered(func() {
				sessionplugin.WithTimeout(db, 500*time.Millisecond).Create(&PanickyWrite{Name: "boom"})
			})
		}},
		{"inside Transaction", func(t *testing.T, db *gorm.DB) any {
			return recovered(func() {
				_ = sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
					var ps []Panicky
					return sessionplugin.WithoutTimeout(tx).Find(&ps).Error
				})
			})
		}},
	}
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db, p, logs := install(t, kind, func(c *sessionplugin.Config) {
					c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 2*time.Second
					c.LongRunningThreshold = 200 * time.Millisecond // a 50ms monitor tick
				})
				if err := db.AutoMigrate(&Panicky{}, &PanickyWrite{}); err != nil {
					t.Fatal(err)
				}
				if err := db.Create(&Panicky{Name: "boom"}).Error; err != nil {
					t.Fatal(err)
				}
				if r := tc.run(t, db); r == nil {
					t.Fatal("the hook did not panic")
				}
				waitFor(t, func() bool { return p.Stats().Reclaimed == 1 }, "the statement to be reclaimed")
				waitFor(t, func() bool { return p.Stats().Active == 0 }, "its scope to close")
				// The only connection is back: this would wait PoolTimeout and fail otherwise.
				var n int64
				if err := db.Model(&Item{}).Count(&n).Error; err != nil {
					t.Fatalf("after reclaim: %v", err)
				}
				if c := p.Breaker("primary").Counts(); c.Failures != 0 {
					t.Errorf("breaker charged for the abandoned statement: %+v", c)
				}
				lines := logs.FilterMessageSnippet("abandoned database statement").All()
				if len(lines) != 1 {
					t.Fatalf("%d abandoned-statement lines, want 1", len(lines))
				}
				if c := lines[0].ContextMap()["caller"]; !strings.Contains(c.(string), "reclaim_test.go") {
					t.Errorf("caller = %v, want this test file", c)
				}
			})
		}
	})
}

// A statement that is merely slow is never reclaimed, even past the wait.
func TestSlowStatementIsNotReclaimed(t *testing.T) {
	defer sessionplugin.SetReclaimAfter(sessionplugin.SetReclaimAfter(10 * time.Millisecond))
	db, p, _ := install(t, testdb.Postgres, func(c *sessionplugin.Config) {
		c.LongRunningThreshold = 40 * time.Millisecond
	})
	if err := db.Exec("SELECT pg_sleep(0.4)").Error; err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Reclaimed; n != 0 {
		t.Fatalf("Reclaimed = %d for a slow statement", n)
	}
}

// Statements through gorm's PrepareStmt are gated by the breaker too.
func TestPreparedStatementsAreGated(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		prepared := db.Session(&gorm.Session{PrepareStmt: true})
		var it Item
		if err := prepared.Limit(1).Find(&it).Error; err != nil {
			t.Fatal(err)
		}
		p.Breaker("primary").SetMode(breaker.ModeForcedOpen)
		err := prepared.Limit(1).Find(&it).Error
		if !errors.Is(err, sessionplugin.ErrCircuitOpen) {
			t.Fatalf("prepared read with the breaker forced open: %v, want circuit_open", err)
		}
		p.Breaker("primary").SetMode(breaker.ModeNormal)
		if err := prepared.Limit(1).Find(&it).Error; err != nil {
			t.Fatal(err)
		}
	})
}

// Rows() cut by the statement's own deadline while the caller reads them
// get a log line naming the budget, and count as a timeout in Stats.
func TestRowsCutByDeadlineAreLogged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, logs := install(t, kind, nil)
		for i := range 5 {
			if err := db.Create(&Item{Name: string(rune('a' + i))}).Error; err != nil {
				t.Fatal(err)
			}
		}
		rows, err := sessionplugin.WithTimeout(db, 150*time.Millisecond).Model(&Item{}).Rows()
		if err != nil {
			t.Fatal(err)
		}
		read := 0
		for rows.Next() {
			read++
			time.Sleep(100 * time.Millisecond) // a slow consumer
		}
		rerr := rows.Err()
		rows.Close()
		if !errors.Is(rerr, context.DeadlineExceeded) || read >= 5 {
			t.Fatalf("read %d rows, Err = %v; want the deadline to cut them", read, rerr)
		}
		waitFor(t, func() bool { return p.Stats().Active == 0 }, "the scope to close")
		lines := logs.FilterMessageSnippet("rows cut by their deadline").All()
		if len(lines) != 1 {
			t.Fatalf("%d rows-cut lines, want 1", len(lines))
		}
		f := lines[0].ContextMap()
		if f["category"] != "timeout" || !strings.Contains(f["error"].(string), "statement timeout") {
			t.Errorf("fields = %v", f)
		}
		if n := p.Stats().Errors[sessionplugin.CategoryTimeout]; n != 1 {
			t.Errorf("Stats().Errors[timeout] = %d, want 1", n)
		}
	})
}

// A server-side cancel that cannot reach the server does not hold the
// caller: the statement returns its timeout, its connection is discarded
// (pgx's socket was cut), and the cancel request goes on in the
// background until it gives up.
func TestUnreachableCancelDoesNotHoldCaller(t *testing.T) {
	db, p, proxy := behindProxy(t, testdb.Postgres, func(c *sessionplugin.Config) { c.Breaker.Disabled = true })
	if err := db.Exec("SELECT 1").Error; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sessionplugin.WithTimeout(db, 300*time.Millisecond).Exec("SELECT pg_sleep(5)").Error }()
	time.Sleep(100 * time.Millisecond)
	proxy.SetBlackhole(true) // the cancel request's dial now hangs
	err := <-done
	if !errors.Is(err, sessionplugin.ErrQueryTimeout) {
		t.Fatalf("err = %v, want a statement timeout", err)
	}
	waitFor(t, func() bool { return p.Stats().Active == 0 }, "the statement's scope to close")
	proxy.SetBlackhole(false)
}

// SlowHook's AfterFind ignores the context and sleeps.
type SlowHook struct {
	ID   uint
	Name string
}

func (*SlowHook) AfterFind(*gorm.DB) error { time.Sleep(1500 * time.Millisecond); return nil }

// A statement that is only late (a hook ignoring the context) is taken back
// like an abandoned one; when its after-step does come, it says so.
func TestLateAfterStepIsReported(t *testing.T) {
	defer sessionplugin.SetReclaimAfter(sessionplugin.SetReclaimAfter(100 * time.Millisecond))
	db, p, logs := install(t, testdb.SQLite, func(c *sessionplugin.Config) {
		c.LongRunningThreshold = 200 * time.Millisecond // a 50ms monitor tick
	})
	if err := db.AutoMigrate(&SlowHook{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&SlowHook{Name: "slow"}).Error; err != nil {
		t.Fatal(err)
	}
	var hs []SlowHook
	if err := sessionplugin.WithTimeout(db, 100*time.Millisecond).Find(&hs).Error; err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Reclaimed; n != 1 {
		t.Fatalf("Reclaimed = %d, want 1 (the hook outlived the deadline by more than ReclaimAfter)", n)
	}
	if n := logs.FilterMessageSnippet("returned after it was taken back").Len(); n != 1 {
		t.Errorf("%d returned-after-reclaim lines, want 1", n)
	}
	waitFor(t, func() bool { return p.Stats().Active == 0 }, "no scope left open")
}

// NestedPanicky's BeforeCreate runs a statement of its own, with a shorter
// deadline, in the same transaction, then panics: the Create's after-step
// never runs.
type NestedPanicky struct {
	ID   uint
	Name string
}

func (*NestedPanicky) BeforeCreate(tx *gorm.DB) error {
	if err := sessionplugin.WithTimeout(tx, 50*time.Millisecond).Exec("SELECT 1").Error; err != nil {
		return err
	}
	panic("hook panicked")
}

// A transaction that ended no longer owns its connection: the deadlines of
// its statements must not stop what runs on that connection next. Two ways
// a statement's watch outlived its transaction: a statement whose
// after-step never ran, under a nested one that did (the nested one used
// to hide it from the transaction's end), and a statement started on a
// transaction its deadline had already ended (racing the sweeper).
func TestEndedTransactionLeavesItsConnectionAlone(t *testing.T) {
	defer sessionplugin.SetReclaimAfter(sessionplugin.SetReclaimAfter(100 * time.Millisecond))
	ctx := context.Background()
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) {
			c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 5*time.Second
			c.QueryTimeout = 300 * time.Millisecond
			c.Breaker.Disabled = true
		})
		if err := db.AutoMigrate(&NestedPanicky{}); err != nil {
			t.Fatal(err)
		}
		// long runs on the only connection for about a second, past the
		// 300ms deadline the ended transaction's statement had.
		longSQL := slowSQL(t, db, kind, time.Second)
		long := func() error {
			var n int64
			return sessionplugin.WithTimeout(db, 30*time.Second).Raw(longSQL).Scan(&n).Error
		}
		t.Run("statement abandoned under a nested one", func(t *testing.T) {
			r := recovered(func() {
				_ = sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
					return tx.Create(&NestedPanicky{Name: "x"}).Error
				})
			})
			if r == nil {
				t.Fatal("the hook did not panic")
			}
			if err := long(); err != nil {
				t.Fatalf("a statement on the connection the transaction gave back: %v", err)
			}
			// The Create is still abandoned, and taken back as such.
			waitFor(t, func() bool { return p.Stats().Reclaimed == 1 }, "the abandoned Create to be reclaimed")
		})
		t.Run("statement after the transaction's deadline", func(t *testing.T) {
			done := make(chan error, 1)
			err := sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
				time.Sleep(250 * time.Millisecond) // the deadline rolls it back, idle
				go func() { done <- long() }()
				time.Sleep(100 * time.Millisecond) // long has the connection now
				var err error
				for range 20 {
					if err = tx.Exec("SELECT 1").Error; err == nil {
						return errors.New("a statement ran on an expired transaction")
					}
				}
				return err
			}, sessionplugin.WithTxTimeout(100*time.Millisecond))
			if err == nil {
				t.Fatal("the transaction did not report its deadline")
			}
			if err := <-done; err != nil {
				t.Fatalf("a statement on the connection the transaction gave back: %v", err)
			}
		})
	})
}
