// Package sqlite3 reproduces the shape of github.com/mattn/go-sqlite3's
// Error (a value type with Code and ExtendedCode fields of the package's own
// integer types) so errclass can be tested against it without cgo. Its
// import path ends in "go-sqlite3" like the real one's.
package sqlite3

// ErrNo is a primary result code, as in mattn/go-sqlite3.
type ErrNo int

// ErrNoExtended is an extended result code, as in mattn/go-sqlite3.
type ErrNoExtended int

// Error mirrors mattn/go-sqlite3's Error; the driver returns it by value.
type Error struct {
	Code         ErrNo
	ExtendedCode ErrNoExtended
	Msg          string
}

// Error returns the message.
func (e Error) Error() string { return e.Msg }
