package sessiontest

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// recorder is a TestingT that keeps what VerifyNoLeaks reports instead of
// failing the test.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// verify runs VerifyNoLeaks on db and returns its report, "" when clean.
func verify(t *testing.T, db *gorm.DB) string {
	t.Helper()
	var r recorder
	VerifyNoLeaks(&r, db)
	if len(r.msgs) > 1 {
		t.Fatalf("VerifyNoLeaks reported %d times, want at most once: %q", len(r.msgs), r.msgs)
	}
	return strings.Join(r.msgs, "")
}

// wantReport fails t unless report matches every pattern (regexps, matched
// line by line with (?m)).
func wantReport(t *testing.T, report string, patterns ...string) {
	t.Helper()
	if report == "" {
		t.Fatalf("VerifyNoLeaks reported nothing, want a leak")
	}
	for _, p := range patterns {
		if !regexp.MustCompile("(?m)" + p).MatchString(report) {
			t.Errorf("report does not match %q:\n%s", p, report)
		}
	}
}

// install puts the plugin on db with its defaults and closes it at cleanup.
func install(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
	t.Helper()
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	if err := db.Use(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// here returns "testing/leaks_test.go:N" for the line that calls it, the
// way the plugin names a caller; lineAbove, for the line above that.
func here() string { return callerLine(0) }

func lineAbove() string { return callerLine(-1) }

func callerLine(delta int) string {
	_, file, line, _ := runtime.Caller(2)
	return fmt.Sprintf("testing/%s:%d", file[strings.LastIndexByte(file, '/')+1:], line+delta)
}

type stock struct {
	ID   uint
	Name string
}

// seeded opens a fresh database of kind with a stocks table of three rows,
// the plugin installed when plugin is set.
func seeded(t *testing.T, open func(testing.TB) *gorm.DB, plugin bool) *gorm.DB {
	t.Helper()
	db := open(t)
	if plugin {
		install(t, db)
	}
	if err := db.AutoMigrate(&stock{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&[]stock{{Name: "a"}, {Name: "b"}, {Name: "c"}}).Error; err != nil {
		t.Fatal(err)
	}
	return db
}

// Work that ends everything it opens leaves nothing to report, with or
// without the plugin, and VerifyNoLeaks does not wait on a clean db.
func TestVerifyNoLeaksClean(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		for _, plugin := range []bool{false, true} {
			db := seeded(t, open, plugin)
			var got []stock
			if err := db.Find(&got).Error; err != nil {
				t.Fatal(err)
			}
			rows, err := db.Model(&stock{}).Rows()
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
			if err := db.Transaction(func(tx *gorm.DB) error { return tx.Create(&stock{Name: "d"}).Error }); err != nil {
				t.Fatal(err)
			}
			tx := db.Begin()
			tx.Create(&stock{Name: "e"})
			if err := tx.Commit().Error; err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if r := verify(t, db); r != "" {
				t.Errorf("plugin=%v: clean db reported:\n%s", plugin, r)
			}
			// Rows end asynchronously with the plugin; allow for that, no more.
			if d := time.Since(start); d > leakWait/2 {
				t.Errorf("plugin=%v: VerifyNoLeaks took %v on a clean db", plugin, d)
			}
		}
		// And a clean db passes a real *testing.T, run at cleanup as documented.
		t.Run("cleanup", func(t *testing.T) {
			db := seeded(t, open, true)
			t.Cleanup(func() { VerifyNoLeaks(t, db) })
			tx := db.Begin()
			tx.Rollback()
		})
	})
}

// An open db.Begin() is reported with the line that began it, and its
// connection; once rolled back, nothing is.
func TestVerifyNoLeaksOpenTransaction(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		db := seeded(t, open, true)
		tx, at := db.Begin(), here()
		t.Cleanup(func() { tx.Rollback() }) // before the pool closes, even on failure
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		wantReport(t, verify(t, db),
			`\Asessiontest: 1 database session still open:$`,
			`^  transaction #\d+ on primary, opened at `+regexp.QuoteMeta(at)+`, open for \d`,
			`^  1 connection of primary still in use\z`)
		if err := tx.Rollback().Error; err != nil {
			t.Fatal(err)
		}
		if r := verify(t, db); r != "" {
			t.Errorf("reported after Rollback:\n%s", r)
		}
	})
}

// Unclosed Rows are reported with their table and line, inside a
// transaction too, oldest first; once closed, nothing is.
func TestVerifyNoLeaksUnclosedRows(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		db := seeded(t, open, true)
		rows, err := db.Model(&stock{}).Rows()
		at := lineAbove()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rows.Close() })
		rows.Next()
		wantReport(t, verify(t, db),
			`\Asessiontest: 1 database session still open:$`,
			`^  rows #\d+ \(row\) on stocks, primary, opened at `+regexp.QuoteMeta(at)+`, open for \d`,
			`^  1 connection of primary still in use\z`)

		tx, txAt := db.Begin(), here()
		t.Cleanup(func() { tx.Rollback() })
		txRows, err := tx.Raw("SELECT name FROM stocks").Rows()
		txRowsAt := lineAbove()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { txRows.Close() })
		report := verify(t, db)
		wantReport(t, report,
			`\Asessiontest: 2 database sessions still open:$`,
			`^  rows #\d+ \(row\) on stocks, primary, opened at `+regexp.QuoteMeta(at)+`, open for`,
			`^  transaction #\d+ on primary, opened at `+regexp.QuoteMeta(txAt)+`, open for \S+, last statement at `+regexp.QuoteMeta(txRowsAt)+`$`,
			`^  2 connections of primary still in use\z`)
		// Rows inside the transaction use its connection and end with the
		// statement: the transaction is what holds them.
		if regexp.MustCompile(`(?m)^  rows .*opened at ` + regexp.QuoteMeta(txRowsAt)).MatchString(report) {
			t.Errorf("rows read inside the transaction reported on their own:\n%s", report)
		}
		if i, j := strings.Index(report, "rows #"), strings.Index(report, "transaction #"); i > j {
			t.Errorf("want oldest first (the rows, then the transaction):\n%s", report)
		}

		txRows.Close()
		rows.Close()
		tx.Rollback()
		if r := verify(t, db); r != "" {
			t.Errorf("reported after everything was closed:\n%s", r)
		}
	})
}

// Without the plugin, VerifyNoLeaks still finds connections in use, and
// says how to have them named.
func TestVerifyNoLeaksWithoutPlugin(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		db := seeded(t, open, false)
		tx := db.Begin()
		t.Cleanup(func() { tx.Rollback() })
		rows, err := db.Model(&stock{}).Rows()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rows.Close() })
		wantReport(t, verify(t, db),
			`\Asessiontest: 2 database connections still in use: a transaction, Rows or Conn was not ended\. `,
			`Install the plugin on this \*gorm\.DB \(db\.Use\(sessionplugin\.New\(sessionplugin\.DefaultConfig\(\)\)\)\) `+
				`to have each one named with the line that opened it\z`)
		rows.Close()
		if err := tx.Rollback().Error; err != nil {
			t.Fatal(err)
		}
		if r := verify(t, db); r != "" {
			t.Errorf("reported after everything was closed:\n%s", r)
		}
	})
}

// Rows a goroutine is still finishing with are not a leak: VerifyNoLeaks
// waits for them.
func TestVerifyNoLeaksWaitsForFinishingGoroutine(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		for _, plugin := range []bool{false, true} {
			db := seeded(t, open, plugin)
			rows, err := db.Model(&stock{}).Rows()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(200 * time.Millisecond)
				for rows.Next() {
				}
				rows.Close()
			}()
			start := time.Now()
			r := verify(t, db)
			<-done
			if r != "" {
				t.Errorf("plugin=%v: rows closed after 200ms reported:\n%s", plugin, r)
			}
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Errorf("plugin=%v: VerifyNoLeaks returned after %v, before the rows were closed", plugin, d)
			}
		}
	})
}

// A transaction the garbage collector found without Commit or Rollback is
// reported once, though the plugin already rolled it back.
func TestVerifyNoLeaksGarbageCollectedTransaction(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		db := open(t)
		p := install(t, db)
		if r := verify(t, db); r != "" {
			t.Fatalf("fresh db reported:\n%s", r)
		}
		dropTransaction(db)
		deadline := time.Now().Add(10 * time.Second)
		for p.Stats().Leaked == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the dropped transaction was never collected")
			}
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		wantReport(t, verify(t, db),
			`\Asessiontest: 1 leaked database transaction:$`,
			`^  1 transaction garbage-collected without Commit or Rollback \(rolled back; the plugin logged the line that began each\)\z`)
		if r := verify(t, db); r != "" {
			t.Errorf("the same collected transaction reported twice:\n%s", r)
		}
	})
}

// dropTransaction begins a transaction and drops it. It runs no statement
// in it: on PostgreSQL, pgx keeps the context of a connection's last
// argument-less statement, which refers back to the transaction and keeps
// it from ever being collected.
//
//go:noinline
func dropTransaction(db *gorm.DB) {
	db.Begin() //gormleak:ignore deliberate leak: the GC detector must find it
}

func TestVerifyNoLeaksNilDB(t *testing.T) {
	var r recorder
	VerifyNoLeaks(&r, nil)
	if len(r.msgs) != 1 || r.msgs[0] != "sessiontest: VerifyNoLeaks: nil *gorm.DB" {
		t.Fatalf("nil db: got %q", r.msgs)
	}
}

func TestDescribeScope(t *testing.T) {
	for _, c := range []struct {
		in   sessionplugin.ScopeInfo
		want string
	}{
		{sessionplugin.ScopeInfo{ID: 12, Operation: "transaction", Source: "primary", Caller: "handlers/order.go:42", Age: 1234 * time.Millisecond},
			"transaction #12 on primary, opened at handlers/order.go:42, open for 1.2s"},
		{sessionplugin.ScopeInfo{ID: 15, Operation: "row", Table: "items", Source: "primary", Caller: "handlers/list.go:17", Age: 1149 * time.Millisecond},
			"rows #15 (row) on items, primary, opened at handlers/list.go:17, open for 1.1s"},
		{sessionplugin.ScopeInfo{ID: 16, Operation: "raw", Source: "replica", Caller: "jobs/sync.go:9", Age: 350400 * time.Microsecond, TxID: 3},
			"statement #16 (raw) on replica, in transaction #3, opened at jobs/sync.go:9, open for 350ms"},
		{sessionplugin.ScopeInfo{ID: 4, Operation: "transaction", Source: "primary", Caller: "a/b.go:1", Age: 42 * time.Second, LastStatement: "a/b.go:3"},
			"transaction #4 on primary, opened at a/b.go:1, open for 42s, last statement at a/b.go:3"},
	} {
		if got := describe(c.in); got != c.want {
			t.Errorf("describe(%+v)\n got  %s\n want %s", c.in, got, c.want)
		}
	}
}
