package errclass

import (
	"context"
	"errors"
)

// Classify returns the Category of err, looking through any wrapping (%w,
// errors.Join). It returns None for a nil error and Unknown for an error it
// does not recognise. It never panics.
//
// STUB: only gormsession's sentinels and context errors so far.
func Classify(err error) Category {
	switch {
	case err == nil:
		return None
	case errors.Is(err, ErrCircuitOpen):
		return CircuitOpen
	case errors.Is(err, ErrPoolTimeout):
		return PoolExhausted
	case errors.Is(err, ErrCommitUnknown):
		return CommitUnknown
	case errors.Is(err, ErrQueryTimeout), errors.Is(err, context.DeadlineExceeded):
		return Timeout
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}

// Infrastructure reports whether c means the database itself is unwell
// (connection, timeout, pool_exhausted): the only categories a circuit
// breaker counts as failures.
func (c Category) Infrastructure() bool {
	return c == Connection || c == Timeout || c == PoolExhausted
}
