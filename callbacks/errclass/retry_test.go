package errclass

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// safeErr is a pgx-style error that says whether anything was sent.
type safeErr bool

func (safeErr) Error() string       { return "conn busy" }
func (s safeErr) SafeToRetry() bool { return bool(s) }
func (safeErr) Unwrap() error       { return pgconn.ErrConnClosed }

func TestIsRetryable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"pg serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"pg deadlock", fmt.Errorf("tx: %w", &pgconn.PgError{Code: "40P01"}), true},
		{"mysql deadlock", &mysql.MySQLError{Number: 1213}, true},
		{"sqlite busy snapshot", &liteErr{code: 517}, true},
		{"deadlock with failed rollback", errors.Join(&mysql.MySQLError{Number: 1213}, errors.New("rollback failed")), true},

		{"plain connection error", refused, false},
		{"connection error mid-transaction", mysql.ErrInvalidConn, false},
		{"marked connection error", MarkBeforeStatement(refused), true},
		{"marked and wrapped", fmt.Errorf("begin: %w", MarkBeforeStatement(refused)), true},
		{"driver.ErrBadConn", fmt.Errorf("x: %w", driver.ErrBadConn), true},
		{"mysql errBadConnNoWrite (nothing written)", fmt.Errorf("x: %w", errors.New("bad connection")), true},
		{"pgx SafeToRetry true", safeErr(true), true},
		{"pgx SafeToRetry false", safeErr(false), false},
		{"too many connections, marked", MarkBeforeStatement(&pgconn.PgError{Code: "53300"}), true},

		{"bad conn only in a joined rollback error", errors.Join(mysql.ErrInvalidConn, fmt.Errorf("rollback: %w", driver.ErrBadConn)), false},
		{"marked only in a joined error", errors.Join(refused, MarkBeforeStatement(errors.New("other"))), false},
		{"marked first element of a join", errors.Join(MarkBeforeStatement(refused), errors.New("rollback failed")), true},
		{"marked non-connection error", MarkBeforeStatement(&pgconn.PgError{Code: "23505"}), false},
		{"marked timeout", MarkBeforeStatement(context.DeadlineExceeded), false},
		{"marked pool timeout", MarkBeforeStatement(ErrPoolTimeout), false},
		{"marked circuit open", MarkBeforeStatement(ErrCircuitOpen), false},
		{"commit unknown", ErrCommitUnknown, false},
		{"commit unknown wrapping a deadlock", fmt.Errorf("%w: %w", ErrCommitUnknown, &pgconn.PgError{Code: "40P01"}), false},
		{"commit unknown, marked", MarkBeforeStatement(fmt.Errorf("%w: %w", ErrCommitUnknown, refused)), false},
		{"pg commit unknown", &pgconn.PgError{Code: "08007"}, false},
		{"our timeout wrapping a deadlock", fmt.Errorf("%w: %w", ErrQueryTimeout, &pgconn.PgError{Code: "40P01"}), false},
		{"unique", &pgconn.PgError{Code: "23505"}, false},
		{"canceled", context.Canceled, false},
		{"timeout", &pgconn.PgError{Code: "57014", Message: "statement timeout"}, false},
		{"lock wait timeout", &mysql.MySQLError{Number: 1205}, false},
		{"unknown", errors.New("x"), false},
	}
	for _, tt := range tests {
		if got := IsRetryable(tt.err); got != tt.want {
			t.Errorf("%s: IsRetryable(%v) = %v, want %v (category %q)", tt.name, tt.err, got, tt.want, Classify(tt.err))
		}
	}
}

func TestMarkBeforeStatement(t *testing.T) {
	if MarkBeforeStatement(nil) != nil {
		t.Fatal("MarkBeforeStatement(nil) != nil")
	}
	if BeforeStatement(nil) {
		t.Fatal("BeforeStatement(nil)")
	}
	base := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	m := MarkBeforeStatement(base)
	if m.Error() != base.Error() {
		t.Errorf("message changed: %q", m.Error())
	}
	if !errors.Is(m, syscall.ECONNREFUSED) {
		t.Error("marked error does not unwrap")
	}
	if !BeforeStatement(m) || !BeforeStatement(fmt.Errorf("x: %w", m)) {
		t.Error("BeforeStatement false for a marked error")
	}
	if BeforeStatement(base) {
		t.Error("BeforeStatement true for an unmarked error")
	}
	if MarkBeforeStatement(m) != m {
		t.Error("marking twice wraps twice")
	}
	if Classify(m) != Connection {
		t.Errorf("Classify(marked) = %q", Classify(m))
	}
}
