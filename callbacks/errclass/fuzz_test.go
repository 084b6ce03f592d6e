package errclass

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	ncruces "github.com/replyrocket/gormsession/callbacks/errclass/internal/fakedriver/ncruces/go-sqlite3"
)

// FuzzClassify builds an error tree from the fuzzer's bytes (leaves of every
// driver shape with random codes and messages, nested by %w, %v, GORM's
// "%v; %w", errors.Join and MarkBeforeStatement) and checks that Classify,
// Code, IsRetryable and Level never panic and agree with each other.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, "23505", "duplicate key", int64(2067))
	f.Add([]byte{5, 9, 7, 1, 6, 2}, "57014", "canceling statement due to user request", int64(517))
	f.Add([]byte{8, 8, 8, 8, 3}, "", "syntax error", int64(1))
	f.Add([]byte{}, "08006", "", int64(-5))
	f.Fuzz(func(t *testing.T, shape []byte, code, msg string, num int64) {
		if len(shape) > 64 {
			shape = shape[:64]
		}
		err := build(shape, code, msg, num)
		c := Classify(err)
		_ = c.Level()
		_ = c.Infrastructure()
		got := Code(err)
		retry := IsRetryable(err)
		_ = BeforeStatement(err)
		if err == nil {
			if c != None || got != "" || retry {
				t.Fatalf("nil error: %q %q %v", c, got, retry)
			}
			return
		}
		if c == None {
			t.Fatalf("non-nil error %v classified as None", err)
		}
		if retry && c != Deadlock && c != SerializationFailure && c != Connection {
			t.Fatalf("retryable with category %q: %v", c, err)
		}
	})
}

// build turns shape into an error tree; each byte picks a leaf or a wrapper.
func build(shape []byte, code, msg string, num int64) error {
	var stack []error
	for i, b := range shape {
		var leaf error
		switch b % 20 {
		case 0:
			leaf = &pgconn.PgError{Code: code, Message: msg}
		case 1:
			leaf = &mysql.MySQLError{Number: uint16(num), Message: msg}
		case 2:
			leaf = &liteErr{code: int(num), msg: msg}
		case 3:
			leaf = ncruces.NewError(int(uint16(num)), "", msg)
		case 4:
			leaf = stateErr(code)
		case 5:
			leaf = errors.New(msg)
		case 6:
			leaf = [...]error{context.Canceled, context.DeadlineExceeded, ErrQueryTimeout, ErrCommitUnknown,
				ErrCircuitOpen, ErrPoolTimeout, gorm.ErrRecordNotFound, sql.ErrTxDone, io.EOF}[int(b)%9]
		case 7:
			leaf = &net.OpError{Op: msg, Net: "tcp", Err: errors.New(code)}
		case 8:
			leaf = nil
		default:
			if len(stack) == 0 {
				leaf = errors.New(strconv.Itoa(i))
				break
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var w error
			switch b % 20 {
			case 9, 10:
				w = fmt.Errorf("%s: %w", msg, top)
			case 11:
				w = fmt.Errorf("%v", top)
			case 12, 13:
				if len(stack) > 0 {
					w = fmt.Errorf("%v; %w", stack[len(stack)-1], top)
					stack = stack[:len(stack)-1]
				} else {
					w = fmt.Errorf("%w", top)
				}
			case 14, 15:
				var rest []error
				if len(stack) > 0 {
					rest = append(rest, stack[len(stack)-1])
					stack = stack[:len(stack)-1]
				}
				w = errors.Join(append(rest, top)...)
			case 16:
				w = MarkBeforeStatement(top)
			default:
				w = fmt.Errorf("%w: %w", top, errors.New(msg))
			}
			leaf = w
		}
		stack = append(stack, leaf)
	}
	var nonNil []error
	for _, e := range stack {
		if e != nil {
			nonNil = append(nonNil, e)
		}
	}
	switch len(nonNil) {
	case 0:
		return nil
	case 1:
		return nonNil[0]
	}
	return errors.Join(nonNil...)
}
