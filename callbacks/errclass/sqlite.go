package errclass

import (
	"reflect"
	"strings"
)

// sqliteExtended maps SQLite extended result codes that refine their
// primary code.
var sqliteExtended = map[int]Category{
	2067: UniqueViolation,      // SQLITE_CONSTRAINT_UNIQUE
	1555: UniqueViolation,      // SQLITE_CONSTRAINT_PRIMARYKEY
	2579: UniqueViolation,      // SQLITE_CONSTRAINT_ROWID
	787:  ForeignKeyViolation,  // SQLITE_CONSTRAINT_FOREIGNKEY
	1299: NotNullViolation,     // SQLITE_CONSTRAINT_NOTNULL
	275:  CheckViolation,       // SQLITE_CONSTRAINT_CHECK
	1043: CheckViolation,       // SQLITE_CONSTRAINT_TRIGGER: RAISE(ABORT) enforcing a rule
	3091: InvalidData,          // SQLITE_CONSTRAINT_DATATYPE: STRICT table type mismatch
	517:  SerializationFailure, // SQLITE_BUSY_SNAPSHOT: a WAL read snapshot went stale before its write
}

// sqlitePrimary maps SQLite primary result codes (code & 0xff).
var sqlitePrimary = map[int]Category{
	3:  PermissionDenied, // SQLITE_PERM
	5:  Timeout,          // SQLITE_BUSY: busy_timeout ran out waiting for the lock
	6:  Timeout,          // SQLITE_LOCKED: lock held by the same connection or shared cache
	8:  ReadOnly,         // SQLITE_READONLY
	9:  Canceled,         // SQLITE_INTERRUPT: sqlite3_interrupt, what drivers call when a context ends
	10: Connection,       // SQLITE_IOERR: the storage under the database failed
	14: Connection,       // SQLITE_CANTOPEN: the database cannot be reached
	18: InvalidData,      // SQLITE_TOOBIG
	20: InvalidData,      // SQLITE_MISMATCH
	23: PermissionDenied, // SQLITE_AUTH
	25: InvalidData,      // SQLITE_RANGE
}

// sqliteMessages classify SQLITE_ERROR (1) and a bare SQLITE_CONSTRAINT (19)
// by the text SQLite puts in sqlite3_errmsg.
var sqliteMessages = [...]struct {
	text string
	cat  Category
}{
	{"UNIQUE constraint failed", UniqueViolation},
	{"PRIMARY KEY must be unique", UniqueViolation},
	{"FOREIGN KEY constraint failed", ForeignKeyViolation},
	{"NOT NULL constraint failed", NotNullViolation},
	{"CHECK constraint failed", CheckViolation},
	{"cannot store", InvalidData},
	{"syntax error", Syntax},
	{"incomplete input", Syntax},
	{"unrecognized token", Syntax},
	{"no such table", UndefinedObject},
	{"no such column", UndefinedObject},
	{"no such function", UndefinedObject},
	{"no such index", UndefinedObject},
	{"no such view", UndefinedObject},
	{"no such trigger", UndefinedObject},
	{"no such collation", UndefinedObject},
	{"no such module", UndefinedObject},
	{"unknown database", UndefinedObject},
	{"has no column named", UndefinedObject},
	{"attempt to write a readonly database", ReadOnly},
}

// sqliteCategory classifies an SQLite result code (extended or primary);
// msg is the error text.
func sqliteCategory(code int, msg string) Category {
	if c, ok := sqliteExtended[code]; ok {
		return c
	}
	primary := code & 0xff
	if c, ok := sqlitePrimary[primary]; ok {
		return c
	}
	if primary == 1 || primary == 19 {
		for _, m := range sqliteMessages {
			if strings.Contains(msg, m.text) {
				return m.cat
			}
		}
	}
	return Unknown
}

// sqliteReflectCode reads the extended result code from SQLite drivers whose
// accessors return their own named integer types, which no interface
// declared here can match without importing the driver:
//
//   - github.com/ncruces/go-sqlite3: (*Error).ExtendedCode() ExtendedErrorCode
//     (and Code() ErrorCode);
//   - github.com/mattn/go-sqlite3 (cgo, used by gorm.io/driver/sqlite): the
//     value type Error with fields ExtendedCode ErrNoExtended and Code ErrNo.
//
// Only types from a package whose path ends in "go-sqlite3" are read, so an
// unrelated error with such a method is never mistaken for SQLite. A zero
// extended code (not filled in) falls back to the primary code.
func sqliteReflectCode(e error) (int, bool) {
	v := reflect.ValueOf(e)
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0, false
		}
		t = t.Elem()
	}
	if !strings.HasSuffix(t.PkgPath(), "go-sqlite3") {
		return 0, false
	}
	for _, name := range [...]string{"ExtendedCode", "Code"} {
		if m := v.MethodByName(name); m.IsValid() {
			mt := m.Type()
			if mt.NumIn() == 0 && mt.NumOut() == 1 {
				if n, ok := intValue(m.Call(nil)[0]); ok && n != 0 {
					return n, true
				}
			}
		}
	}
	s := reflect.Indirect(v)
	if s.Kind() == reflect.Struct {
		for _, name := range [...]string{"ExtendedCode", "Code"} {
			if n, ok := intValue(s.FieldByName(name)); ok && n != 0 {
				return n, true
			}
		}
	}
	return 0, false
}

// intValue returns v as an int if it holds any integer kind.
func intValue(v reflect.Value) (int, bool) {
	if !v.IsValid() {
		return 0, false
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(v.Uint()), true
	}
	return 0, false
}
