package store

import (
	"github.com/libtnb/sqlite"
	"gorm.io/gorm"
)

// The SQLite driver lives in this one file, so switching drivers (for
// example to github.com/ncruces/go-sqlite3/gormlite) is a two-line change.

// sqlitePragmas are added to a SQLite DSN that sets none of its own:
// foreign keys on, a 5s wait for the write lock instead of an immediate
// SQLITE_BUSY, WAL so readers do not block the writer, and BEGIN IMMEDIATE:
// a transaction that reads and then writes would otherwise fail at once
// with SQLITE_BUSY (no busy wait) when another process wrote meanwhile.
const sqlitePragmas = "_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"

// sqliteDialector opens dsn ("file:/path/app.db?...") with the SQLite driver.
func sqliteDialector(dsn string) gorm.Dialector { return sqlite.Open(dsn) }

// sqliteDialectorOn uses an open pool (dbresolver's fallback to the primary).
func sqliteDialectorOn(db gorm.ConnPool) gorm.Dialector { return &sqlite.Dialector{Conn: db} }
