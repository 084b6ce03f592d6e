package callbacks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/replyrocket/gormsession/internal/scope"
	"github.com/replyrocket/gormsession/internal/testdb"
)

// The hook must find database/sql's fields on the Go it is built with (if
// it did not, every Rows() would pay for a goroutine unnoticed), run once,
// after the rows gave their *sql.Conn back (so closing the Conn in it does
// not deadlock), and expireRows must end rows as an expired context does.
func TestRowsHook(t *testing.T) {
	if !rowsHookable {
		t.Fatal("database/sql's Rows.releaseConn, contextDone, closemu, closed or Row.rows, err was not found: Rows() fall back to a goroutine each")
	}
	if rowsOf(nil) != nil || rowsOf((*sql.Row)(nil)) != nil || rowsOf("x") != nil {
		t.Fatal("rowsOf of nothing is not nil")
	}
	for _, kind := range testdb.All {
		t.Run(string(kind), func(t *testing.T) {
			sqlDB, err := testdb.Open(t, kind).DB()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			query := func(conn *sql.Conn) *sql.Rows {
				rows, err := conn.QueryContext(ctx, "SELECT 1 UNION ALL SELECT 2")
				if err != nil {
					t.Fatal(err)
				}
				return rows
			}
			for _, how := range []string{"Close", "Next to the end", "expired", "Row.Scan"} {
				conn, err := sqlDB.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var rows *sql.Rows
				var row *sql.Row
				if how == "Row.Scan" {
					row = conn.QueryRowContext(ctx, "SELECT 1")
					rows = rowsOf(row)
				} else {
					rows = query(conn)
				}
				calls := 0
				if !hookRowsClose(rows, func() {
					calls++
					if err := conn.Close(); err != nil { // deadlocks if the rows still hold it
						t.Errorf("%s: Conn.Close in the hook: %v", how, err)
					}
				}) {
					t.Fatalf("%s: hookRowsClose on open rows = false", how)
				}
				if calls != 0 {
					t.Fatalf("%s: hook ran before the rows closed", how)
				}
				switch how {
				case "Close":
					rows.Close()
				case "Next to the end":

					rows.Next()
					var raw sql.RawBytes
					if err := rows.Scan(&raw); err != nil {
						t.Fatal(err)
					}
					if failIdleRows(rows, context.DeadlineExceeded) {
						t.Error("failIdleRows while a RawBytes Scan holds the rows = true")
					}
					for rows.Next() {
					}
				case "expired":
					expireRows(rows, context.DeadlineExceeded)
					if rows.Next() {
						t.Error("Next after expireRows = true")
					}
					if err := rows.Err(); !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Err after expireRows = %v", err)
					}
					if !failIdleRows(rows, context.DeadlineExceeded) {
						t.Error("failIdleRows on rows nobody reads = false")
					}
					var v int
					if err := rows.Scan(&v); !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("Scan after failIdleRows = %v, want context.DeadlineExceeded", err)
					}
					rows.Close()
				case "Row.Scan":
					var n int
					if err := row.Scan(&n); err != nil || n != 1 {
						t.Fatalf("Row.Scan = %d, %v", n, err)
					}
				}
				rows.Close()
				if calls != 1 {
					t.Errorf("%s: hook ran %d times, want 1", how, calls)
				}
				if hookRowsClose(rows, func() { t.Errorf("%s: hook on closed rows ran", how) }) {
					t.Errorf("%s: hookRowsClose on closed rows = true", how)
				}
			}
			if n := sqlDB.Stats().InUse; n != 0 {
				t.Errorf("%d connections in use after all rows closed", n)
			}
		})
	}
}

type hookItem struct {
	ID   uint
	Name string
}

// Should database/sql's fields ever change, Rows() fall back to a
// goroutine each and a deadline in their context: that path must still
// cut slow rows at the deadline and release their connection and scope.
func TestRowsFallbackWithoutHook(t *testing.T) {
	defer func(v bool) { rowsHookable = v }(rowsHookable)
	rowsHookable = false
	for _, kind := range []testdb.Kind{testdb.SQLite, testdb.Postgres} {
		t.Run(string(kind), func(t *testing.T) {
			db := testdb.Open(t, kind)
			if err := db.AutoMigrate(&hookItem{}); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if err := db.Create(&hookItem{Name: fmt.Sprint("n", i)}).Error; err != nil {
					t.Fatal(err)
				}
			}
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			reg := &scope.Registry{}
			r := NewRuntime(Options{QueryTimeout: 150 * time.Millisecond, Registry: reg})
			defer func() { r.Close(); r.Wait() }()
			if err := r.Register(db); err != nil {
				t.Fatal(err)
			}
			pool := r.Wrap(r.AddSource(sqlDB, "primary", true))
			db.ConnPool, db.Statement.ConnPool = pool, pool

			rows, err := db.Model(&hookItem{}).Order("id").Rows()
			if err != nil {
				t.Fatal(err)
			}
			read := 0
			for rows.Next() {
				read++
				time.Sleep(100 * time.Millisecond)
			}
			rerr := rows.Err()
			rows.Close()
			if !errors.Is(rerr, context.DeadlineExceeded) || read >= 5 {
				t.Fatalf("read %d, Err = %v; want the deadline to cut the rows", read, rerr)
			}
			testdb.WaitFor(t, 5*time.Second, "the rows' connection and scope to be released", func() bool {
				return sqlDB.Stats().InUse == 0 && reg.Counts().Active == 0
			})
			var n int64
			if err := db.Model(&hookItem{}).Count(&n).Error; err != nil || n != 5 {
				t.Fatalf("Count = %d, %v", n, err)
			}
		})
	}
}
