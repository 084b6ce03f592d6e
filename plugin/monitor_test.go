package sessionplugin_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

func fastMonitor(c *sessionplugin.Config) {
	c.LongRunningThreshold = 100 * time.Millisecond
	c.IdleInTxThreshold = 100 * time.Millisecond
}

// A transaction held open past the threshold is reported once at warn with
// the line and stack that opened it, and once at info when it returns.
func TestLongRunningReportedOnceAndOnReturn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, logs := install(t, kind, fastMonitor)
		tx := db.Begin() // the line the report must name
		_, file, line, _ := runtime.Caller(0)
		want := "plugin/" + file[strings.LastIndex(file, "/")+1:] + ":" + itoa(line-1)
		waitFor(t, func() bool { return logs.FilterMessage("long-running database scope").Len() > 0 }, "the long-running report")
		time.Sleep(250 * time.Millisecond) // more ticks: it must not repeat
		reports := logs.FilterMessage("long-running database scope").All()
		if len(reports) != 1 {
			t.Fatalf("%d long-running reports, want exactly 1", len(reports))
		}
		f := reports[0].ContextMap()
		if f["caller"] != want || !strings.Contains(f["stack"].(string), "TestLongRunningReportedOnceAndOnReturn") {
			t.Errorf("report caller %v (want %s), stack %q", f["caller"], want, f["stack"])
		}
		if st := p.Stats(); st.LongRunning != 1 || st.LongRunningTotal != 1 {
			t.Errorf("Stats long-running now %d total %d, want 1 and 1", st.LongRunning, st.LongRunningTotal)
		}
		if s := p.ActiveScopes(); len(s) != 1 || !s[0].LongRunning {
			t.Errorf("ActiveScopes = %+v, want the transaction marked long-running", s)
		}
		tx.Rollback()
		back := logs.FilterMessage("long-running database scope returned").All()
		if len(back) != 1 || back[0].ContextMap()["returned_after"].(time.Duration) < 100*time.Millisecond {
			t.Fatalf("returned lines = %v, want one with returned_after >= 100ms", back)
		}
	})
}

func TestIdleInTransactionNamesLastStatement(t *testing.T) {
	db, p, logs := install(t, testdb.Postgres, fastMonitor)
	tx := db.Begin()
	defer tx.Rollback()
	tx.Create(&Item{Name: "then idle"}) // the last statement
	_, file, line, _ := runtime.Caller(0)
	want := "plugin/" + file[strings.LastIndex(file, "/")+1:] + ":" + itoa(line-1)
	waitFor(t, func() bool { return logs.FilterMessage("transaction idle in transaction").Len() > 0 }, "the idle report")
	f := logs.FilterMessage("transaction idle in transaction").All()[0].ContextMap()
	if f["last_statement"] != want {
		t.Errorf("last_statement = %v, want %s", f["last_statement"], want)
	}
	if s := p.ActiveScopes(); len(s) != 1 || !s[0].IdleInTx || s[0].LastStatement != want {
		t.Errorf("ActiveScopes = %+v, want the idle transaction", s)
	}
}

// A transaction dropped without Commit or Rollback is found by the garbage
// collector, reported as leaked with its line, rolled back, and its
// connection returned to the pool.
//
// With no transaction deadline, and with the default one (which the sweeper
// watches, and which must not end the transaction before the collector
// finds it).
func TestLeakedTransactionReportedAndReclaimed(t *testing.T) {
	for _, txTimeout := range []time.Duration{0, sessionplugin.DefaultConfig().TransactionTimeout} {
		t.Run(fmt.Sprintf("TransactionTimeout=%s", txTimeout), func(t *testing.T) {
			testLeakedTransaction(t, txTimeout)
		})
	}
}

func testLeakedTransaction(t *testing.T, txTimeout time.Duration) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, logs := install(t, kind, func(c *sessionplugin.Config) { c.TransactionTimeout = txTimeout })
		line := leakATransaction(db)
		sqlDB, _ := db.DB()
		waitFor(t, func() bool {
			runtime.GC()
			return p.Stats().Leaked == 1
		}, "the leaked transaction to be collected")
		l := logs.FilterMessage("leaked database transaction: garbage-collected without Commit or Rollback; rolled back").All()
		if len(l) != 1 || l[0].ContextMap()["caller"] != line {
			t.Fatalf("leak lines = %v, want one naming %s", l, line)
		}
		waitFor(t, func() bool { return sqlDB.Stats().InUse == 0 }, "the connection to return")
		if n := len(p.ActiveScopes()); n != 0 {
			t.Errorf("%d scopes open after the leak was reclaimed", n)
		}
		var n int64
		if err := db.Model(&Item{}).Where("name = ?", "leaked").Count(&n).Error; err != nil || n != 0 {
			t.Errorf("leaked insert visible (%d rows, %v): it must have been rolled back", n, err)
		}
	})
}

// Leak detection costs a runtime cleanup per transaction, so it is attached
// only to transactions still open LeakCheckAfter after BEGIN: the ones that
// end sooner never pay for it; one held longer gets it, and a leaked one is
// still found (TestLeakedTransactionReportedAndReclaimed, which leaks one
// within its first second).
func TestLeakCheckOnlyForLongTransactions(t *testing.T) {
	const after = 200 * time.Millisecond
	cases := []struct {
		name      string
		after     time.Duration
		wantShort uint64 // short transactions that get leak detection
	}{
		{"after 200ms", after, 0},
		{"negative: every transaction at once", -1, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer sessionplugin.SetLeakCheckAfter(sessionplugin.SetLeakCheckAfter(c.after))
			testLeakCheck(t, c.wantShort)
		})
	}
}

func testLeakCheck(t *testing.T, wantShort uint64) {
	const after = 200 * time.Millisecond
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		for i := range 20 {
			err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				if err := tx.Create(&Item{Name: fmt.Sprintf("short %d", i)}).Error; err != nil {
					return err
				}
				if i%2 == 1 {
					return errBusiness // rolled back
				}
				return nil
			})
			if err != nil && !errors.Is(err, errBusiness) {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * after) // the sweeper has passed all of their dues
		if n := sessionplugin.LeakChecksAttached(p); n != wantShort {
			t.Fatalf("%d short transactions got leak detection, want %d", n, wantShort)
		}
		begun := time.Now()
		long := db.Begin()
		if long.Error != nil {
			t.Fatal(long.Error)
		}
		defer long.Rollback()
		if wantShort == 0 {
			if n := sessionplugin.LeakChecksAttached(p); n != 0 {
				t.Fatalf("leak detection attached to a transaction %s old, before LeakCheckAfter (%s)", time.Since(begun), after)
			}
		}
		waitFor(t, func() bool { return sessionplugin.LeakChecksAttached(p) == wantShort+1 }, "the long transaction to get leak detection")
		if wantShort == 0 && time.Since(begun) < after {
			t.Errorf("leak detection attached %s after BEGIN, before LeakCheckAfter (%s)", time.Since(begun), after)
		}
	})
}

//go:noinline
func leakATransaction(db *gorm.DB) string {
	tx := db.Begin() //gormleak:ignore deliberate leak: the GC detector must find it
	_, file, line, _ := runtime.Caller(0)
	tx.Create(&Item{Name: "leaked"})
	return "plugin/" + file[strings.LastIndex(file, "/")+1:] + ":" + itoa(line-1)
}

func TestCloseIsIdempotent(t *testing.T) {
	_, p, _ := install(t, testdb.SQLite, fastMonitor)
	for i := 0; i < 3; i++ {
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := sessionplugin.New(sessionplugin.DefaultConfig()).Close(); err != nil {
		t.Fatalf("Close before Initialize: %v", err)
	}
}
