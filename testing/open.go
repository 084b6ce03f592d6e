package sessiontest

import (
	"testing"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
)

// OpenPostgres returns a *gorm.DB on a new, empty PostgreSQL schema of its
// own (the DSN's search_path points at it), so tests can run in parallel and
// never see each other's tables:
//
//	func TestOrders(t *testing.T) {
//		db := sessiontest.OpenPostgres(t)
//		if err := db.Use(sessionplugin.New(sessionplugin.DefaultConfig())); err != nil {
//			t.Fatal(err)
//		}
//		t.Cleanup(func() { sessiontest.VerifyNoLeaks(t, db) })
//		// ...
//	}
//
// The server is GORMSESSION_TEST_POSTGRES's (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it cannot
// be reached the test is skipped, naming the variable to set; with CI=true
// it fails instead, so CI never passes by skipping the database.
//
// GORM's own logger is silenced; change it, like any other setting, with
// db.Session, or open [PostgresDSN] yourself. The plugin is not installed.
// At cleanup the pool is closed, then the schema is dropped with everything
// in it. A transaction or Rows still open then keeps its connection, and its
// locks, past the pool's Close, and the drop waits for it: end everything a
// test opens, and let [VerifyNoLeaks] find what was not.
func OpenPostgres(t testing.TB) *gorm.DB {
	t.Helper()
	return testdb.Open(t, testdb.Postgres)
}

// OpenMySQL returns a *gorm.DB on a new, empty MySQL or MariaDB database of
// its own, with parseTime on, on GORMSESSION_TEST_MYSQL's server (default
// root:@tcp(127.0.0.1:3306)/test?parseTime=true). It skips, or fails with
// CI=true, when the server cannot be reached, and is cleaned up, as
// [OpenPostgres] describes: the pool is closed, then the database dropped.
// GORM's own logger is silenced; the plugin is not installed.
func OpenMySQL(t testing.TB) *gorm.DB {
	t.Helper()
	return testdb.Open(t, testdb.MySQL)
}

// OpenSQLite returns a *gorm.DB on a new SQLite database file in
// t.TempDir(), through the pure-Go driver github.com/libtnb/sqlite (modernc.org/sqlite), with
// foreign keys on, a 5s busy timeout and WAL journaling. It needs no
// server, so it never skips. The pool is closed at cleanup, and the file
// goes with the temporary directory. GORM's own logger is silenced; the
// plugin is not installed.
func OpenSQLite(t testing.TB) *gorm.DB {
	t.Helper()
	return testdb.Open(t, testdb.SQLite)
}

// PostgresDSN creates a new, empty PostgreSQL schema as [OpenPostgres] does,
// drops it at cleanup, and returns a URL DSN whose search_path points at it,
// for a test that opens the database itself: with its own *gorm.Config, or
// through a [FaultProxy]:
//
//	u, err := url.Parse(sessiontest.PostgresDSN(t))
//	if err != nil {
//		t.Fatal(err)
//	}
//	proxy, err := sessiontest.NewFaultProxy(u.Host) // the real server
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(func() { proxy.Close() })
//	u.Host = proxy.Addr() // now every connection goes through the proxy
//	db, err := gorm.Open(postgres.Open(u.String()), &gorm.Config{})
//	if err != nil {
//		t.Fatal(err)
//	}
//	sqlDB, _ := db.DB()
//	t.Cleanup(func() { sqlDB.Close() })
//
// Close the pool in a cleanup registered after PostgresDSN is called, as
// above: cleanups run last-registered first, so the pool is closed before
// the schema is dropped.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return testdb.Fresh(t, testdb.Postgres).DSN
}

// MySQLDSN creates a new, empty MySQL or MariaDB database as [OpenMySQL]
// does, drops it at cleanup, and returns a go-sql-driver/mysql DSN for it,
// with parseTime on. To route it through a [FaultProxy]:
//
//	cfg, err := mysql.ParseDSN(sessiontest.MySQLDSN(t)) // github.com/go-sql-driver/mysql
//	if err != nil {
//		t.Fatal(err)
//	}
//	proxy, err := sessiontest.NewFaultProxy(cfg.Addr)
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(func() { proxy.Close() })
//	cfg.Addr = proxy.Addr()
//	db, err := gorm.Open(gormmysql.Open(cfg.FormatDSN()), &gorm.Config{}) // gorm.io/driver/mysql
//
// As with [PostgresDSN], close the pool in a cleanup registered afterwards.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	return testdb.Fresh(t, testdb.MySQL).DSN
}
