package sessionplugin

import (
	"context"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/callbacks"
)

// TimeoutError reports which deadline ran out (pool wait, statement, or
// transaction) with the pool's state; see callbacks.TimeoutError.
type TimeoutError = callbacks.TimeoutError

// CommitUnknownError reports a COMMIT that lost its connection.
type CommitUnknownError = callbacks.CommitUnknownError

// WithTimeout returns a session of db whose statements get deadline d
// instead of QueryTimeout and OperationTimeouts (a sooner deadline of the
// context still wins). d <= 0 is the same as WithoutTimeout. A nil db
// returns nil.
func WithTimeout(db *gorm.DB, d time.Duration) *gorm.DB {
	if db == nil {
		return nil
	}
	if d <= 0 {
		d = callbacks.NoTimeout
	}
	return db.WithContext(callbacks.WithStatementTimeout(ctxOf(db), d))
}

// WithoutTimeout returns a session of db whose statements get no deadline
// from gormsession (the context's own deadline still applies). A nil db
// returns nil.
func WithoutTimeout(db *gorm.DB) *gorm.DB {
	if db == nil {
		return nil
	}
	return db.WithContext(callbacks.WithStatementTimeout(ctxOf(db), callbacks.NoTimeout))
}

func ctxOf(db *gorm.DB) context.Context {
	if db.Statement != nil && db.Statement.Context != nil {
		return db.Statement.Context
	}
	return context.Background()
}

// WithLogFields returns ctx carrying fields (a route, a request id) that
// every gormsession log line about a statement or transaction run with it
// includes. Use it in request middleware: db.WithContext(ctx). Fields
// already in ctx are kept; a nil ctx is context.Background(). Read only
// when a line is written: no cost per statement.
func WithLogFields(ctx context.Context, fields ...zap.Field) context.Context {
	return callbacks.WithLogFields(ctx, fields...)
}
