package errclass

import "strings"

// pgCodes maps full PostgreSQL SQLSTATEs. Codes not listed fall back to
// pgClasses by their first two characters.
var pgCodes = map[string]Category{
	// Connection and server availability.
	"53300": Connection,    // too_many_connections
	"57P01": Connection,    // admin_shutdown (pg_terminate_backend, fast shutdown)
	"57P02": Connection,    // crash_shutdown
	"57P03": Connection,    // cannot_connect_now (starting up, in recovery)
	"57P04": Connection,    // database_dropped
	"57P05": Connection,    // idle_session_timeout: the session is gone
	"57000": Connection,    // operator_intervention
	"08007": CommitUnknown, // transaction_resolution_unknown
	"40003": CommitUnknown, // statement_completion_unknown

	// Time limits the server enforces.
	"57014": Timeout, // query_canceled; "due to user request" is Canceled, see pgCategory
	"55P03": Timeout, // lock_not_available: lock_timeout or NOWAIT
	"25P03": Timeout, // idle_in_transaction_session_timeout
	"25P04": Timeout, // transaction_timeout (PostgreSQL 17)

	// Transaction conflicts.
	"40001": SerializationFailure,
	"72000": SerializationFailure, // snapshot_too_old: a retry gets a new snapshot
	"40P01": Deadlock,

	// Integrity constraints.
	"23505": UniqueViolation,
	"23P01": UniqueViolation, // exclusion_violation: a conflicting row, like unique
	"23503": ForeignKeyViolation,
	"23001": ForeignKeyViolation, // restrict_violation (ON DELETE RESTRICT)
	"23502": NotNullViolation,
	"23514": CheckViolation,

	// Transaction state.
	"25006": ReadOnly, // read_only_sql_transaction
	"25P02": Closed,   // in_failed_sql_transaction: the transaction is unusable until rollback

	// Objects that do not exist.
	"42P01": UndefinedObject, // undefined_table
	"42703": UndefinedObject, // undefined_column
	"42883": UndefinedObject, // undefined_function
	"42704": UndefinedObject, // undefined_object
	"42P02": UndefinedObject, // undefined_parameter
	"3F000": UndefinedObject, // invalid_schema_name
	"3D000": UndefinedObject, // invalid_catalog_name: the database does not exist

	// Class 42 codes that are not "the query is malformed".
	"42501": PermissionDenied, // insufficient_privilege
	"42804": InvalidData,      // datatype_mismatch: a value of the wrong type
	"42P03": Unknown,          // duplicate_cursor
	"42P04": Unknown,          // duplicate_database
	"42P05": Unknown,          // duplicate_prepared_statement
	"42P06": Unknown,          // duplicate_schema
	"42P07": Unknown,          // duplicate_table
	"42710": Unknown,          // duplicate_object
	"42712": Unknown,          // duplicate_alias
	"42723": Unknown,          // duplicate_function
}

// pgClasses maps SQLSTATE classes (first two characters).
var pgClasses = map[string]Category{
	"08": Connection,       // connection_exception
	"22": InvalidData,      // data_exception
	"28": PermissionDenied, // invalid_authorization_specification
	"42": Syntax,           // syntax_error_or_access_rule_violation (rest of it)
}

// pgCategory classifies a PostgreSQL SQLSTATE; msg is the error text.
func pgCategory(state, msg string) Category {
	if c, ok := pgCodes[state]; ok {
		if state == "57014" && strings.Contains(msg, "user request") {
			// pg_cancel_backend or a driver's cancel request: someone
			// abandoned the statement, the server was not slow.
			return Canceled
		}
		return c
	}
	if len(state) == 5 {
		if c, ok := pgClasses[state[:2]]; ok {
			return c
		}
	}
	return Unknown
}
