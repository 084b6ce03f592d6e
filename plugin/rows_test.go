package sessionplugin_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

func seedItems(t *testing.T, db *gorm.DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.Create(&Item{Name: fmt.Sprintf("r%d", i), Price: i}).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func inUse(t *testing.T, db *gorm.DB) int {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return sqlDB.Stats().InUse
}

// Rows handed to the caller hold their connection and scope, and nothing
// else: no goroutine waits for them to close (on PostgreSQL and SQLite,
// where the deadline is the sweeper's; on MariaDB the deadline stays in
// the rows' context, and database/sql parks a goroutine per Rows for it).
func TestOpenRowsHoldNoGoroutine(t *testing.T) {
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.SQLite} {
		t.Run(string(kind), func(t *testing.T) {
			db, p, _ := install(t, kind, nil) // 15 connections
			seedItems(t, db, 3)
			var it Item
			if err := db.First(&it).Error; err != nil { // the sweeper is running from here on
				t.Fatal(err)
			}
			const open = 10
			before := runtime.NumGoroutine()
			var held []interface{ Close() error }
			for range open {
				rows, err := db.Model(&Item{}).Rows()
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, rows)
			}
			grew := runtime.NumGoroutine() - before
			if n := p.Stats().Active; n != open {
				t.Errorf("Stats().Active = %d with %d rows open, want %d", n, open, open)
			}
			if n := inUse(t, db); n != open {
				t.Errorf("%d connections in use with %d rows open", n, open)
			}
			for _, rows := range held {
				rows.Close()
			}
			if grew >= open/2 {
				t.Errorf("%d goroutines more with %d rows open: one per Rows", grew, open)
			}
			waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "the rows' scopes and connections to be released")
		})
	}
}

// Rows the caller never reads nor closes are ended at their deadline, as
// an expired context ends them, and closed ReclaimAfter later with an
// error line: the connection goes back, the scope closes, and the caller's
// next Next says why. Row() never scanned likewise.
func TestAbandonedRowsEndAtDeadline(t *testing.T) {
	defer sessionplugin.SetReclaimAfter(sessionplugin.SetReclaimAfter(100 * time.Millisecond))
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, logs := install(t, kind, nil)
		seedItems(t, db, 5)
		rows, err := sessionplugin.WithTimeout(db, 200*time.Millisecond).Model(&Item{}).Rows() //gormleak:ignore closed at the end, after the deadline
		if err != nil {
			t.Fatal(err)
		}
		row := sessionplugin.WithTimeout(db, 200*time.Millisecond).Raw("SELECT name FROM items").Row()
		waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "the abandoned rows to be released at their deadline")
		if rows.Next() {
			t.Error("Next after the deadline = true")
		}
		var te *sessionplugin.TimeoutError
		if err := rows.Err(); !errors.Is(err, context.DeadlineExceeded) || kind != testdb.MySQL && !errors.As(err, &te) {
			t.Errorf("rows.Err() = %v, want the statement's *TimeoutError (on MySQL database/sql's context.DeadlineExceeded)", err)
		}
		rows.Close()
		var name string
		if err := row.Scan(&name); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Row().Scan after the deadline = %v, want context.DeadlineExceeded", err)
		}
		if n := logs.FilterMessageSnippet("rows cut by their deadline").Len(); n != 2 {
			t.Errorf("%d rows-cut lines, want 2", n)
		}
		if kind != testdb.MySQL { // there the deadline is in the rows' context: database/sql closes them
			never := logs.FilterMessageSnippet("rows never closed").All()
			if len(never) != 2 {
				t.Fatalf("%d never-closed lines, want 2", len(never))
			}
			if c, _ := never[0].ContextMap()["caller"].(string); !strings.Contains(c, "rows_test.go") {
				t.Errorf("never-closed caller = %q, want this file", c)
			}
		}
		var n int64
		if err := db.Model(&Item{}).Count(&n).Error; err != nil || n != 5 {
			t.Fatalf("Count after = %d, %v: the connections must be usable", n, err)
		}
	})
}

// Rows whose caller's context ends while they are read are closed by
// database/sql, and that releases the plugin's hold on them too.
func TestRowsEndedByCallerCancel(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		seedItems(t, db, 5)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rows, err := db.WithContext(ctx).Model(&Item{}).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if !rows.Next() {
			t.Fatalf("no first row: %v", rows.Err())
		}
		cancel()
		waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "the cancelled rows to be released")
		for rows.Next() {
		}
		if err := rows.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("rows.Err() = %v, want context.Canceled", err)
		}
		if n := p.Stats().Errors[sessionplugin.CategoryTimeout]; n != 0 {
			t.Errorf("Stats().Errors[timeout] = %d, want 0: the caller cancelled", n)
		}
	})
}

// A caller scanning into sql.RawBytes keeps the rows' lock between Scan and
// the next Next; the deadline must end the rows without closing them under
// the caller (go.dev/issue/60304): the caller's next Next returns false and
// Err says why. Run with -race.
func TestRowsDeadlineWithRawBytes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		seedItems(t, db, 5)
		rows, err := sessionplugin.WithTimeout(db, 100*time.Millisecond).Model(&Item{}).Select("name").Order("id").Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		read := 0
		for rows.Next() {
			var raw sql.RawBytes
			if err := rows.Scan(&raw); err != nil {
				t.Fatal(err)
			}
			time.Sleep(60 * time.Millisecond) // the deadline passes while raw is held
			if got := string(raw); got != fmt.Sprintf("r%d", read) {
				t.Fatalf("row %d: RawBytes = %q after the deadline: freed under the caller", read, got)
			}
			read++
		}
		if err := rows.Err(); !errors.Is(err, context.DeadlineExceeded) || read >= 5 {
			t.Fatalf("read %d, Err = %v; want the deadline to end the rows", read, err)
		}
		rows.Close()
		waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "the rows to be released")
	})
}

// The deadline passing between the query and the after-step (a slow
// callback after GORM's row callback): the caller gets rows that are
// already ended, and closing them releases everything.
func TestRowsExpiredBeforeHandOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		seedItems(t, db, 3)
		slow := func(db *gorm.DB) {
			if _, ok := db.Statement.Dest.(*sql.Rows); ok {
				time.Sleep(150 * time.Millisecond)
			}
		}
		if err := db.Callback().Row().After("gorm:row").Register("test:slow", slow); err != nil {
			t.Fatal(err)
		}
		rows, err := sessionplugin.WithTimeout(db, 50*time.Millisecond).Model(&Item{}).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if rows.Next() {
			t.Error("Next on rows past their deadline = true")
		}
		if err := rows.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err = %v, want context.DeadlineExceeded", err)
		}
		rows.Close()
		waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "the rows to be released")
	})
}

// Rows whose connection breaks while they are read (reset, or gone silent
// past the deadline) end with an error and, once closed, give the broken
// connection back: nothing stays in use, and the next statement runs on a
// new connection.
func TestRowsConnectionBrokenMidRead(t *testing.T) {
	for _, fault := range []string{"reset", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			db, p, proxy := behindProxy(t, testdb.Postgres, func(c *sessionplugin.Config) { c.Breaker.Disabled = true })
			if err := db.AutoMigrate(&Item{}); err != nil {
				t.Fatal(err)
			}
			items := make([]Item, 20000)
			for i := range items {
				items[i] = Item{Name: fmt.Sprintf("bulk%d", i), Price: i}
			}
			if err := db.CreateInBatches(items, 2000).Error; err != nil {
				t.Fatal(err)
			}
			rows, err := sessionplugin.WithTimeout(db, 500*time.Millisecond).Model(&Item{}).Rows()
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			if !rows.Next() {
				t.Fatalf("no first row: %v", rows.Err())
			}
			if fault == "reset" {
				proxy.ResetAll()
			} else {
				proxy.SetBlackhole(true)
			}
			read := 1
			for rows.Next() {
				read++
			}
			rerr := rows.Err()
			rows.Close()
			proxy.SetBlackhole(false)
			if rerr == nil || read >= len(items) {
				t.Fatalf("read %d of %d rows, Err = %v; want the broken connection to end them", read, len(items), rerr)
			}
			var te *sessionplugin.TimeoutError
			if fault == "reset" && errors.As(rerr, &te) {
				t.Errorf("Err = %v: a reset well within the deadline is not a *TimeoutError", rerr)
			}
			if fault == "blackhole" && (!errors.As(rerr, &te) || te.Budget != "statement" || !errors.Is(rerr, context.DeadlineExceeded)) {
				t.Errorf("Err = %v, want the statement's *TimeoutError (a context.DeadlineExceeded)", rerr)
			}
			waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "the broken rows' connection to be given back")
			var n int64
			if err := db.Model(&Item{}).Count(&n).Error; err != nil || n != int64(len(items)) {
				t.Fatalf("Count after = %d, %v", n, err)
			}
		})
	}
}

// Many callers reading, closing early, reading past the deadline, scanning
// single rows and abandoning rows, at once, under short deadlines: every
// connection and scope comes back, with no race (run with -race).
func TestRowsStress(t *testing.T) {
	defer sessionplugin.SetReclaimAfter(sessionplugin.SetReclaimAfter(50 * time.Millisecond))
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.SQLite} {
		t.Run(string(kind), func(t *testing.T) {
			db, p, _ := install(t, kind, nil)
			seedItems(t, db, 40)
			const workers, rounds = 6, 30
			var abandoned []*sql.Rows
			var mu sync.Mutex
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range rounds {
						d := time.Duration(5+(w*7+i*3)%40) * time.Millisecond
						q := sessionplugin.WithTimeout(db, d)
						switch (w + i) % 5 {
						case 0: // read all, or be cut
							rows, err := q.Model(&Item{}).Rows()
							if err != nil {
								continue // the deadline may pass before the rows come
							}
							for rows.Next() {
								var it Item
								_ = db.ScanRows(rows, &it)
							}
							rows.Close()
						case 1: // close early
							rows, err := q.Model(&Item{}).Rows()
							if err == nil {
								rows.Next()
								rows.Close()
							}
						case 2: // a slow reader, past the deadline
							rows, err := q.Model(&Item{}).Rows()
							if err != nil {
								continue
							}
							for rows.Next() {
								var raw sql.RawBytes
								_ = rows.Scan(new(int), &raw, new(int))
								time.Sleep(2 * time.Millisecond)
							}
							if err := rows.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("slow reader: Err = %v", err)
							}
							rows.Close()
						case 3: // Row
							var name string
							_ = q.Raw("SELECT name FROM items ORDER BY id").Row().Scan(&name)
						case 4: // abandoned
							rows, err := q.Model(&Item{}).Rows()
							if err == nil {
								mu.Lock()
								abandoned = append(abandoned, rows)
								mu.Unlock()
							}
						}
					}
				}()
			}
			wg.Wait()
			waitFor(t, func() bool { return p.Stats().Active == 0 && inUse(t, db) == 0 }, "every rows' connection and scope to come back")
			for _, rows := range abandoned {
				rows.Close()
			}
		})
	}
}

// Row() on a statement that was never sent (breaker open, an earlier
// error in the chain) returns a *sql.Row carrying the error, not GORM's
// nil *sql.Row, on which the caller's Scan would panic.
func TestRowNeverSentCarriesItsError(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		p.Breaker("primary").SetMode(breaker.ModeForcedOpen)
		row := db.Raw("SELECT 1").Row()
		var n int
		if err := row.Scan(&n); !errors.Is(err, sessionplugin.ErrCircuitOpen) {
			t.Errorf("Row().Scan with the breaker open = %v, want ErrCircuitOpen", err)
		}
		if err := row.Err(); !errors.Is(err, sessionplugin.ErrCircuitOpen) {
			t.Errorf("Row().Err() = %v, want ErrCircuitOpen", err)
		}
		if _, err := db.Raw("SELECT 1").Rows(); !errors.Is(err, sessionplugin.ErrCircuitOpen) { //gormleak:ignore no rows come with an error
			t.Errorf("Rows() with the breaker open = %v, want ErrCircuitOpen", err)
		}
		p.Breaker("primary").SetMode(breaker.ModeNormal)

		earlier := errors.New("earlier in the chain")
		tx := db.Session(&gorm.Session{})
		tx.AddError(earlier)
		if err := tx.Raw("SELECT 1").Row().Scan(&n); !errors.Is(err, earlier) {
			t.Errorf("Row().Scan after an earlier error = %v, want it", err)
		}
		if err := db.Raw("SELECT 7").Row().Scan(&n); err != nil || n != 7 {
			t.Errorf("Row().Scan = %d, %v; want 7", n, err)
		}
	})
}
