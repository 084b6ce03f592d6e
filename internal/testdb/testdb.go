// Package testdb gives this module's tests a fresh, isolated database on
// PostgreSQL, MariaDB/MySQL or SQLite. DSNs come from GORMSESSION_TEST_POSTGRES,
// GORMSESSION_TEST_MYSQL with loopback defaults. An unreachable server skips
// the test on a laptop and fails it when CI=true.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/libtnb/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Kind names a database engine.
type Kind string

// The engines the tests run on.
const (
	SQLite   Kind = "sqlite"
	Postgres Kind = "postgres"
	MySQL    Kind = "mysql"
)

// All lists every engine, SQLite first (it never skips).
var All = []Kind{SQLite, Postgres, MySQL}

// Default DSNs, overridden by the environment.
const (
	DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQLDSN    = "root:@tcp(127.0.0.1:3306)/test?parseTime=true&multiStatements=false"
)

// BaseDSN returns the server DSN for kind from the environment or the default.
func BaseDSN(kind Kind) string {
	switch kind {
	case Postgres:
		if v := os.Getenv("GORMSESSION_TEST_POSTGRES"); v != "" {
			return v
		}
		return DefaultPostgresDSN
	case MySQL:
		if v := os.Getenv("GORMSESSION_TEST_MYSQL"); v != "" {
			return v
		}
		return DefaultMySQLDSN
	}
	return ""
}

// Target is a fresh database: its DSN and the server's host:port.
type Target struct {
	Kind Kind
	DSN  string
	Addr string // host:port of the server; "" for SQLite
}

// Dialector returns the GORM dialector for t.DSN.
func (t Target) Dialector() gorm.Dialector { return Dialector(t.Kind, t.DSN) }

// WithAddr returns t.DSN with the server address replaced by addr, to route
// the connection through a proxy.
func (t Target) WithAddr(addr string) string {
	switch t.Kind {
	case Postgres:
		u, err := url.Parse(t.DSN)
		if err != nil {
			panic(err)
		}
		u.Host = addr
		return u.String()
	case MySQL:
		c, err := mysqldrv.ParseDSN(t.DSN)
		if err != nil {
			panic(err)
		}
		c.Addr = addr
		return c.FormatDSN()
	}
	return t.DSN
}

// Dialector returns the GORM dialector for kind and dsn.
func Dialector(kind Kind, dsn string) gorm.Dialector {
	switch kind {
	case Postgres:
		return postgres.Open(dsn)
	case MySQL:
		return mysql.Open(dsn)
	default:
		return sqlite.Open(dsn)
	}
}

// Unavailable skips the test, or fails it when CI=true: CI must never pass
// by skipping a real database.
func Unavailable(t testing.TB, kind Kind, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s test server unavailable and CI=true: %v", kind, err)
	}
	t.Skipf("%s test server unavailable (set GORMSESSION_TEST_%s; CI=true makes this a failure): %v",
		kind, strings.ToUpper(string(kind)), err)
}

// Fresh creates an isolated database (PostgreSQL: a schema; MySQL: a
// database; SQLite: a file in t.TempDir) and drops it at cleanup.
func Fresh(t testing.TB, kind Kind) Target {
	t.Helper()
	name := "gs_" + randHex(6)
	switch kind {
	case Postgres:
		base := BaseDSN(kind)
		admin, err := sql.Open("pgx", base)
		if err == nil {
			if err = pingTimeout(admin); err != nil {
				admin.Close() // or goleak sees its opener goroutine after the skip
			}
		}
		if err != nil {
			Unavailable(t, kind, err)
		}
		if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
			t.Fatalf("create schema %s: %v", name, err)
		}
		t.Cleanup(func() {
			admin.Exec("DROP SCHEMA IF EXISTS " + name + " CASCADE")
			admin.Close()
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parse GORMSESSION_TEST_POSTGRES %q: %v", base, err)
		}
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		return Target{Kind: kind, DSN: u.String(), Addr: u.Host}
	case MySQL:
		base := BaseDSN(kind)
		c, err := mysqldrv.ParseDSN(base)
		if err != nil {
			t.Fatalf("parse GORMSESSION_TEST_MYSQL %q: %v", base, err)
		}
		admin, err := sql.Open("mysql", base)
		if err == nil {
			if err = pingTimeout(admin); err != nil {
				admin.Close() // or goleak sees its opener goroutine after the skip
			}
		}
		if err != nil {
			Unavailable(t, kind, err)
		}
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatalf("create database %s: %v", name, err)
		}
		t.Cleanup(func() {
			admin.Exec("DROP DATABASE IF EXISTS " + name)
			admin.Close()
		})
		c.DBName = name
		c.ParseTime = true
		return Target{Kind: kind, DSN: c.FormatDSN(), Addr: c.Addr}
	default:
		path := filepath.Join(t.TempDir(), name+".db")
		return Target{Kind: SQLite, DSN: "file:" + path + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"}
	}
}

// Open returns a *gorm.DB on a fresh database of kind; GORM's own logger is
// silenced. The pool is closed at cleanup.
func Open(t testing.TB, kind Kind) *gorm.DB {
	t.Helper()
	return OpenTarget(t, Fresh(t, kind))
}

// OpenTarget opens tg with GORM and closes it at cleanup.
func OpenTarget(t testing.TB, tg Target) *gorm.DB {
	t.Helper()
	db, err := gorm.Open(tg.Dialector(), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open %s: %v", tg.Kind, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

// Each runs fn as a subtest on every engine, each on its own fresh database.
func Each(t *testing.T, fn func(t *testing.T, kind Kind)) {
	t.Helper()
	for _, kind := range All {
		t.Run(string(kind), func(t *testing.T) { fn(t, kind) })
	}
}

func pingTimeout(db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ClosedAddr returns a loopback address nothing listens on: a port that
// was listened on, then closed. Dialing it is refused at once.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// WaitFor polls cond until it holds, and returns how long that took; past
// limit it fails tb, naming what it waited for. It polls every 2ms at
// first, backing off to every 50ms, so a cond that does real work (an
// HTTP request) is not hammered through a long wait.
func WaitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for pause := 2 * time.Millisecond; !cond(); pause = min(2*pause, 50*time.Millisecond) {
		if time.Since(start) > limit {
			tb.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(pause)
	}
	return time.Since(start)
}
