package errclass

import "go.uber.org/zap/zapcore"

// Level returns the zap level a failure of category c is logged at:
//
//   - DebugLevel: not_found (an empty result is part of normal control
//     flow), and None (nothing failed);
//   - InfoLevel: canceled (the caller gave up: a client went away);
//   - WarnLevel: the caller's statement or data was refused: unique,
//     foreign key, not null and check violations, invalid_data, syntax,
//     undefined_object, read_only, permission_denied; and deadlock and
//     serialization_failure, which are expected under contention and which
//     a transaction retry resolves;
//   - ErrorLevel: everything else: infrastructure (connection, timeout,
//     pool_exhausted), circuit_open, closed (a handle used after it ended,
//     a bug), commit_unknown, unknown, and any category not listed here.
func (c Category) Level() zapcore.Level {
	switch c {
	case None, NotFound:
		return zapcore.DebugLevel
	case Canceled:
		return zapcore.InfoLevel
	case UniqueViolation, ForeignKeyViolation, NotNullViolation, CheckViolation,
		InvalidData, Syntax, UndefinedObject, ReadOnly, PermissionDenied,
		Deadlock, SerializationFailure:
		return zapcore.WarnLevel
	}
	return zapcore.ErrorLevel
}
