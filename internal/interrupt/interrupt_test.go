package interrupt_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/libc"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/replyrocket/gormsession/internal/interrupt"
	"github.com/replyrocket/gormsession/internal/testdb"
)

// endless never finishes on its own: SQLite counts forever.
const endless = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c`

// finite jumps 1000 times in SQLite's VM, and every jump checks for a
// pending interrupt: one left over would stop it.
const finite = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000) SELECT count(*) FROM c`

// openSQLite opens an in-memory SQLite database with modernc.org/sqlite.
// Each connection has its own database, which is all these tests need.
func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openServer opens kind's test server (skipped when it is unreachable,
// failed when CI=true) with its database/sql driver.
func openServer(t testing.TB, kind testdb.Kind) *sql.DB {
	t.Helper()
	tg := testdb.Fresh(t, kind)
	name := map[testdb.Kind]string{testdb.Postgres: "pgx", testdb.MySQL: "mysql"}[kind]
	db, err := sql.Open(name, tg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping %s: %v", kind, err)
	}
	return db
}

// open returns a database of kind.
func open(t testing.TB, kind testdb.Kind) *sql.DB {
	t.Helper()
	if kind == testdb.SQLite {
		return openSQLite(t)
	}
	return openServer(t, kind)
}

// pin takes one connection of db for the test, closed at cleanup.
func pin(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// driverConnOf captures c's driver connection, as the plugin does before a
// statement runs.
func driverConnOf(t testing.TB, c *sql.Conn) any {
	t.Helper()
	var dc any
	if err := c.Raw(func(d any) error { dc = d; return nil }); err != nil {
		t.Fatal(err)
	}
	return dc
}

// discard makes database/sql close c's driver connection instead of
// pooling it.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
}

// lookalike has the fields modernc.org/sqlite's conn has, in another
// package: it must not pass for one.
type lookalike struct {
	db  uintptr
	tls *libc.TLS
	sync.Mutex
}

func TestMethodString(t *testing.T) {
	for m, want := range map[interrupt.Method]string{
		interrupt.None: "none", interrupt.Postgres: "postgres", interrupt.SQLite: "sqlite", 200: "Method(200)",
	} {
		if got := m.String(); got != want {
			t.Errorf("Method(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}

func TestMethodOf(t *testing.T) {
	server := func(kind testdb.Kind) func(t *testing.T) any {
		return func(t *testing.T) any { return driverConnOf(t, pin(t, open(t, kind))) }
	}
	value := func(v any) func(*testing.T) any { return func(*testing.T) any { return v } }
	tests := []struct {
		name string
		conn func(t *testing.T) any
		want interrupt.Method
	}{
		{"sqlite", server(testdb.SQLite), interrupt.SQLite},
		{"postgres", server(testdb.Postgres), interrupt.Postgres},
		{"mysql", server(testdb.MySQL), interrupt.None},
		{"nil", value(nil), interrupt.None},
		{"nil *stdlib.Conn", value((*stdlib.Conn)(nil)), interrupt.None},
		{"unknown type", value(&strings.Builder{}), interrupt.None},
		{"int", value(42), interrupt.None},
		{"sqlite look-alike", value(&lookalike{db: 1, tls: nil}), interrupt.None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dc := tt.conn(t)
			for i := range 2 { // the first call inspects the type, the second hits the cache
				if got := interrupt.MethodOf(dc); got != tt.want {
					t.Fatalf("call %d: MethodOf(%T) = %s, want %s", i+1, dc, got, tt.want)
				}
			}
			if tt.want != interrupt.None {
				return
			}
			discard, cancel, err := interrupt.Stop(dc)
			if err == nil || discard || cancel != nil {
				t.Fatalf("Stop(%T) = %v, %v, %v: want an error only", dc, discard, cancel != nil, err)
			}
			if name := fmt.Sprintf("%T", dc); !strings.Contains(err.Error(), name) {
				t.Errorf("Stop's error %q does not name the type %s", err, name)
			}
		})
	}
}

// Types no other test uses, so the goroutines below race on the first
// inspection of each.
type (
	fresh1 struct{}
	fresh2 struct{ db uintptr }
)

func TestMethodOfConcurrent(t *testing.T) {
	dc := driverConnOf(t, pin(t, openSQLite(t)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, c := range []any{&fresh1{}, fresh2{}, dc} {
				want := interrupt.None
				if c == dc {
					want = interrupt.SQLite
				}
				if got := interrupt.MethodOf(c); got != want {
					t.Errorf("MethodOf(%T) = %s, want %s", c, got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestMethodOfAllocs(t *testing.T) {
	dc := driverConnOf(t, pin(t, openSQLite(t)))
	for _, c := range []any{dc, nil, &strings.Builder{}, (*stdlib.Conn)(nil)} {
		interrupt.MethodOf(c) // the first call per type may allocate
		if n := testing.AllocsPerRun(1000, func() { interrupt.MethodOf(c) }); n != 0 {
			t.Errorf("MethodOf(%T) allocates %v times per call, want 0", c, n)
		}
	}
}

func BenchmarkMethodOf(b *testing.B) {
	dc := driverConnOf(b, pin(b, openSQLite(b)))
	for _, bc := range []struct {
		name string
		conn any
	}{{"sqlite", dc}, {"nil", nil}, {"unknown", &strings.Builder{}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				interrupt.MethodOf(bc.conn)
			}
		})
	}
}

// isInterrupt reports whether err is SQLite's SQLITE_INTERRUPT.
func isInterrupt(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_INTERRUPT
}

// stopUntil calls Stop on dc every 2ms until done is closed: the first
// calls may come before the statement's VM is active, and SQLite drops
// those. It returns the first unexpected result, if any.
func stopUntil(dc any, done <-chan struct{}) <-chan error {
	res := make(chan error, 1)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			discard, cancel, err := interrupt.Stop(dc)
			if err == nil && (discard || cancel != nil) {
				err = fmt.Errorf("Stop = discard %v, cancelOnServer %v: want false, nil", discard, cancel != nil)
			}
			if err != nil {
				res <- err
				return
			}
			select {
			case <-done:
				res <- nil
				return
			case <-tick.C:
			}
		}
	}()
	return res
}

func TestStopSQLite(t *testing.T) {
	tests := []struct {
		name string
		run  func(c *sql.Conn) error // runs endlessly unless stopped
	}{
		{"QueryRow", func(c *sql.Conn) error {
			var n int64
			return c.QueryRowContext(context.Background(), endless).Scan(&n)
		}},
		{"Exec", func(c *sql.Conn) error {
			_, err := c.ExecContext(context.Background(), endless)
			return err
		}},
		{"Rows", func(c *sql.Conn) error {
			rows, err := c.QueryContext(context.Background(), `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
			}
			return rows.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pin(t, openSQLite(t))
			dc := driverConnOf(t, c)
			if m := interrupt.MethodOf(dc); m != interrupt.SQLite {
				t.Fatalf("MethodOf(%T) = %s, want sqlite", dc, m)
			}
			done := make(chan struct{})
			stopped := stopUntil(dc, done)
			start := time.Now()
			err := tt.run(c)
			elapsed := time.Since(start)
			close(done)
			if serr := <-stopped; serr != nil {
				t.Fatal(serr)
			}
			if !isInterrupt(err) {
				t.Fatalf("the statement returned %v (%T), want SQLITE_INTERRUPT", err, err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("the statement took %s to stop", elapsed)
			}
			t.Logf("stopped after %s: %v", elapsed, err)
			var one int
			if err := c.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 on the same connection after Stop = %d, %v", one, err)
			}
			var n int
			if err := c.QueryRowContext(context.Background(), finite).Scan(&n); err != nil || n != 1000 {
				t.Fatalf("a longer statement on the same connection after Stop = %d, %v", n, err)
			}
		})
	}
}

// An interrupt with nothing running must not stop the next statement.
func TestStopSQLiteIdle(t *testing.T) {
	c := pin(t, openSQLite(t))
	dc := driverConnOf(t, c)
	for i := range 3 {
		discard, cancel, err := interrupt.Stop(dc)
		if err != nil || discard || cancel != nil {
			t.Fatalf("Stop %d on an idle connection = %v, %v, %v: want false, nil, nil", i+1, discard, cancel != nil, err)
		}
	}
	var n int
	if err := c.QueryRowContext(context.Background(), finite).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("the statement after an idle Stop = %d, %v: the interrupt leaked into it", n, err)
	}
}

// While a statement is active on the connection (open rows), SQLite keeps
// the interrupt pending: it stops statements started meanwhile too, until
// none is active.
func TestStopSQLiteOpenRows(t *testing.T) {
	c := pin(t, openSQLite(t))
	dc := driverConnOf(t, c)
	rows, err := c.QueryContext(context.Background(), "SELECT 1 UNION ALL SELECT 2")
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no first row: %v", rows.Err())
	}
	if _, _, err := interrupt.Stop(dc); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRowContext(context.Background(), finite).Scan(&n); !isInterrupt(err) {
		t.Errorf("a statement started while rows were open = %d, %v: want SQLITE_INTERRUPT", n, err)
	}
	rows.Close()
	if err := c.QueryRowContext(context.Background(), finite).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("the statement after the rows closed = %d, %v", n, err)
	}
}

// Stop on a connection database/sql already closed does nothing.
func TestStopSQLiteClosed(t *testing.T) {
	c := pin(t, openSQLite(t))
	dc := driverConnOf(t, c)
	discard(c) // closes the driver connection
	c.Close()
	discard, cancel, err := interrupt.Stop(dc)
	if err != nil || !discard || cancel != nil {
		t.Fatalf("Stop on a closed connection = %v, %v, %v: want true, nil, nil", discard, cancel != nil, err)
	}
}

// sleeping counts the backends with pid running pg_sleep.
func sleeping(t testing.TB, db *sql.DB, pid int) int {
	t.Helper()
	var n int
	err := db.QueryRowContext(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`, pid).Scan(&n)
	if err != nil {
		t.Fatalf("pg_stat_activity: %v", err)
	}
	return n
}

// openPgxOwnCancelRefused opens the PostgreSQL test server with a dialer
// that refuses the cancel request pgx sends on its own when it closes a
// broken connection (it dials with a 15s deadline; nothing else here dials
// with a deadline over 10s away), so that only cancelOnServer can stop the
// query. refused counts the dials refused.
func openPgxOwnCancelRefused(t *testing.T) (db *sql.DB, refused *atomic.Int32) {
	t.Helper()
	tg := testdb.Fresh(t, testdb.Postgres)
	cfg, err := pgx.ParseConfig(tg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	refused = new(atomic.Int32)
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 10*time.Second {
			refused.Add(1)
			return nil, errors.New("test: pgx's own cancel request refused")
		}
		return dial(ctx, network, addr)
	}
	db = stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	return db, refused
}

func TestStopPostgres(t *testing.T) {
	tests := []struct {
		name string
		// open returns the database, and the count of refused pgx's own
		// cancel requests (nil: they are let through).
		open func(t *testing.T) (*sql.DB, *atomic.Int32)
	}{
		{"pgx as is", func(t *testing.T) (*sql.DB, *atomic.Int32) { return openServer(t, testdb.Postgres), nil }},
		{"only cancelOnServer", openPgxOwnCancelRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, refused := tt.open(t)
			testStopPostgres(t, db, refused)
		})
	}
}

func testStopPostgres(t *testing.T, db *sql.DB, refused *atomic.Int32) {
	c := pin(t, db)
	var pid int
	if err := c.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	dc := driverConnOf(t, c)
	if m := interrupt.MethodOf(dc); m != interrupt.Postgres {
		t.Fatalf("MethodOf(%T) = %s, want postgres", dc, m)
	}

	type result struct {
		err error
		at  time.Time
	}
	returned := make(chan result, 1)
	start := time.Now()
	go func() {
		_, err := c.ExecContext(context.Background(), "SELECT pg_sleep(30)")
		returned <- result{err, time.Now()}
	}()
	testdb.WaitFor(t, 5*time.Second, "the backend to run pg_sleep", func() bool { return sleeping(t, db, pid) == 1 })
	time.Sleep(time.Until(start.Add(100 * time.Millisecond)))

	stopAt := time.Now()
	discardConn, cancelOnServer, err := interrupt.Stop(dc)
	if err != nil || !discardConn || cancelOnServer == nil {
		t.Fatalf("Stop = %v, %v, %v: want true, a cancel func, nil", discardConn, cancelOnServer != nil, err)
	}
	var r result
	select {
	case r = <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the statement did not return within 5s of Stop")
	}
	if r.err == nil {
		t.Fatal("pg_sleep(30) returned no error after Stop")
	}
	if d := r.at.Sub(stopAt); d > time.Second {
		t.Errorf("the statement took %s to return after Stop", d)
	}
	t.Logf("returned %s after Stop: %v", r.at.Sub(stopAt), r.err)

	if refused != nil {
		// pgx closed the socket and tried its own cancel request, which
		// was refused: the server must still be running the query.
		testdb.WaitFor(t, 5*time.Second, "pgx's own cancel request", func() bool { return refused.Load() > 0 })
		time.Sleep(200 * time.Millisecond)
		if sleeping(t, db, pid) != 1 {
			t.Fatalf("backend %d stopped pg_sleep without cancelOnServer: the test proves nothing", pid)
		}
	}

	// The caller's side of the contract: cancel in a goroutine of its own,
	// discard the connection.
	cancelled := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cancelled <- cancelOnServer(ctx)
	}()
	if err := <-cancelled; err != nil {
		t.Fatalf("cancelOnServer: %v", err)
	}
	discard(c)
	c.Close()

	d := testdb.WaitFor(t, 3*time.Second, fmt.Sprintf("backend %d to stop running pg_sleep", pid),
		func() bool { return sleeping(t, db, pid) == 0 })
	t.Logf("backend %d stopped pg_sleep %s after the cancel", pid, d)
}

// Stop with nothing running breaks the connection all the same: the next
// statement fails, and the cancel request is harmless.
func TestStopPostgresIdle(t *testing.T) {
	db := openServer(t, testdb.Postgres)
	c := pin(t, db)
	dc := driverConnOf(t, c)
	discardConn, cancelOnServer, err := interrupt.Stop(dc)
	if err != nil || !discardConn || cancelOnServer == nil {
		t.Fatalf("Stop = %v, %v, %v: want true, a cancel func, nil", discardConn, cancelOnServer != nil, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cancelOnServer(ctx); err != nil {
		t.Fatalf("cancelOnServer: %v", err)
	}
	var one int
	if err := c.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err == nil {
		t.Error("the connection still works after Stop; Stop's doc says it is broken")
	}
	discard(c)
	c.Close()
	if err := db.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("a new connection after discarding the stopped one: %v", err)
	}
}
