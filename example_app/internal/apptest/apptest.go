// Package apptest holds helpers shared by the example app's tests: fresh
// databases from internal/testdb as the DATABASE_URL the app accepts.
package apptest

import (
	"net/url"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/replyrocket/gormsession/internal/testdb"
)

// URL returns a DATABASE_URL for a fresh, isolated database of kind,
// dropped at cleanup. An unreachable server skips the test, or fails it
// when CI=true.
func URL(t testing.TB, kind testdb.Kind) string {
	t.Helper()
	return ToURL(t, testdb.Fresh(t, kind))
}

// ToURL converts a testdb.Target to the app's DATABASE_URL form:
// PostgreSQL DSNs are URLs already, SQLite ones are file: paths, and MySQL's
// go-sql-driver DSN becomes a mysql:// URL.
func ToURL(t testing.TB, tg testdb.Target) string {
	t.Helper()
	if tg.Kind != testdb.MySQL {
		return tg.DSN
	}
	c, err := mysqldrv.ParseDSN(tg.DSN)
	if err != nil {
		t.Fatalf("parse MySQL DSN: %v", err)
	}
	u := url.URL{Scheme: "mysql", Host: c.Addr, Path: "/" + c.DBName, RawQuery: "parseTime=true"}
	if c.Passwd != "" {
		u.User = url.UserPassword(c.User, c.Passwd)
	} else {
		u.User = url.User(c.User)
	}
	return u.String()
}
