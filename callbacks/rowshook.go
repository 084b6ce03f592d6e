package callbacks

import (
	"database/sql"
	"io"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"gorm.io/gorm"
)

// Rows() hand the caller a *sql.Rows that outlives the after-step, and the
// statement's connection, deadline and scope must last until the caller
// closes it. database/sql says so to nobody: the only ways to hear of it
// were a goroutine parked in (*sql.Conn).Close until the rows let go, and a
// deadline in the rows' context, which makes database/sql park a second
// one in Rows.awaitDone. A goroutine handed off per Rows() call is about 7%
// of reading 1,000 rows from PostgreSQL on a 2-vCPU machine.
//
// So the plugin hooks the rows' own release: a Rows taken on a *sql.Conn
// calls its releaseConn func exactly once, under closemu, when it closes
// (by Close, by Next reaching the end or failing, or by Row.Scan). The
// hook wraps that func; the deadline stays out of band, and when it
// passes the sweeper marks the rows expired as awaitDone would have
// (expireRows) and interrupts the driver; the caller's Close releases them,
// and rows the caller never closes are closed ReclaimAfter later. The
// fields are found, and their types checked, once by reflection; if
// database/sql ever changes them, rowsHookable is false and Rows() keep
// the goroutine and the in-context deadline.
var (
	rowsReleaseOff, rowsDoneOff, rowsMuOff, rowsClosedOff, rowsErrOff, rowRowsOff, rowErrOff uintptr
	rowsHookable                                                                             = findRowsFields()
)

func findRowsFields() bool {
	rows := reflect.TypeFor[sql.Rows]()
	field := func(t reflect.Type, name string, want reflect.Type, off *uintptr) bool {
		f, ok := t.FieldByName(name)
		if !ok || len(f.Index) != 1 || f.Type != want {
			return false
		}
		*off = f.Offset
		return true
	}
	return field(rows, "releaseConn", reflect.TypeFor[func(error)](), &rowsReleaseOff) &&
		field(rows, "contextDone", reflect.TypeFor[atomic.Pointer[error]](), &rowsDoneOff) &&
		field(rows, "closemu", reflect.TypeFor[sync.RWMutex](), &rowsMuOff) &&
		field(rows, "closed", reflect.TypeFor[bool](), &rowsClosedOff) &&
		field(rows, "lasterr", reflect.TypeFor[error](), &rowsErrOff) &&
		field(reflect.TypeFor[sql.Row](), "rows", reflect.TypeFor[*sql.Rows](), &rowRowsOff) &&
		field(reflect.TypeFor[sql.Row](), "err", reflect.TypeFor[error](), &rowErrOff)
}

// rowsOf returns the *sql.Rows a Rows() or Row() statement left in dest
// (a *sql.Rows, or a *sql.Row's), or nil.
func rowsOf(dest any) *sql.Rows {
	switch d := dest.(type) {
	case *sql.Rows:
		return d
	case *sql.Row:
		if d == nil || !rowsHookable {
			return nil
		}
		if *(*error)(unsafe.Add(unsafe.Pointer(d), rowErrOff)) != nil {
			return nil
		}
		return *(**sql.Rows)(unsafe.Add(unsafe.Pointer(d), rowRowsOff))
	}
	return nil
}

// rowErrOf returns where a Row() statement's *sql.Row in dest keeps the
// error its query failed with, if it failed; else, and if database/sql's
// Row fields were not found, nil.
func rowErrOf(dest any) *error {
	row, ok := dest.(*sql.Row)
	if !ok || row == nil || !rowsHookable {
		return nil
	}
	p := (*error)(unsafe.Add(unsafe.Pointer(row), rowErrOff))
	if *p == nil {
		return nil
	}
	return p
}

// giveRowItsError makes GORM's Row() return a *sql.Row that carries the
// statement's error when the statement was never sent (the breaker
// refused it, the wait for a connection ran out, an earlier error in the
// chain): GORM's Row() returns a nil *sql.Row then, and the caller's
// Row().Scan panics. It leaves Rows() (which returns the error) and a
// Row() that has its *sql.Row alone, and does nothing if database/sql's
// Row fields were not found.
func giveRowItsError(db *gorm.DB) {
	if _, ok := db.Statement.Dest.(*sql.Row); ok || !rowsHookable {
		return
	}
	if isRows, ok := db.Get("rows"); !ok || isRows != false {
		return
	}
	row := new(sql.Row)
	*(*error)(unsafe.Add(unsafe.Pointer(row), rowErrOff)) = db.Error
	db.Statement.Dest = row
}

// hookRowsClose makes rows call closed once they have closed and given
// their connection back (to the *sql.Conn they were taken on). It returns
// false, and hooks nothing, if rows are closed already or carry no release
// func; the caller then runs closed itself.
func hookRowsClose(rows *sql.Rows, closed func()) bool {
	p := unsafe.Pointer(rows)
	mu := (*sync.RWMutex)(unsafe.Add(p, rowsMuOff))
	mu.Lock()
	defer mu.Unlock()
	release := (*func(error))(unsafe.Add(p, rowsReleaseOff))
	if *(*bool)(unsafe.Add(p, rowsClosedOff)) || *release == nil {
		return false
	}
	orig := *release
	*release = func(err error) {
		orig(err)
		closed()
	}
	return true
}

// failIdleRows makes rows' Scan fail with err from now on, if nobody holds their
// lock (no Next or Scan runs, no Scan into sql.RawBytes keeps it held), and
// reports whether it did. Only then may a goroutine other than the
// reader's close them: Close releases a lock a RawBytes Scan left held,
// which belongs to the reader (go.dev/issue/60304), and with Scan failing
// no reader can take it again (Next already returns false: expireRows).
func failIdleRows(rows *sql.Rows, err error) bool {
	p := unsafe.Pointer(rows)
	mu := (*sync.RWMutex)(unsafe.Add(p, rowsMuOff))
	if !mu.TryLock() {
		return false
	}
	if lasterr := (*error)(unsafe.Add(p, rowsErrOff)); *lasterr == nil {
		*lasterr = err
	}
	mu.Unlock()
	return true
}

// expireRows makes rows end the way database/sql ends rows whose context
// expired: Next returns false from now on and Err returns err, which must
// match context.DeadlineExceeded (Rows.awaitDone stores the context's
// error, then closes the rows; the caller closes them next, once the
// driver's statement is interrupted, as Close waits for a Next blocked in
// the driver).
func expireRows(rows *sql.Rows, err error) {
	(*atomic.Pointer[error])(unsafe.Add(unsafe.Pointer(rows), rowsDoneOff)).CompareAndSwap(nil, &err)
}

// wrapRowsErr replaces the error a Next blocked in the driver got when the
// deadline interrupted it (a socket timeout, SQLite's "interrupted") with
// wrap's: database/sql reports that error from Err, not the expired
// context's, as the failed Next counts as the end of the rows. rows must
// be closing, in this goroutine: their lock is held. Rows that ended
// without an error keep none.
func wrapRowsErr(rows *sql.Rows, wrap func(error) error) {
	lasterr := (*error)(unsafe.Add(unsafe.Pointer(rows), rowsErrOff))
	if *lasterr != nil && *lasterr != io.EOF {
		*lasterr = wrap(*lasterr)
	}
}
