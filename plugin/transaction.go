package sessionplugin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/callbacks"
	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// TxOption configures one Transaction call.
type TxOption interface{ apply(*txOptions) }

type txOptions struct {
	sqlOpts *sql.TxOptions
	timeout time.Duration
	hasTO   bool
	retries int
	backoff time.Duration
}

type optionFunc func(*txOptions)

func (f optionFunc) apply(o *txOptions) { f(o) }

// WithTxOptions sets the isolation level and read-only flag of BEGIN. nil
// means the driver's defaults.
func WithTxOptions(opts *sql.TxOptions) TxOption {
	return optionFunc(func(o *txOptions) { o.sqlOpts = opts })
}

// WithTxTimeout bounds the whole transaction, BEGIN to COMMIT, by d instead
// of Config.TransactionTimeout. d <= 0 means no deadline from gormsession.
func WithTxTimeout(d time.Duration) TxOption {
	return optionFunc(func(o *txOptions) { o.timeout, o.hasTO = d, true })
}

// WithRetry re-runs the whole transaction up to n more times when it fails
// with a serialization failure or a deadlock (IsRetryable), sleeping a
// random time in [0, backoff·2^attempt) between attempts (full jitter, capped
// at 30s) and giving up early when ctx ends. n <= 0 means no retry; backoff
// <= 0 means 10ms. A commit_unknown error is never retried.
func WithRetry(n int, backoff time.Duration) TxOption {
	return optionFunc(func(o *txOptions) { o.retries, o.backoff = n, backoff })
}

// IsRetryable reports whether err is safe to retry as a whole transaction:
// a serialization failure, a deadlock, or a connection error raised before
// any statement was sent. nil is not retryable.
func IsRetryable(err error) bool { return errclass.IsRetryable(err) }

var savepointSeq atomic.Uint64

// Transaction runs fn in a transaction on db, the way Python's
// "with session.begin():" does:
//   - fn returns nil: COMMIT; Transaction returns COMMIT's error (a lost
//     connection during COMMIT is a *CommitUnknownError, category
//     commit_unknown, never retried);
//   - fn returns an error: ROLLBACK, and that same error is returned so
//     errors.Is/As keep working (a failed ROLLBACK is joined to it);
//   - fn panics: ROLLBACK, then the same value is panicked again.
//
// Called with a db that is already in a transaction (the tx given to an
// outer fn), it uses a SAVEPOINT instead, and rolls back to it on error or
// panic. With the plugin installed the transaction is a tracked scope, an
// open breaker fails it before BEGIN with ErrCircuitOpen, and the
// connection wait is bounded by PoolTimeout; without the plugin it still
// works, with DefaultConfig's TransactionTimeout. A nil ctx (a
// transaction's context decides when it is cut, so none is guessed), db or
// fn, or a *gorm.DB not made by gorm.Open, is an error naming it; a db that
// already carries an error (db.Error) returns that error. Nothing is begun
// in either case.
//
// tx is valid only until fn returns: a statement on it afterwards, or a
// Commit or Rollback of it, fails with category closed.
func Transaction(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error, opts ...TxOption) error {
	if db == nil {
		return errors.New("sessionplugin: Transaction: nil *gorm.DB")
	}
	if db.Config == nil || db.Statement == nil {
		return errors.New("sessionplugin: Transaction: *gorm.DB not opened with gorm.Open")
	}
	if fn == nil {
		return errors.New("sessionplugin: Transaction: nil fn")
	}
	if ctx == nil {
		return errors.New("sessionplugin: Transaction: nil context.Context (pass context.Background() for none)")
	}
	if db.Error != nil {
		// GORM's Begin would still send BEGIN, and the error it carries
		// would hide the open transaction from us (db.Transaction leaks it).
		return db.Error
	}
	var o txOptions
	if len(opts) > 0 {
		o = txOptionsOf(opts)
	}
	if c, ok := db.Statement.ConnPool.(gorm.TxCommitter); ok && c != nil {
		return savepoint(ctx, db, fn)
	}
	for attempt := 0; ; attempt++ {
		err := runTx(ctx, db, fn, &o)
		if err == nil || attempt >= o.retries || !errclass.IsRetryable(err) {
			return err
		}
		if werr := sleepBackoff(ctx, o.backoff, attempt); werr != nil {
			return err
		}
	}
}

// txOptionsOf applies opts, skipping nil ones. Apart from Transaction so
// that the options escape (through the interface call) only when given.
func txOptionsOf(opts []TxOption) (o txOptions) {
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return o
}

func runTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error, o *txOptions) (err error) {
	_, installed := FromDB(db)
	if o.hasTO {
		d := o.timeout
		if d <= 0 {
			d = callbacks.NoTimeout
		}
		ctx = callbacks.WithTransactionTimeout(ctx, d)
	}
	if !installed {
		// No plugin to own the deadline: apply it here, and always cancel.
		d := DefaultConfig().TransactionTimeout
		if o.hasTO {
			d = o.timeout
		}
		if d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	var txOpts []*sql.TxOptions
	if o.sqlOpts != nil {
		txOpts = append(txOpts, o.sqlOpts)
	}
	tx := begin(ctx, db, txOpts)
	if tx.Error != nil {
		return tx.Error
	}
	committer, ok := tx.Statement.ConnPool.(gorm.TxCommitter)
	if !ok {
		return fmt.Errorf("sessionplugin: Transaction: BEGIN gave %T, not a transaction", tx.Statement.ConnPool)
	}
	panicked := true
	defer func() {
		if panicked {
			_ = committer.Rollback()
		}
	}()
	err = fn(tx)
	panicked = false
	if err != nil {
		if rbErr := committer.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			err = errors.Join(err, fmt.Errorf("sessionplugin: rollback: %w", rbErr))
		}
		return err
	}
	refused := ctx.Err() != nil // database/sql will not send it
	if err = committer.Commit(); err != nil && !tracked(committer) && !refused && callbacks.CommitOutcomeUnknown(err) {
		// A transaction the plugin did not begin (no plugin, or one begun
		// on a source dbresolver picked): translate here.
		err = &callbacks.CommitUnknownError{Source: "database", Err: err}
	}
	return err
}

// tracked reports whether c is the plugin's own transaction, whose Commit
// already reports an unknown outcome.
func tracked(c gorm.TxCommitter) bool {
	switch v := c.(type) {
	case *callbacks.Tx:
		return true
	case *gorm.PreparedStmtTX:
		_, ok := v.Tx.(*callbacks.Tx)
		return ok
	}
	return false
}

func savepoint(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) (err error) {
	name := fmt.Sprintf("gormsession_sp%d", savepointSeq.Add(1))
	tx := db.WithContext(ctx)
	// GORM's PostgreSQL and SQLite dialects drop SAVEPOINT's error (a
	// nested Transaction on an ended or aborted transaction would run fn
	// with no savepoint and return nil): run the statements ourselves.
	if err := savepointExec(tx, "SAVEPOINT "+name); err != nil {
		return err
	}
	panicked := true
	defer func() {
		if panicked {
			_ = savepointExec(tx, "ROLLBACK TO SAVEPOINT "+name)
		}
	}()
	err = fn(tx.Session(&gorm.Session{}))
	panicked = false
	if err != nil {
		if rbErr := savepointExec(tx, "ROLLBACK TO SAVEPOINT "+name); rbErr != nil {
			err = errors.Join(err, fmt.Errorf("sessionplugin: rollback to savepoint: %w", rbErr))
		}
		return err
	}
	// Released, so a loop of nested Transactions does not pile savepoints
	// up on the server until COMMIT.
	return savepointExec(tx, "RELEASE SAVEPOINT "+name)
}

func sleepBackoff(ctx context.Context, base time.Duration, attempt int) error {
	if base <= 0 {
		base = 10 * time.Millisecond
	}
	limit := base << min(attempt, 20)
	if limit > 30*time.Second || limit <= 0 {
		limit = 30 * time.Second
	}
	t := time.NewTimer(rand.N(limit))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cloneField is the index of gorm.DB's unexported clone field, or -1 if
// this GORM has none.
var cloneField = func() int {
	f, ok := reflect.TypeFor[gorm.DB]().FieldByName("clone")
	if !ok || f.Type.Kind() != reflect.Int {
		return -1
	}
	return f.Index[0]
}()

// begin begins the transaction on a session of db under ctx, as
// db.WithContext(ctx).Begin(opts...) would.
func begin(ctx context.Context, db *gorm.DB, opts []*sql.TxOptions) *gorm.DB {
	if sameContext(db.Statement.Context, ctx) {
		// Begin scopes the transaction's session to db's context itself:
		// a session of our own first would clone the statement twice more.
		return db.Begin(opts...)
	}
	return db.Session(&gorm.Session{Context: ctx, NewDB: isNewDB(db)}).Begin(opts...)
}

// sameContext reports whether a and b are the same context. A context of
// an uncomparable type is never the same as another: the comparison's
// panic is recovered.
func sameContext(a, b context.Context) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// isNewDB reports whether db is a fresh one (from gorm.Open, or a NewDB
// session: GORM's clone == 1), as db.Transaction tells: its transaction's
// statements then each start from a new Statement instead of cloning the
// db's (conditions on db would carry into every one; a fresh db has none).
// Matching db.Transaction saves ~4 allocations per statement inside.
func isNewDB(db *gorm.DB) bool {
	if cloneField < 0 {
		return false
	}
	return reflect.ValueOf(db).Elem().Field(cloneField).Int() == 1
}

// savepointExec runs a savepoint statement on tx's transaction, not as a
// prepared statement (MySQL refuses SAVEPOINT in the prepared protocol),
// and returns its error.
func savepointExec(tx *gorm.DB, sql string) error {
	s := tx.Session(&gorm.Session{})
	if p, ok := s.Statement.ConnPool.(*gorm.PreparedStmtTX); ok {
		s.Statement.ConnPool = p.Tx
	}
	return s.Exec(sql).Error
}
