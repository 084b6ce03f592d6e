package errclass

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// gormChain builds an error the way gorm.DB.AddError does: each older error
// survives only as text, the newest one is wrapped.
func gormChain(errs ...error) error {
	var out error
	for _, e := range errs {
		if out == nil {
			out = e
		} else {
			out = fmt.Errorf("%v; %w", out, e)
		}
	}
	return out
}

// timeoutNetErr is a net.Error reporting a timeout that is not a *net.OpError.
type timeoutNetErr struct{}

func (timeoutNetErr) Error() string   { return "i/o timeout" }
func (timeoutNetErr) Timeout() bool   { return true }
func (timeoutNetErr) Temporary() bool { return true }

// isQueryTimeout matches ErrQueryTimeout through an Is method, the way the
// callbacks' own error types may.
type isQueryTimeout struct{}

func (isQueryTimeout) Error() string        { return "statement ran past its deadline" }
func (isQueryTimeout) Is(target error) bool { return target == ErrQueryTimeout }

func TestClassify(t *testing.T) {
	unique := &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}
	deadlock := &mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"}
	stmtTimeout := &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}
	userCancel := &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}
	adminShutdown := &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}

	tests := []struct {
		name string
		err  error
		want Category
	}{
		{"nil", nil, None},
		{"plain error", errors.New("boom"), Unknown},

		// gormsession's sentinels.
		{"circuit open", ErrCircuitOpen, CircuitOpen},
		{"pool timeout", fmt.Errorf("acquire: %w", ErrPoolTimeout), PoolExhausted},
		{"commit unknown", fmt.Errorf("commit: %w", ErrCommitUnknown), CommitUnknown},
		{"query timeout", ErrQueryTimeout, Timeout},
		{"query timeout via Is method", fmt.Errorf("x: %w", isQueryTimeout{}), Timeout},

		// Precedence.
		{"our timeout wraps a driver unique violation", fmt.Errorf("%w: %w", ErrQueryTimeout, unique), Timeout},
		{"our timeout wraps a canceled query", fmt.Errorf("%w: %w", ErrQueryTimeout, userCancel), Timeout},
		{"commit unknown beats query timeout", errors.Join(ErrQueryTimeout, fmt.Errorf("x: %w", ErrCommitUnknown)), CommitUnknown},
		{"commit unknown beats a connection error", fmt.Errorf("%w: %w", ErrCommitUnknown, refused), CommitUnknown},
		{"circuit open beats pool timeout", errors.Join(ErrPoolTimeout, ErrCircuitOpen), CircuitOpen},
		{"server code beats context", errors.Join(context.Canceled, unique), UniqueViolation},
		{"context canceled beats interrupt code", errors.Join(stmtTimeout, context.Canceled), Canceled},
		{"context deadline beats user-request cancel", errors.Join(userCancel, context.DeadlineExceeded), Timeout},
		{"context beats broken connection", fmt.Errorf("%w: %w", context.Canceled, mysql.ErrInvalidConn), Canceled},
		{"a cancel joined to a broken connection does not explain it", errors.Join(driver.ErrBadConn, fmt.Errorf("rollback: %w", context.Canceled)), Connection},
		{"a cancel only in a joined error, nothing else known", errors.Join(errors.New("x"), fmt.Errorf("rollback: %w", context.Canceled)), Canceled},
		{"context deadline beats net timeout", fmt.Errorf("%w: %w", readTimeout, context.DeadlineExceeded), Timeout},
		{"interrupt code beats generic", errors.Join(io.EOF, stmtTimeout), Timeout},
		{"outermost database error wins", fmt.Errorf("%w: %w", deadlock, unique), Deadlock},
		{"deadlock plus rollback connection failure", errors.Join(deadlock, fmt.Errorf("rollback: %w", driver.ErrBadConn)), Deadlock},

		// Wrapping shapes.
		{"%w", fmt.Errorf("create user: %w", unique), UniqueViolation},
		{"%w twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", deadlock)), Deadlock},
		{"errors.Join", errors.Join(errors.New("first"), unique), UniqueViolation},
		{"nested Join", errors.Join(errors.New("a"), errors.Join(errors.New("b"), fmt.Errorf("c: %w", deadlock))), Deadlock},
		{"GORM chain: newest wins", gormChain(unique, deadlock), Deadlock},
		{"GORM chain: older errors are only text", gormChain(unique, errors.New("later")), Unknown},
		{"GORM chain of three", gormChain(errors.New("a"), errors.New("b"), gorm.ErrRecordNotFound), NotFound},
		{"%v does not wrap", fmt.Errorf("x: %v", unique), Unknown},

		// PostgreSQL codes that defer to context.
		{"statement timeout", stmtTimeout, Timeout},
		{"user request", userCancel, Canceled},
		{"admin shutdown", adminShutdown, Connection},

		// GORM.
		{"record not found", gorm.ErrRecordNotFound, NotFound},
		{"duplicated key", gorm.ErrDuplicatedKey, UniqueViolation},
		{"foreign key violated", gorm.ErrForeignKeyViolated, ForeignKeyViolation},
		{"check violated", gorm.ErrCheckConstraintViolated, CheckViolation},
		{"invalid transaction", gorm.ErrInvalidTransaction, Closed},
		{"invalid data", gorm.ErrInvalidData, InvalidData},
		{"invalid value", gorm.ErrInvalidValue, InvalidData},
		{"missing where", gorm.ErrMissingWhereClause, Unknown},

		// database/sql.
		{"no rows", sql.ErrNoRows, NotFound},
		{"tx done", sql.ErrTxDone, Closed},
		{"conn done", sql.ErrConnDone, Closed},
		{"db closed", errors.New("sql: database is closed"), Closed},
		{"db closed wrapped", fmt.Errorf("query: %w", errors.New("sql: database is closed")), Closed},
		{"bad conn", driver.ErrBadConn, Connection},

		// Drivers without a code.
		{"mysql invalid conn", mysql.ErrInvalidConn, Connection},
		{"mysql no-write bad connection (unexported errBadConnNoWrite)", errors.New("bad connection"), Connection},
		{"other bare text", errors.New("bad connection!"), Unknown},
		{"pgx conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), Connection},
		{"unexpected EOF", io.ErrUnexpectedEOF, Connection},
		{"EOF", fmt.Errorf("read: %w", io.EOF), Connection},

		// Network.
		{"connection refused", refused, Connection},
		{"dial timeout", dialTimeout, Connection},
		{"read timeout", readTimeout, Timeout},
		{"os deadline", os.ErrDeadlineExceeded, Timeout},
		{"other net.Error timeout", timeoutNetErr{}, Timeout},
		{"dns", &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}, Connection},
		{"bare ECONNRESET", syscall.ECONNRESET, Connection},
		{"EPIPE in a syscall error", os.NewSyscallError("write", syscall.EPIPE), Connection},
		{"unrelated errno", syscall.ENOENT, Unknown},
		{"EAGAIN is not a timeout", syscall.EAGAIN, Unknown},

		// Context.
		{"canceled", context.Canceled, Canceled},
		{"deadline", fmt.Errorf("q: %w", context.DeadlineExceeded), Timeout},
		{"context cause", context.Cause(canceledWithCause()), Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// canceledWithCause returns a context canceled with its own cause: the cause
// is what the caller asked about, and it is not a context error.
func canceledWithCause() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("shutting down"))
	return ctx
}

func TestCodeThroughWrapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"no code", errors.New("x"), ""},
		{"context", context.Canceled, ""},
		{"pg", fmt.Errorf("a: %w", &pgconn.PgError{Code: "23505"}), "23505"},
		{"mysql in join", errors.Join(io.EOF, &mysql.MySQLError{Number: 1062}), "1062"},
		{"sqlite in GORM chain", gormChain(errors.New("old"), &liteErr{code: 2067}), "2067"},
		{"outermost wins", fmt.Errorf("%w: %w", &pgconn.PgError{Code: "40P01"}, &pgconn.PgError{Code: "23505"}), "40P01"},
		{"under our sentinel", fmt.Errorf("%w: %w", ErrQueryTimeout, &pgconn.PgError{Code: "57014"}), "57014"},
		{"marked", MarkBeforeStatement(&mysql.MySQLError{Number: 1040}), "1040"},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.want {
			t.Errorf("%s: Code = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// panicky panics in every method.
type panicky struct{}

func (panicky) Error() string    { panic("Error") }
func (panicky) Unwrap() error    { panic("Unwrap") }
func (panicky) SQLState() string { panic("SQLState") }

// cyclic unwraps to itself forever.
type cyclic struct{ next *cyclic }

func (c *cyclic) Error() string { return "cyclic" }
func (c *cyclic) Unwrap() error { return c.next }

func TestMalformedErrors(t *testing.T) {
	loop := &cyclic{}
	loop.next = loop
	var nilPg *pgconn.PgError
	var nilMy *mysql.MySQLError
	for name, err := range map[string]error{
		"panicking methods": panicky{},
		"wrapped panicky":   fmt.Errorf("x: %w", panicky{}),
		"cycle":             loop,
		"typed nil pg":      nilPg,
		"typed nil mysql":   nilMy,
		"join with nil":     errors.Join(nil, nilPg),
	} {
		if got := Classify(err); got != Unknown {
			t.Errorf("%s: Classify = %q, want unknown", name, got)
		}
		if got := Code(err); got != "" {
			t.Errorf("%s: Code = %q, want empty", name, got)
		}
		if IsRetryable(err) {
			t.Errorf("%s: IsRetryable = true", name)
		}
		_ = BeforeStatement(err)
	}

	// A misbehaving node does not hide the rest of the tree.
	mixed := errors.Join(panicky{}, nilPg, &pgconn.PgError{Code: "40P01"})
	if got := Classify(mixed); got != Deadlock {
		t.Errorf("Classify(panicky + deadlock) = %q, want deadlock", got)
	}
	if got := Code(mixed); got != "40P01" {
		t.Errorf("Code(panicky + deadlock) = %q, want 40P01", got)
	}
}
