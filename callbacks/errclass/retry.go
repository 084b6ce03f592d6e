package errclass

import "database/sql/driver"

// beforeStatementError marks an error raised before any statement of the
// transaction reached the server.
type beforeStatementError struct{ err error }

func (e *beforeStatementError) Error() string { return e.err.Error() }
func (e *beforeStatementError) Unwrap() error { return e.err }

// MarkBeforeStatement wraps err to record that it happened before any
// statement was sent: a connection could not be acquired or dialed. The
// pool wrapper calls it; IsRetryable then treats a connection error as safe
// to retry. The result unwraps to err and has err's message; Classify and
// Code see through it. MarkBeforeStatement(nil) returns nil, and an error
// already marked is returned as is.
func MarkBeforeStatement(err error) error {
	if err == nil {
		return nil
	}
	if BeforeStatement(err) {
		return err
	}
	return &beforeStatementError{err: err}
}

// BeforeStatement reports whether err, or an error it wraps, was marked by
// MarkBeforeStatement. It is false for nil.
func BeforeStatement(err error) (ok bool) {
	if err == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return inspect(err).marked
}

// safeToRetry reports whether the driver itself says e was raised before
// anything was sent: driver.ErrBadConn (database/sql's contract forbids it
// otherwise), go-sql-driver/mysql's errBadConnNoWrite, or pgx's
// SafeToRetry() true.
func safeToRetry(e error) bool {
	if is(e, driver.ErrBadConn) || isMySQLNoWrite(e) {
		return true
	}
	if s, ok := e.(interface{ SafeToRetry() bool }); ok {
		return s.SafeToRetry()
	}
	return false
}

// IsRetryable reports whether the whole transaction that failed with err
// can safely run again:
//
//   - serialization_failure and deadlock: the database rolled the
//     transaction back so that a retry can succeed;
//   - connection, only if the error is known to precede every statement:
//     marked with MarkBeforeStatement, or driver.ErrBadConn, or a pgx error
//     whose SafeToRetry() is true. A plain connection error may have hit
//     after the server did the work, so it is not retryable.
//
// Everything else is false, and always commit_unknown, timeout, canceled,
// pool_exhausted and circuit_open (retrying adds load to a struggling
// database, or cannot succeed). nil gives false. It never panics.
func IsRetryable(err error) (ok bool) {
	if err == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f := inspect(err)
	switch f.category() {
	case SerializationFailure, Deadlock:
		return true
	case Connection:
		return f.marked || f.safe
	}
	return false
}
