package errclass

import (
	"testing"

	"github.com/replyrocket/gormsession/internal/testdb"
	"gorm.io/gorm"
)

// expect is what one real database produces for a scenario.
type expect struct {
	cat  Category
	code bool   // the database reports its own code (Code is non-empty)
	na   string // the scenario has no counterpart on this database: why
}

// env is a scenario's fresh database.
type env struct {
	kind testdb.Kind
	tg   testdb.Target
	db   *gorm.DB // migrated: parents, children; parents 1 "one" and 2 "two"
}

// realCases makes every category a real server can produce happen for real.
// Where a database cannot produce a category, the comment says why and the
// row asserts what it produces instead. The scenarios are in
// realdb_scenarios_test.go (one statement) and realdb_concurrency_test.go
// (several sessions, contexts); their helpers in realdb_env_test.go.
var realCases = []struct {
	name string
	want map[testdb.Kind]expect
	run  func(t *testing.T, e *env) error
}{
	{"unique_violation", map[testdb.Kind]expect{
		testdb.Postgres: {cat: UniqueViolation, code: true}, // 23505
		testdb.MySQL:    {cat: UniqueViolation, code: true}, // 1062
		testdb.SQLite:   {cat: UniqueViolation, code: true}, // 2067
	}, insertDuplicate},
	{"unique_violation/gorm_translated", map[testdb.Kind]expect{
		// gorm.Config.TranslateError returns gorm.ErrDuplicatedKey. The
		// PostgreSQL dialector wraps the driver error in it (23505 stays);
		// the MySQL and SQLite ones replace it, so the code is lost.
		testdb.Postgres: {cat: UniqueViolation, code: true},
		testdb.MySQL:    {cat: UniqueViolation, code: false},
		testdb.SQLite:   {cat: UniqueViolation, code: false},
	}, insertDuplicateTranslated},
	{"foreign_key_violation", map[testdb.Kind]expect{
		testdb.Postgres: {cat: ForeignKeyViolation, code: true}, // 23503
		testdb.MySQL:    {cat: ForeignKeyViolation, code: true}, // 1452
		testdb.SQLite:   {cat: ForeignKeyViolation, code: true}, // 787
	}, insertOrphan},
	{"foreign_key_violation/delete_parent", map[testdb.Kind]expect{
		testdb.Postgres: {cat: ForeignKeyViolation, code: true}, // 23503
		testdb.MySQL:    {cat: ForeignKeyViolation, code: true}, // 1451
		testdb.SQLite:   {cat: ForeignKeyViolation, code: true}, // 787
	}, deleteReferencedParent},
	{"not_null_violation", map[testdb.Kind]expect{
		testdb.Postgres: {cat: NotNullViolation, code: true}, // 23502
		testdb.MySQL:    {cat: NotNullViolation, code: true}, // 1048
		testdb.SQLite:   {cat: NotNullViolation, code: true}, // 1299
	}, insertNull},
	{"check_violation", map[testdb.Kind]expect{
		testdb.Postgres: {cat: CheckViolation, code: true}, // 23514
		testdb.MySQL:    {cat: CheckViolation, code: true}, // 4025 (MariaDB)
		testdb.SQLite:   {cat: CheckViolation, code: true}, // 275
	}, insertNegativeQty},
	{"not_found", map[testdb.Kind]expect{
		testdb.Postgres: {cat: NotFound, code: false}, // gorm.ErrRecordNotFound
		testdb.MySQL:    {cat: NotFound, code: false},
		testdb.SQLite:   {cat: NotFound, code: false},
	}, firstMissing},
	{"deadlock", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Deadlock, code: true}, // 40P01
		testdb.MySQL:    {cat: Deadlock, code: true}, // 1213
		// SQLite has one writer at a time: the second transaction waits for
		// the database lock instead of taking a row lock, so no cycle forms;
		// it gets SQLITE_BUSY (5) when busy_timeout runs out.
		testdb.SQLite: {cat: Timeout, code: true},
	}, lockInOppositeOrder},
	{"serialization_failure", map[testdb.Kind]expect{
		testdb.Postgres: {cat: SerializationFailure, code: true}, // 40001
		// InnoDB lets a REPEATABLE READ transaction overwrite a row changed
		// since its snapshot unless innodb_snapshot_isolation=ON (MariaDB
		// 10.6.18+, default ON from 11.8), which the scenario sets: 1020.
		testdb.MySQL: {cat: SerializationFailure, code: true},
		// WAL: a read transaction whose snapshot is stale cannot write:
		// SQLITE_BUSY_SNAPSHOT (517).
		testdb.SQLite: {cat: SerializationFailure, code: true},
	}, writeAfterConcurrentUpdate},
	{"serialization_failure/lost_update_without_snapshot_isolation", map[testdb.Kind]expect{
		testdb.Postgres: {cat: SerializationFailure, code: true}, // 40001: PostgreSQL always refuses
		// Without innodb_snapshot_isolation, InnoDB's REPEATABLE READ
		// writes the current row version: the update silently succeeds.
		testdb.MySQL:  {cat: None, code: false},
		testdb.SQLite: {cat: SerializationFailure, code: true}, // 517
	}, writeAfterConcurrentUpdateDefault},
	{"read_only", map[testdb.Kind]expect{
		testdb.Postgres: {cat: ReadOnly, code: true}, // 25006, SET TRANSACTION READ ONLY
		testdb.MySQL:    {cat: ReadOnly, code: true}, // 1792, START TRANSACTION READ ONLY
		testdb.SQLite:   {cat: ReadOnly, code: true}, // 8, PRAGMA query_only = 1
	}, writeInReadOnly},
	{"syntax", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Syntax, code: true}, // 42601
		testdb.MySQL:    {cat: Syntax, code: true}, // 1064
		testdb.SQLite:   {cat: Syntax, code: true}, // 1, "syntax error"
	}, badSyntax},
	{"undefined_object/table", map[testdb.Kind]expect{
		testdb.Postgres: {cat: UndefinedObject, code: true}, // 42P01
		testdb.MySQL:    {cat: UndefinedObject, code: true}, // 1146
		testdb.SQLite:   {cat: UndefinedObject, code: true}, // 1, "no such table"
	}, missingTable},
	{"undefined_object/column", map[testdb.Kind]expect{
		testdb.Postgres: {cat: UndefinedObject, code: true}, // 42703
		testdb.MySQL:    {cat: UndefinedObject, code: true}, // 1054
		testdb.SQLite:   {cat: UndefinedObject, code: true}, // 1, "no such column"
	}, missingColumn},
	{"invalid_data/too_long", map[testdb.Kind]expect{
		testdb.Postgres: {cat: InvalidData, code: true}, // 22001
		testdb.MySQL:    {cat: InvalidData, code: true}, // 1406, strict mode
		// SQLite does not enforce VARCHAR(n): the long value is stored.
		testdb.SQLite: {cat: None, code: false},
	}, insertTooLong},
	{"invalid_data/bad_value", map[testdb.Kind]expect{
		testdb.Postgres: {cat: InvalidData, code: true}, // 22P02, 'abc'::integer
		testdb.MySQL:    {cat: InvalidData, code: true}, // 1366, 'abc' into an INT column
		testdb.SQLite:   {cat: InvalidData, code: true}, // 3091, STRICT table type mismatch
	}, insertBadValue},
	{"permission_denied", map[testdb.Kind]expect{
		testdb.Postgres: {cat: PermissionDenied, code: true}, // 42501, SET ROLE to a role without grants
		testdb.MySQL:    {cat: PermissionDenied, code: true}, // 1142, a user without grants
		// SQLite has no users or privileges (SQLITE_PERM/SQLITE_AUTH need an
		// authorizer callback, which database/sql drivers do not expose).
		// The nearest thing, a read-only handle, gives read_only (8).
		testdb.SQLite: {cat: ReadOnly, code: true},
	}, noPrivilege},
	{"permission_denied/connect", map[testdb.Kind]expect{
		testdb.Postgres: {cat: PermissionDenied, code: true}, // 28000, role not permitted to log in
		testdb.MySQL:    {cat: PermissionDenied, code: true}, // 1044, no access to the database
		testdb.SQLite:   {na: "SQLite has no users or authentication"},
	}, connectWithoutPrivilege},
	{"connection/refused", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Connection, code: false}, // *pgconn.ConnectError, ECONNREFUSED
		testdb.MySQL:    {cat: Connection, code: false}, // *net.OpError, ECONNREFUSED
		// An SQLite "server" is a file: one that cannot be opened is
		// SQLITE_CANTOPEN (14).
		testdb.SQLite: {cat: Connection, code: true},
	}, connectClosedPort},
	{"connection/session_killed", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Connection, code: true},  // 57P01, pg_terminate_backend
		testdb.MySQL:    {cat: Connection, code: false}, // mysql.ErrInvalidConn after KILL CONNECTION
		testdb.SQLite:   {na: "no server session to kill; a closed handle is closed/db"},
	}, killSession},
	{"timeout/server", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Timeout, code: true}, // 57014, statement_timeout
		testdb.MySQL:    {cat: Timeout, code: true}, // 1969, max_statement_time
		// SQLite has no statement timeout; its server-side wait limit is
		// busy_timeout: SQLITE_BUSY (5) waiting for another writer.
		testdb.SQLite: {cat: Timeout, code: true},
	}, serverTimeout},
	{"timeout/lock_wait", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Timeout, code: true}, // 55P03, lock_timeout
		testdb.MySQL:    {cat: Timeout, code: true}, // 1205, innodb_lock_wait_timeout
		testdb.SQLite:   {cat: Timeout, code: true}, // 5, busy_timeout
	}, lockWaitTimeout},
	{"timeout/context_deadline_query", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Timeout, code: false}, // context.DeadlineExceeded
		testdb.MySQL:    {cat: Timeout, code: false},
		testdb.SQLite:   {cat: Timeout, code: false}, // database/sql reports the context error for rows
	}, contextDeadlineQuery},
	{"timeout/context_deadline_exec", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Timeout, code: false},
		testdb.MySQL:    {cat: Timeout, code: false},
		// modernc.org/sqlite interrupts the statement and returns the
		// context's error (glebarez/go-sqlite returned only
		// SQLITE_INTERRUPT (9), which classified as canceled).
		testdb.SQLite: {cat: Timeout, code: false},
	}, contextDeadlineExec},
	{"canceled", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Canceled, code: false}, // context.Canceled
		testdb.MySQL:    {cat: Canceled, code: false},
		testdb.SQLite:   {cat: Canceled, code: false},
	}, contextCancelQuery},
	{"canceled/exec", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Canceled, code: false},
		testdb.MySQL:    {cat: Canceled, code: false},
		testdb.SQLite:   {cat: Canceled, code: false}, // the context's error, from modernc
	}, contextCancelExec},
	{"canceled/by_server_admin", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Canceled, code: true}, // 57014 "due to user request", pg_cancel_backend
		testdb.MySQL:    {cat: Canceled, code: true}, // 1317, KILL QUERY
		testdb.SQLite:   {na: "no other session can interrupt an SQLite statement"},
	}, cancelFromAnotherSession},
	{"closed/tx", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Closed, code: false}, // sql.ErrTxDone
		testdb.MySQL:    {cat: Closed, code: false},
		testdb.SQLite:   {cat: Closed, code: false},
	}, useTxAfterCommit},
	{"closed/db", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Closed, code: false}, // "sql: database is closed"
		testdb.MySQL:    {cat: Closed, code: false},
		testdb.SQLite:   {cat: Closed, code: false},
	}, useClosedDB},
	{"closed/aborted_tx", map[testdb.Kind]expect{
		testdb.Postgres: {cat: Closed, code: true}, // 25P02 in_failed_sql_transaction
		// MariaDB and SQLite keep a transaction usable after a failed
		// statement: the next statement succeeds.
		testdb.MySQL:  {cat: None, code: false},
		testdb.SQLite: {cat: None, code: false},
	}, useAbortedTx},
}

func TestRealDatabases(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		for _, tc := range realCases {
			want, ok := tc.want[kind]
			if !ok {
				t.Fatalf("%s: no expectation for %s", tc.name, kind)
			}
			if want.na != "" {
				t.Logf("%s: not applicable on %s: %s", tc.name, kind, want.na)
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, kind)
				err := tc.run(t, e)
				got, code := Classify(err), Code(err)
				t.Logf("%s %s: category=%s code=%q err=%v", kind, tc.name, got, code, err)
				if got != want.cat {
					t.Fatalf("Classify = %q, want %q; err (%T) = %v", got, want.cat, err, err)
				}
				if (code != "") != want.code {
					t.Errorf("Code = %q, want a code: %v; err = %v", code, want.code, err)
				}
			})
		}
	})
}
