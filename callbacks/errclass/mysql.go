package errclass

import "strings"

// mysqlCodes maps MySQL and MariaDB server error numbers (and the client
// numbers 2002-2013 some drivers report).
var mysqlCodes = map[uint16]Category{
	// Unique.
	1062: UniqueViolation, // ER_DUP_ENTRY
	1586: UniqueViolation, // ER_DUP_ENTRY_WITH_KEY_NAME
	1022: UniqueViolation, // ER_DUP_KEY

	// Foreign key.
	1451: ForeignKeyViolation, // ER_ROW_IS_REFERENCED_2 (delete/update parent)
	1452: ForeignKeyViolation, // ER_NO_REFERENCED_ROW_2 (insert/update child)
	1216: ForeignKeyViolation, // ER_NO_REFERENCED_ROW
	1217: ForeignKeyViolation, // ER_ROW_IS_REFERENCED

	// Not null.
	1048: NotNullViolation, // ER_BAD_NULL_ERROR
	1364: NotNullViolation, // ER_NO_DEFAULT_FOR_FIELD (strict mode)
	1263: NotNullViolation, // ER_WARN_NULL_TO_NOTNULL

	// Check.
	3819: CheckViolation, // MySQL ER_CHECK_CONSTRAINT_VIOLATED
	4025: CheckViolation, // MariaDB ER_CONSTRAINT_FAILED

	// Transaction conflicts.
	1213: Deadlock,             // ER_LOCK_DEADLOCK
	1020: SerializationFailure, // ER_CHECKREAD: MariaDB innodb_snapshot_isolation conflict

	// Time limits.
	1205: Timeout, // ER_LOCK_WAIT_TIMEOUT
	3572: Timeout, // MySQL ER_LOCK_NOWAIT
	3024: Timeout, // MySQL max_execution_time exceeded
	1969: Timeout, // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
	// ER_QUERY_INTERRUPTED: KILL QUERY from another session. The drivers do
	// not send KILL when a context ends (they close the connection), so
	// this is someone abandoning the statement, not a slow server.
	1317: Canceled,

	// Read only.
	1792: ReadOnly, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
	1290: ReadOnly, // ER_OPTION_PREVENTS_STATEMENT (--read-only; see mysqlCategory)
	1836: ReadOnly, // ER_READ_ONLY_MODE

	// Syntax.
	1064: Syntax, // ER_PARSE_ERROR
	1149: Syntax, // ER_SYNTAX_ERROR

	// Undefined object.
	1146: UndefinedObject, // ER_NO_SUCH_TABLE
	1054: UndefinedObject, // ER_BAD_FIELD_ERROR
	1049: UndefinedObject, // ER_BAD_DB_ERROR
	1305: UndefinedObject, // ER_SP_DOES_NOT_EXIST
	1091: UndefinedObject, // ER_CANT_DROP_FIELD_OR_KEY
	1051: UndefinedObject, // ER_BAD_TABLE_ERROR
	1109: UndefinedObject, // ER_UNKNOWN_TABLE

	// Invalid data.
	1366: InvalidData, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
	1406: InvalidData, // ER_DATA_TOO_LONG
	1264: InvalidData, // ER_WARN_DATA_OUT_OF_RANGE
	1292: InvalidData, // ER_TRUNCATED_WRONG_VALUE
	1265: InvalidData, // WARN_DATA_TRUNCATED
	1411: InvalidData, // ER_WRONG_VALUE_FOR_TYPE
	1367: InvalidData, // ER_ILLEGAL_VALUE_FOR_TYPE
	1365: InvalidData, // ER_DIVISION_BY_ZERO (strict mode)
	1690: InvalidData, // ER_DATA_OUT_OF_RANGE
	3140: InvalidData, // MySQL ER_INVALID_JSON_TEXT

	// Permission.
	1142: PermissionDenied, // ER_TABLEACCESS_DENIED_ERROR
	1143: PermissionDenied, // ER_COLUMNACCESS_DENIED_ERROR
	1044: PermissionDenied, // ER_DBACCESS_DENIED_ERROR
	1045: PermissionDenied, // ER_ACCESS_DENIED_ERROR (bad user or password)
	1227: PermissionDenied, // ER_SPECIFIC_ACCESS_DENIED_ERROR
	1370: PermissionDenied, // ER_PROCACCESS_DENIED_ERROR
	1698: PermissionDenied, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	1130: PermissionDenied, // ER_HOST_NOT_PRIVILEGED

	// Connection.
	1040: Connection, // ER_CON_COUNT_ERROR: too many connections
	1053: Connection, // ER_SERVER_SHUTDOWN
	1152: Connection, // ER_ABORTING_CONNECTION
	1158: Connection, // ER_NET_READ_ERROR
	1159: Connection, // ER_NET_READ_INTERRUPTED
	1160: Connection, // ER_NET_ERROR_ON_WRITE
	1161: Connection, // ER_NET_WRITE_INTERRUPTED
	1129: Connection, // ER_HOST_IS_BLOCKED
	1927: Connection, // MariaDB ER_CONNECTION_KILLED
	4031: Connection, // MySQL ER_CLIENT_INTERACTION_TIMEOUT
	2002: Connection, // CR_CONNECTION_ERROR
	2003: Connection, // CR_CONN_HOST_ERROR
	2006: Connection, // CR_SERVER_GONE_ERROR
	2013: Connection, // CR_SERVER_LOST
}

// mysqlCategory classifies a MySQL/MariaDB error number; state is its
// SQLSTATE, used for numbers not in the table.
func mysqlCategory(num uint16, state [5]byte, msg string) Category {
	if c, ok := mysqlCodes[num]; ok {
		if num == 1290 && strings.Contains(msg, "secure-file-priv") {
			return PermissionDenied
		}
		return c
	}
	switch s := string(state[:]); {
	case s[:2] == "08":
		return Connection
	case s[:2] == "22":
		return InvalidData
	case s == "42S02", s == "42S22":
		return UndefinedObject
	}
	return Unknown
}
