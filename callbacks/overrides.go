package callbacks

import (
	"context"
	"time"

	"go.uber.org/zap"
)

type timeoutKey struct{}
type txTimeoutKey struct{}
type logFieldsKey struct{}

// NoTimeout, given to WithStatementTimeout, removes gormsession's statement
// deadline (the caller's context still applies).
const NoTimeout time.Duration = -1

// WithStatementTimeout returns ctx carrying a per-call statement timeout that
// overrides Config.QueryTimeout and OperationTimeouts; NoTimeout means none.
// A nil ctx is treated as context.Background().
func WithStatementTimeout(ctx context.Context, d time.Duration) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, timeoutKey{}, d)
}

// WithTransactionTimeout returns ctx carrying a transaction timeout that
// overrides Config.TransactionTimeout for transactions begun with it;
// NoTimeout means none. A nil ctx is treated as context.Background().
func WithTransactionTimeout(ctx context.Context, d time.Duration) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, txTimeoutKey{}, d)
}

func statementOverride(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(timeoutKey{}).(time.Duration)
	return d, ok
}

func transactionOverride(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(txTimeoutKey{}).(time.Duration)
	return d, ok
}

// WithLogFields returns ctx carrying fields that every gormsession log line
// about a statement or transaction run with it will include (a route, a
// request id). Fields already in ctx are kept; a nil ctx is treated as
// context.Background(). They are read only when a line is written, so
// they cost nothing per statement.
func WithLogFields(ctx context.Context, fields ...zap.Field) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	prev := logFields(ctx)
	all := make([]zap.Field, 0, len(prev)+len(fields))
	all = append(append(all, prev...), fields...)
	return context.WithValue(ctx, logFieldsKey{}, all)
}

// LogFields returns the fields WithLogFields put in ctx (nil if none, or
// for a nil ctx). The slice is shared: do not modify it.
func LogFields(ctx context.Context) []zap.Field { return logFields(ctx) }

func logFields(ctx context.Context) []zap.Field {
	if ctx == nil {
		return nil
	}
	f, _ := ctx.Value(logFieldsKey{}).([]zap.Field)
	return f
}
