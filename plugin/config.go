package sessionplugin

import (
	"time"

	"go.uber.org/zap"

	"github.com/replyrocket/gormsession/breaker"
)

// Config configures the plugin. Start from DefaultConfig or ConfigFromEnv;
// a zero Config is invalid (PoolSize 0). Every duration of 0 turns its
// feature off unless the field says otherwise.
type Config struct {
	// Logger receives one structured line per failed scope, breaker state
	// changes and the monitor's reports. nil means zap.NewNop().
	Logger *zap.Logger
	// LogParams logs bound parameter values in the SQL of a log line.
	// Off by default: values may hold personal data or secrets.
	LogParams bool

	// PoolSize is the number of connections kept idle (MaxIdleConns).
	// Env DB_POOL_SIZE, default 5.
	PoolSize int
	// MaxOverflow is how many connections may be opened beyond PoolSize
	// under load; MaxOpenConns = PoolSize + MaxOverflow.
	// Env DB_MAX_OVERFLOW, default 10.
	MaxOverflow int
	// PoolTimeout bounds the wait for a free connection. Past it a
	// statement or BEGIN fails with ErrPoolTimeout (category
	// pool_exhausted). 0 waits as long as the statement's own deadline.
	// Env DB_POOL_TIMEOUT, default 30s.
	PoolTimeout time.Duration
	// PoolRecycle is ConnMaxLifetime: a connection older than it is closed
	// instead of reused. Env DB_POOL_RECYCLE, default 30m.
	PoolRecycle time.Duration
	// ConnMaxIdleTime closes a connection idle for longer than it.
	// Env DB_CONN_MAX_IDLE_TIME, default 5m.
	ConnMaxIdleTime time.Duration

	// QueryTimeout is the deadline of one statement, applied when the
	// caller's context has no sooner one. Env DB_QUERY_TIMEOUT, default 30s.
	QueryTimeout time.Duration
	// OperationTimeouts overrides QueryTimeout for one kind of statement.
	OperationTimeouts OperationTimeouts
	// TransactionTimeout bounds a whole transaction, from BEGIN to COMMIT.
	// Env DB_TX_TIMEOUT, default 60s.
	TransactionTimeout time.Duration

	// SlowThreshold: a statement slower than it is logged at warn.
	// Env DB_SLOW_THRESHOLD, default 200ms.
	SlowThreshold time.Duration
	// LongRunningThreshold: a scope open longer than it is reported by the
	// monitor. Env DB_LONG_RUNNING_THRESHOLD, default 30s.
	LongRunningThreshold time.Duration
	// IdleInTxThreshold: a transaction with no statement running for longer
	// than it is reported as idle in transaction.
	// Env DB_IDLE_IN_TX_THRESHOLD, default 10s.
	IdleInTxThreshold time.Duration

	// Breaker configures the per-source circuit breakers (env DB_BREAKER_*).
	Breaker breaker.Config
	// SharedBreaker shares each source's breaker with the other instances
	// of the service: once one opens, every one fails fast, and one at a
	// time probes. Use a *redisshare.Fleet (package breaker/redisshare),
	// which stays yours to Close after the plugin. Set in code; nil (the
	// default) keeps each instance's breakers its own.
	SharedBreaker breaker.Shared
}

// OperationTimeouts overrides Config.QueryTimeout per kind of statement. A
// zero field means "use QueryTimeout"; a negative one means "no deadline".
type OperationTimeouts struct {
	Query, Create, Update, Delete, Raw, Row time.Duration
}

// DefaultConfig returns the documented defaults, with a no-op logger.
func DefaultConfig() Config {
	return Config{
		PoolSize:             5,
		MaxOverflow:          10,
		PoolTimeout:          30 * time.Second,
		PoolRecycle:          30 * time.Minute,
		ConnMaxIdleTime:      5 * time.Minute,
		QueryTimeout:         30 * time.Second,
		TransactionTimeout:   60 * time.Second,
		SlowThreshold:        200 * time.Millisecond,
		LongRunningThreshold: 30 * time.Second,
		IdleInTxThreshold:    10 * time.Second,
		Breaker:              breaker.DefaultConfig(),
	}
}
