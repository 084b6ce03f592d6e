// Package interrupt stops a statement running on a database/sql driver
// connection from another goroutine, without the statement's context.
//
// The plugin hands the driver the caller's own context, so database/sql and
// the driver start no watcher goroutine per statement, and enforces its own
// deadline out of band: the driver connection is captured before the
// statement runs (read from the *sql.Conn's fields, or through
// (*sql.Conn).Raw should database/sql change them), and a sweeper calls
// Stop on it once the deadline passes.
//
// Supported drivers:
//
//   - PostgreSQL through github.com/jackc/pgx/v5/stdlib (what
//     gorm.io/driver/postgres uses): the socket's deadline is set to now,
//     which breaks the connection, and a cancel request stops the query on
//     the server.
//   - SQLite through modernc.org/sqlite (what github.com/libtnb/sqlite
//     wraps): sqlite3_interrupt; the connection stays usable.
//
// MySQL and MariaDB through github.com/go-sql-driver/mysql are not
// supported (Method None): KILL QUERY needs the connection's id, and the
// driver's connection keeps none (it reads the id in the handshake and
// drops it), so nothing can target the statement from outside. Use a
// context deadline there.
package interrupt

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Method is how a driver connection's running statement can be stopped out
// of band.
type Method uint8

// The Methods. The zero Method is None.
const (
	// None: not supported; the caller must use a context deadline instead.
	None Method = iota
	// Postgres: github.com/jackc/pgx/v5 stdlib connections
	// (gorm.io/driver/postgres).
	Postgres
	// SQLite: modernc.org/sqlite connections (what github.com/libtnb/sqlite
	// wraps).
	SQLite
)

// String returns the Method's name ("none", "postgres", "sqlite"), or
// "Method(n)" for a value outside the constants.
func (m Method) String() string {
	switch m {
	case None:
		return "none"
	case Postgres:
		return "postgres"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// pgxConner is the driver connection of github.com/jackc/pgx/v5/stdlib.
type pgxConner interface{ Conn() *pgx.Conn }

// What a modernc.org/sqlite driver connection must look like: the
// unexported *sqlite.conn, with fields db (the sqlite3* handle) and tls,
// and the embedded sync.Mutex that the driver's own interrupt and Close
// take to stay apart.
const (
	sqlitePkgPath  = "modernc.org/sqlite"
	sqliteTypeName = "conn"
)

var (
	pgxConnerType = reflect.TypeFor[pgxConner]()
	lockerType    = reflect.TypeFor[sync.Locker]()
	libcTLSType   = reflect.TypeFor[*libc.TLS]()
)

// typeInfo is what is known about one driver connection type.
type typeInfo struct {
	method Method
	ptr    bool // the type is a pointer: a nil one supports nothing
	db     int  // SQLite: index of the db uintptr field
	tls    int  // SQLite: index of the tls *libc.TLS field
}

var noneInfo = &typeInfo{method: None}

// infos caches a *typeInfo per reflect.Type of driver connection. The set
// of types is tiny (one per driver in the process), so it never needs
// evicting.
var infos sync.Map // reflect.Type -> *typeInfo

// info returns what is known about driverConn's type, inspecting it on
// first sight. It does not allocate once the type is cached.
func info(driverConn any) *typeInfo {
	if driverConn == nil {
		return noneInfo
	}
	t := reflect.TypeOf(driverConn)
	if v, ok := infos.Load(t); ok {
		return v.(*typeInfo)
	}
	v, _ := infos.LoadOrStore(t, inspect(t))
	return v.(*typeInfo)
}

// inspect works out t's Method. It never panics: a type that does not look
// exactly as expected is None.
func inspect(t reflect.Type) *typeInfo {
	ptr := t.Kind() == reflect.Pointer
	if t.Implements(pgxConnerType) {
		return &typeInfo{method: Postgres, ptr: ptr}
	}
	if !ptr {
		return noneInfo
	}
	st := t.Elem()
	if st.Kind() != reflect.Struct || st.PkgPath() != sqlitePkgPath || st.Name() != sqliteTypeName ||
		!t.Implements(lockerType) {
		return noneInfo
	}
	db, ok := st.FieldByName("db")
	if !ok || len(db.Index) != 1 || db.Type.Kind() != reflect.Uintptr {
		return noneInfo
	}
	tls, ok := st.FieldByName("tls")
	if !ok || len(tls.Index) != 1 || tls.Type != libcTLSType {
		return noneInfo
	}
	return &typeInfo{method: SQLite, ptr: true, db: db.Index[0], tls: tls.Index[0]}
}

// isNil reports whether driverConn is nil or a nil pointer of a type ti
// describes.
func (ti *typeInfo) isNil(driverConn any) bool {
	return driverConn == nil || ti.ptr && reflect.ValueOf(driverConn).IsNil()
}

// MethodOf tells which Method driverConn, a driver connection as
// (*sql.Conn).Raw passes it, supports. It returns None for nil, for a nil
// pointer, and for any type it does not know, including a known driver
// whose internals no longer look as this package expects (never a panic).
// The answer is cached per type: after the first call for a type it does
// not allocate.
func MethodOf(driverConn any) Method {
	ti := info(driverConn)
	if ti.method == None || ti.isNil(driverConn) {
		return None
	}
	return ti.method
}

// Stop stops the statement running on driverConn now, from any goroutine,
// and returns without waiting for the database.
//
// Postgres: it sets the socket's deadline to now, so pgx's blocked read or
// write returns at once with a timeout error. The connection is broken
// from then on: discard is true and the caller must not reuse it (e.g.
// return driver.ErrBadConn from (*sql.Conn).Raw). The server would go on
// running the query, so Stop also returns cancelOnServer, which sends
// PostgreSQL's cancel request (pgconn.PgConn.CancelRequest: a dial and a
// write, bounded by its ctx); the caller runs it in a goroutine of its
// own. A cancel request is best effort: PostgreSQL does not say whether it
// stopped anything. (pgx v5 also sends one of its own, in the background,
// when it closes the broken connection; cancelOnServer does not rely on
// that.)
//
// SQLite: it calls sqlite3_interrupt on the connection's handle, which
// SQLite allows from any thread (modernc.org/sqlite itself does it from a
// goroutine). The statement returns an "interrupted" error at its next
// check; the connection stays usable, so discard is false, and
// cancelOnServer is nil. SQLite clears a pending interrupt when a
// statement starts while no other statement on the connection is active,
// so an interrupt delivered just before the statement's first step is
// lost, and one delivered when nothing runs does not leak into the next
// statement. A caller that may race with the statement's start should
// repeat Stop until the statement returns. While a statement is active
// (e.g. an open *sql.Rows), Stop interrupts every statement on the
// connection, including ones started before the last active one ends.
// SQLite checks for an interrupt as its VM runs, not while it waits for a
// lock (busy_timeout): a statement waiting for one sees the interrupt only
// once the wait is over.
//
// With no statement running, Stop is safe: SQLite: no effect; Postgres:
// the idle connection is broken and must be discarded. But the caller must
// never call it once the connection went back to the pool: another
// statement may run on it by then. On a connection already closed Stop
// returns discard true and no error (Postgres: with cancelOnServer still,
// as the server may still run the query).
//
// Stop returns an error, and does nothing, when driverConn's Method is
// None (the error names driverConn's type) or driverConn is a nil pointer.
func Stop(driverConn any) (discard bool, cancelOnServer func(context.Context) error, err error) {
	ti := info(driverConn)
	if ti.method != None && ti.isNil(driverConn) {
		return false, nil, fmt.Errorf("interrupt: nil %T driver connection", driverConn)
	}
	switch ti.method {
	case Postgres:
		return stopPostgres(driverConn.(pgxConner))
	case SQLite:
		return stopSQLite(driverConn, ti)
	}
	return false, nil, fmt.Errorf("interrupt: driver connection %T cannot be stopped out of band (Method None); use a context deadline", driverConn)
}

func stopPostgres(dc pgxConner) (bool, func(context.Context) error, error) {
	c := dc.Conn()
	if c == nil {
		return false, nil, fmt.Errorf("interrupt: %T has no *pgx.Conn", dc)
	}
	pc := c.PgConn()
	// An error means the socket is closed already: nothing blocks on it
	// any more, but the server may still run the query, so the cancel
	// request is still worth sending.
	_ = pc.Conn().SetDeadline(time.Now())
	return true, func(ctx context.Context) error {
		if err := pc.CancelRequest(ctx); err != nil {
			return fmt.Errorf("interrupt: postgres cancel request: %w", err)
		}
		return nil
	}, nil
}

func stopSQLite(dc any, ti *typeInfo) (bool, func(context.Context) error, error) {
	// The driver's own Close and interrupt hold this lock, so the handle
	// cannot be closed (and freed) under sqlite3_interrupt.
	l := dc.(sync.Locker)
	l.Lock()
	defer l.Unlock()
	v := reflect.ValueOf(dc).Elem()
	db := uintptr(v.Field(ti.db).Uint())
	if db == 0 || v.Field(ti.tls).IsNil() {
		return true, nil, nil // closed
	}
	// A fresh TLS, as modernc's (*conn).interrupt does: the statement may
	// be running on the connection's own, and a libc.TLS is not safe for
	// concurrent use.
	tls := libc.NewTLS()
	sqlite3.Xsqlite3_interrupt(tls, db)
	tls.Close()
	return false, nil, nil
}
