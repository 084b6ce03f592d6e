package callbacks

import (
	"context"
	"time"
)

type timeoutKey struct{}
type txTimeoutKey struct{}

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
