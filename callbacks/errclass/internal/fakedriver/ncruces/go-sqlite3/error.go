// Package sqlite3 reproduces the shape of github.com/ncruces/go-sqlite3's
// *Error (accessors returning the package's own named integer types) so
// errclass can be tested against it without the dependency. Its import path
// ends in "go-sqlite3" like the real one's.
package sqlite3

import "strconv"

// ErrorCode is a primary result code, as in ncruces/go-sqlite3.
type ErrorCode uint8

// ExtendedErrorCode is an extended result code, as in ncruces/go-sqlite3.
type ExtendedErrorCode uint16

// Error mirrors ncruces/go-sqlite3's *Error.
type Error struct {
	Str, Msg string
	Ext      uint64
}

// NewError returns an *Error with extended code ext and message msg.
func NewError(ext int, str, msg string) *Error { return &Error{Str: str, Msg: msg, Ext: uint64(ext)} }

// Code returns the primary result code.
func (e *Error) Code() ErrorCode { return ErrorCode(e.Ext) }

// ExtendedCode returns the extended result code.
func (e *Error) ExtendedCode() ExtendedErrorCode { return ExtendedErrorCode(e.Ext) }

// Timeout is true for BUSY_TIMEOUT, as in ncruces (making *Error a net.Error).
func (e *Error) Timeout() bool { return e.Ext == 773 }

// Temporary is true for BUSY, as in ncruces.
func (e *Error) Temporary() bool { return e.Ext&0xff == 5 }

// Error formats like ncruces: "sqlite3: <errstr>: <errmsg>".
func (e *Error) Error() string {
	s := "sqlite3: "
	if e.Str != "" {
		s += e.Str
	} else {
		s += strconv.Itoa(int(e.Ext))
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}
