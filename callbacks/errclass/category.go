// Package errclass puts a database error in one Category. It is the leaf
// package every other package of gormsession imports: plugin re-exports it.
package errclass

import "errors"

// Category names the kind of a database failure. The zero value "" means no
// error.
type Category string

// The categories, exactly as DESIGN.md fixes them.
const (
	None                 Category = ""
	Connection           Category = "connection"
	Timeout              Category = "timeout"
	Canceled             Category = "canceled"
	PoolExhausted        Category = "pool_exhausted"
	CircuitOpen          Category = "circuit_open"
	UniqueViolation      Category = "unique_violation"
	ForeignKeyViolation  Category = "foreign_key_violation"
	NotNullViolation     Category = "not_null_violation"
	CheckViolation       Category = "check_violation"
	NotFound             Category = "not_found"
	Deadlock             Category = "deadlock"
	SerializationFailure Category = "serialization_failure"
	ReadOnly             Category = "read_only"
	Syntax               Category = "syntax"
	UndefinedObject      Category = "undefined_object"
	InvalidData          Category = "invalid_data"
	PermissionDenied     Category = "permission_denied"
	Closed               Category = "closed"
	CommitUnknown        Category = "commit_unknown"
	Unknown              Category = "unknown"
)

// Sentinel errors produced by gormsession itself. Errors returned to callers
// wrap them, so test with errors.Is.
var (
	// ErrCircuitOpen: the source's circuit breaker is open (or half-open and
	// full); the statement was not sent.
	ErrCircuitOpen = errors.New("circuit open")
	// ErrPoolTimeout: no connection became free within Config.PoolTimeout.
	ErrPoolTimeout = errors.New("pool timeout")
	// ErrQueryTimeout: the statement or transaction ran past the deadline
	// gormsession set for it. Errors wrapping it also wrap
	// context.DeadlineExceeded.
	ErrQueryTimeout = errors.New("query timeout")
	// ErrCommitUnknown: the connection was lost while COMMIT was in flight;
	// the transaction may or may not have been committed. Never retried.
	ErrCommitUnknown = errors.New("commit outcome unknown")
)

// Infrastructure reports whether c means the database itself is unwell
// (connection, timeout, pool_exhausted): the only categories a circuit
// breaker counts as failures. Server shutdown and too many connections
// classify as connection. None and every other category give false.
func (c Category) Infrastructure() bool {
	return c == Connection || c == Timeout || c == PoolExhausted
}
