package sessionplugin_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// sleepSQL returns a statement that runs for about secs seconds on kind.
func sleepSQL(kind testdb.Kind, secs int) string {
	switch kind {
	case testdb.Postgres:
		return "SELECT pg_sleep(" + itoa(secs) + ")"
	case testdb.MySQL:
		return "SELECT SLEEP(" + itoa(secs) + ")"
	}
	// SQLite has no sleep: count far enough to take seconds.
	return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < " + itoa(secs) + "00000000) SELECT max(x) FROM c"
}

func itoa(n int) string { return strconv.Itoa(n) }

// slowSQL returns a statement returning one integer that runs for at least
// d on db (of kind), and not much longer: SQLite's count is sized here, as
// its speed varies tenfold with -race and load.
func slowSQL(t *testing.T, db *gorm.DB, kind testdb.Kind, d time.Duration) string {
	t.Helper()
	secs := strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	switch kind {
	case testdb.Postgres:
		return "SELECT 7 FROM pg_sleep(" + secs + ")"
	case testdb.MySQL:
		return "SELECT SLEEP(" + secs + ")"
	}
	count := func(n int) string {
		return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < " + itoa(n) + ") SELECT max(x) FROM c"
	}
	for n := 10000; ; n *= 2 {
		var got int64
		start := time.Now()
		if err := sessionplugin.WithoutTimeout(db).Raw(count(n)).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if time.Since(start) >= d || n >= 1<<26 {
			return count(n)
		}
	}
}

func TestStatementDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, nil)
		cases := []struct {
			name string
			run  func(sql string) error
		}{
			{"raw scan", func(sql string) error {
				var n any
				return sessionplugin.WithTimeout(db, 200*time.Millisecond).Raw(sql).Scan(&n).Error
			}},
			{"exec", func(sql string) error { return sessionplugin.WithTimeout(db, 200*time.Millisecond).Exec(sql).Error }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := c.run(sleepSQL(kind, 10))
				if !errors.Is(err, sessionplugin.ErrQueryTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v; want ErrQueryTimeout and DeadlineExceeded", err)
				}
				if c := sessionplugin.Classify(err); c != sessionplugin.CategoryTimeout {
					t.Errorf("Classify = %q, want timeout", c)
				}
				var te *sessionplugin.TimeoutError
				if !errors.As(err, &te) || te.Budget != "statement" || te.Timeout != 200*time.Millisecond || te.Waiting {
					t.Errorf("TimeoutError = %+v; want statement budget of 200ms, not waiting", te)
				}
				if kind == testdb.Postgres {
					waitFor(t, func() bool { return !pgSleeping(t, db) }, "pg_sleep to leave pg_stat_activity")
				}
			})
		}
	})
}

// pgSleeping reports whether a pg_sleep(10) still runs on the server.
func pgSleeping(t *testing.T, db *gorm.DB) bool {
	var n int64
	err := sessionplugin.WithoutTimeout(db).Raw(
		"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(10)%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&n).Error
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// The caller's sooner deadline wins and is not reported as ours.
func TestCallerDeadlineIsNotOurs(t *testing.T) {
	db, _, _ := install(t, testdb.Postgres, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := db.WithContext(ctx).Exec("SELECT pg_sleep(10)").Error
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sessionplugin.ErrQueryTimeout) {
		t.Fatalf("err = %v; want the caller's DeadlineExceeded, not ErrQueryTimeout", err)
	}
}

func TestOperationTimeoutTable(t *testing.T) {
	db, _, _ := install(t, testdb.Postgres, func(c *sessionplugin.Config) {
		c.QueryTimeout = 30 * time.Second
		c.OperationTimeouts.Raw = 150 * time.Millisecond
	})
	err := db.Exec("SELECT pg_sleep(10)").Error
	var te *sessionplugin.TimeoutError
	if !errors.As(err, &te) || te.Timeout != 150*time.Millisecond {
		t.Fatalf("err = %v; want a 150ms statement timeout from OperationTimeouts.Raw", err)
	}
	// WithoutTimeout lifts it: a short sleep completes.
	if err := sessionplugin.WithoutTimeout(db).Exec("SELECT pg_sleep(0.3)").Error; err != nil {
		t.Fatalf("WithoutTimeout: %v", err)
	}
}

// Rows handed to the caller keep working under a deadline, long after the
// callbacks returned, and the scope ends when they are closed.
func TestReadersKeepWorkingWithDeadlines(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) { c.QueryTimeout = 5 * time.Second })
		for i := range 25 {
			if err := db.Create(&Item{Name: "item" + itoa(i), Price: i}).Error; err != nil {
				t.Fatal(err)
			}
		}
		rows, err := db.Model(&Item{}).Order("id").Rows()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let any early cancel hit
		n := 0
		for rows.Next() {
			var it Item
			if err := db.ScanRows(rows, &it); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil || n != 25 {
			t.Fatalf("Rows: read %d, err %v; want 25, nil", n, err)
		}
		rows.Close()

		var name string
		if err := db.Model(&Item{}).Select("name").Where("price = ?", 3).Row().Scan(&name); err != nil || name != "item3" {
			t.Errorf("Row().Scan = %q, %v", name, err)
		}
		var sum int
		if err := db.Raw("SELECT SUM(price) FROM items").Scan(&sum).Error; err != nil || sum != 300 {
			t.Errorf("Raw().Scan = %d, %v; want 300", sum, err)
		}
		var names []string
		if err := db.Model(&Item{}).Order("id").Pluck("name", &names).Error; err != nil || len(names) != 25 {
			t.Errorf("Pluck = %d names, %v", len(names), err)
		}
		batches, seen := 0, 0
		var batch []Item
		err = db.Model(&Item{}).FindInBatches(&batch, 10, func(tx *gorm.DB, _ int) error {
			batches++
			seen += len(batch)
			return nil
		}).Error
		if err != nil || batches != 3 || seen != 25 {
			t.Errorf("FindInBatches: %d batches, %d rows, %v; want 3, 25, nil", batches, seen, err)
		}
		waitFor(t, func() bool { return p.Stats().Active == 0 }, "all scopes to close")
	})
}

// cancelInside runs a Transaction whose fn writes a row, cancels the
// caller's context, stays idle for idle, and returns nil.
func cancelInside(db *gorm.DB, idle time.Duration, opts ...sessionplugin.TxOption) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Create(&Item{Name: "cancelled"}).Error; err != nil {
			return err
		}
		cancel()
		time.Sleep(idle)
		return nil
	}, opts...)
}

// A transaction its caller cancelled is not reported as rolled back by its
// deadline when that passes later, idle.
func TestTxCancelledThenIdlePastItsDeadlineIsNotReportedExpired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, logs := install(t, kind, nil)
		// Idle past the 200ms deadline.
		err := cancelInside(db, 400*time.Millisecond, sessionplugin.WithTxTimeout(200*time.Millisecond))
		if err == nil {
			t.Fatal("Transaction committed after its caller cancelled")
		}
		if n := logs.FilterMessage("database transaction rolled back by its deadline while idle").Len(); n != 0 {
			t.Errorf("%d lines say the deadline rolled back a transaction its caller cancelled", n)
		}
	})
}

// A transaction whose deadline passes while it is idle is reported when it
// passes, with the line of its last statement, and only then: its Commit
// fails with the transaction's TimeoutError, not logged a second time.
func TestTxExpiredWhileIdleIsLoggedOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, logs := install(t, kind, nil)
		const msg = "database transaction rolled back by its deadline while idle"
		err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			if err := tx.Create(&Item{Name: "idle"}).Error; err != nil {
				return err
			}
			waitFor(t, func() bool { return logs.FilterMessage(msg).Len() == 1 }, "the expiry line while the transaction is idle")
			return nil
		}, sessionplugin.WithTxTimeout(200*time.Millisecond))
		var te *sessionplugin.TimeoutError
		if !errors.As(err, &te) || te.Budget != "transaction" {
			t.Fatalf("Transaction = %v, want the transaction's TimeoutError", err)
		}
		line := logs.FilterMessage(msg).All()[0].ContextMap()
		if line["category"] != "timeout" || line["last_statement"] == "" {
			t.Errorf("expiry line fields = %v", line)
		}
		if n := logs.FilterMessage("database transaction failed").Len(); n != 0 {
			t.Errorf("the expired transaction was logged again at Commit (%d lines)", n)
		}
		var n int64
		if err := db.Model(&Item{}).Where("name = ?", "idle").Count(&n).Error; err != nil || n != 0 {
			t.Errorf("row count %d (%v), want 0: rolled back", n, err)
		}
	})
}

// A deadline that passes while COMMIT runs is that COMMIT's failure
// (commit_unknown), never "rolled back while idle".
func TestDeadlineDuringCommitIsNotIdle(t *testing.T) {
	db, _, logs := install(t, testdb.Postgres, nil)
	for _, q := range []string{
		"CREATE TABLE slow_commits (id int)",
		"CREATE FUNCTION slow_commit_fn() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.6); RETURN NULL; END $$ LANGUAGE plpgsql",
		"CREATE CONSTRAINT TRIGGER slow_commit_t AFTER INSERT ON slow_commits DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_fn()",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			return tx.Exec("INSERT INTO slow_commits VALUES (?)", i).Error
		}, sessionplugin.WithTxTimeout(300*time.Millisecond))
		if c := sessionplugin.Classify(err); c != sessionplugin.CategoryCommitUnknown {
			t.Errorf("run %d: %v (%s), want commit_unknown", i, err, c)
		}
	}
	if n := logs.FilterMessage("database transaction rolled back by its deadline while idle").Len(); n != 0 {
		t.Errorf("%d transactions reported rolled back while idle; their COMMIT was running", n)
	}
}

// A caller that cancels inside fn and returns nil gets canceled, not
// closed, and no error-level line: database/sql rolled back at the cancel.
func TestCommitAfterCallerCancel(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, logs := install(t, kind, nil)
		err := cancelInside(db, 0)
		if c := sessionplugin.Classify(err); c != sessionplugin.CategoryCanceled || !errors.Is(err, context.Canceled) {
			t.Errorf("Transaction = %v (%s), want canceled", err, c)
		}
		if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
			t.Errorf("%d error lines for the caller's own cancel: %v", n, logs.FilterLevelExact(zapcore.ErrorLevel).All())
		}
	})
}

// otherDB is what HookedRead's hook queries: another database, with a
// plugin of its own.
var otherDB *gorm.DB

// otherSQL is the slow statement the hook runs on otherDB.
var otherSQL string

// HookedRead's AfterFind queries another database under the statement's
// context, as a hook that enriches a row from a second store does.
type HookedRead struct {
	ID   uint
	Name string
}

func (*HookedRead) AfterFind(tx *gorm.DB) error {
	var n int64
	return otherDB.WithContext(tx.Statement.Context).Raw(otherSQL).Scan(&n).Error
}

// A statement nested in another (a hook's, under its context) but on a
// connection of its own is bound by the outer statement's deadline too,
// though that deadline is out of band, enforced on the outer connection.
func TestNestedStatementOnAnotherConnectionKeepsTheDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, func(c *sessionplugin.Config) { c.QueryTimeout = 300 * time.Millisecond })
		other, _, _ := install(t, kind, nil) // its own deadline: 30s
		if err := db.AutoMigrate(&HookedRead{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&HookedRead{Name: "x"}).Error; err != nil {
			t.Fatal(err)
		}
		otherDB, otherSQL = other, "SELECT 7 FROM pg_sleep(3)"
		switch kind {
		case testdb.MySQL:
			otherSQL = "SELECT SLEEP(3)"
		case testdb.SQLite:
			otherSQL = sleepSQL(kind, 3)
		}
		t.Cleanup(func() { otherDB = nil })
		start := time.Now()
		var rs []HookedRead
		err := db.Find(&rs).Error
		took := time.Since(start)
		var te *sessionplugin.TimeoutError
		if !errors.As(err, &te) || te.Timeout != 300*time.Millisecond {
			t.Fatalf("err = %v, want the outer statement's 300ms timeout", err)
		}
		if took > 2*time.Second {
			t.Fatalf("took %s: the nested statement ran past the outer deadline", took)
		}
	})
}

// A Row() whose query the deadline stops before its first row (SQLite
// runs a query to its first row inside QueryRowContext): the caller's Scan
// returns the statement's *TimeoutError, and it counts as a timeout.
func TestRowStoppedBeforeItsFirstRow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) {
			c.QueryTimeout = 200 * time.Millisecond
			c.Breaker.Disabled = true
		})
		var n int64
		err := db.Raw(sleepSQL(kind, 3)).Row().Scan(&n)
		var te *sessionplugin.TimeoutError
		if !errors.As(err, &te) || te.Timeout != 200*time.Millisecond || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Scan err = %v (%T), want the statement's 200ms *TimeoutError", err, err)
		}
		waitFor(t, func() bool { return p.Stats().Errors[sessionplugin.CategoryTimeout] == 1 }, "one timeout counted")
	})
}

// A query run through Row(), Rows() or Scan() inside a transaction is
// bound by the transaction's deadline while it runs, as other statements
// are (it used to run to its end).
func TestRowsInTransactionBoundByItsDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, func(c *sessionplugin.Config) { c.Breaker.Disabled = true })
		long := slowSQL(t, db, kind, 1500*time.Millisecond)
		start := time.Now()
		err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			var n int64
			return tx.Raw(long).Scan(&n).Error
		}, sessionplugin.WithTxTimeout(200*time.Millisecond))
		took := time.Since(start)
		if kind == testdb.MySQL {
			// The deadline is in the transaction's context, which
			// database/sql does not hand the query: it runs to its end, and
			// database/sql then closes its rows (README, Limits).
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want the transaction's deadline", err)
			}
			return
		}
		var te *sessionplugin.TimeoutError
		if !errors.As(err, &te) || te.Budget != "transaction" {
			t.Fatalf("err = %v, want the transaction's *TimeoutError", err)
		}
		if took > 1200*time.Millisecond {
			t.Fatalf("took %s: the query ran past the transaction's 200ms deadline", took)
		}
	})
}

// HookedTxRead's AfterFind runs a transaction on another database under
// the statement's context.
type HookedTxRead struct {
	ID   uint
	Name string
}

func (*HookedTxRead) AfterFind(tx *gorm.DB) error {
	return sessionplugin.Transaction(tx.Statement.Context, otherDB, func(t2 *gorm.DB) error {
		var n int64
		return t2.Raw(otherSQL).Scan(&n).Error
	})
}

// The statements of a transaction begun under a statement's context (in a
// hook, on another database) are bound by that statement's deadline.
func TestTransactionInHookKeepsTheStatementDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, func(c *sessionplugin.Config) { c.QueryTimeout = 300 * time.Millisecond })
		other, _, _ := install(t, kind, nil)
		if err := db.AutoMigrate(&HookedTxRead{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&HookedTxRead{Name: "x"}).Error; err != nil {
			t.Fatal(err)
		}
		otherDB, otherSQL = other, slowSQL(t, other, kind, 1500*time.Millisecond)
		t.Cleanup(func() { otherDB = nil })
		start := time.Now()
		var rs []HookedTxRead
		err := db.Find(&rs).Error
		if took := time.Since(start); took > 1200*time.Millisecond || err == nil {
			t.Fatalf("took %s, err %v: the transaction's statement ran past the outer deadline", took, err)
		}
	})
}
