package errclass

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// errDBClosedText is the message of database/sql's unexported errDBClosed.
const errDBClosedText = "sql: database is closed"

// mysqlNoWriteText is the message of go-sql-driver/mysql's unexported
// errBadConnNoWrite: the connection broke before anything was written
// (Connect returns it bare when the login packet cannot be sent).
const mysqlNoWriteText = "bad connection"

// isMySQLNoWrite reports whether e is go-sql-driver/mysql's
// errBadConnNoWrite, by type and text as it is unexported.
func isMySQLNoWrite(e error) bool {
	return reflect.TypeOf(e) == errorStringType && e.Error() == mysqlNoWriteText
}

// errorStringType is the type of errors.New's errors, errDBClosed's among
// them: only those are compared by text, so classifying never formats an
// error whose Error() is costly (a breaker's OpenError on every refusal).
var errorStringType = reflect.TypeOf(errors.New(""))

// genericSentinels maps errors without a database code, matched like
// errors.Is on one node of the tree.
var genericSentinels = [...]struct {
	err error
	cat Category
}{
	// GORM.
	{gorm.ErrRecordNotFound, NotFound},
	{gorm.ErrDuplicatedKey, UniqueViolation},
	{gorm.ErrForeignKeyViolated, ForeignKeyViolation},
	{gorm.ErrCheckConstraintViolated, CheckViolation},
	{gorm.ErrInvalidTransaction, Closed},
	// GORM refused the values before sending anything: handled like the
	// server refusing them.
	{gorm.ErrInvalidData, InvalidData},
	{gorm.ErrInvalidValue, InvalidData},
	{gorm.ErrInvalidValueOfLength, InvalidData},
	{gorm.ErrInvalidField, InvalidData},
	{gorm.ErrEmptySlice, InvalidData},
	// database/sql.
	{sql.ErrNoRows, NotFound},
	{sql.ErrTxDone, Closed},
	{sql.ErrConnDone, Closed},
	// Drivers: the connection broke or was already broken.
	{driver.ErrBadConn, Connection},
	{mysql.ErrInvalidConn, Connection},
	{pgconn.ErrConnClosed, Connection},
	// A read or write deadline on the socket.
	{os.ErrDeadlineExceeded, Timeout},
	// database/sql hides io.EOF from row iteration, so an EOF that reaches
	// the caller came from the driver reading its connection.
	{io.ErrUnexpectedEOF, Connection},
	{io.EOF, Connection},
}

// connErrnos are socket errors that mean the server cannot be reached or
// dropped the connection.
var connErrnos = [...]syscall.Errno{
	syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
	syscall.EPIPE, syscall.ENETUNREACH, syscall.EHOSTUNREACH,
	syscall.ENETDOWN, syscall.EHOSTDOWN, syscall.ENOTCONN, syscall.ETIMEDOUT,
}

// genericError classifies one node of the tree by the rules that need no
// database code; None if none applies.
func genericError(e error) Category {
	for _, s := range genericSentinels {
		if is(e, s.err) {
			return s.cat
		}
	}
	switch x := e.(type) {
	case *net.OpError:
		// A dial that timed out still means "could not connect", which is
		// what retry decisions need; other socket timeouts are timeouts.
		if x.Timeout() && x.Op != "dial" {
			return Timeout
		}
		return Connection
	case *net.DNSError, *net.AddrError, net.UnknownNetworkError, *net.ParseError:
		return Connection
	case *pgconn.ConnectError:
		return Connection
	case syscall.Errno:
		for _, n := range connErrnos {
			if x == n {
				return Connection
			}
		}
		return None
	}
	if reflect.TypeOf(e) == errorStringType {
		switch e.Error() {
		case errDBClosedText:
			return Closed
		case mysqlNoWriteText:
			return Connection
		}
	}
	// Any other net.Error that reports a timeout (bare errnos, whose
	// Timeout() also covers EAGAIN, were handled above).
	if ne, ok := e.(net.Error); ok && ne.Timeout() {
		return Timeout
	}
	return None
}
