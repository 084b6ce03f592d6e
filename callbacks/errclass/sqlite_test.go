package errclass

import (
	"fmt"
	"testing"

	mattn "github.com/replyrocket/gormsession/callbacks/errclass/internal/fakedriver/mattn/go-sqlite3"
	ncruces "github.com/replyrocket/gormsession/callbacks/errclass/internal/fakedriver/ncruces/go-sqlite3"
)

// liteErr has the shape of glebarez/go-sqlite's and modernc's *Error.
type liteErr struct {
	code int
	msg  string
}

func (e *liteErr) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }
func (e *liteErr) Code() int     { return e.code }

var sqliteTests = []struct {
	code int
	msg  string
	want Category
}{
	{2067, "constraint failed: UNIQUE constraint failed: parents.name", UniqueViolation},
	{1555, "constraint failed: UNIQUE constraint failed: parents.id", UniqueViolation},
	{787, "constraint failed: FOREIGN KEY constraint failed", ForeignKeyViolation},
	{1299, "constraint failed: NOT NULL constraint failed: parents.name", NotNullViolation},
	{275, "constraint failed: CHECK constraint failed: chk_qty", CheckViolation},
	{3091, "constraint failed: cannot store TEXT value in INTEGER column t.n", InvalidData},
	{19, "constraint failed: UNIQUE constraint failed: t.x", UniqueViolation},
	{19, "constraint failed: FOREIGN KEY constraint failed", ForeignKeyViolation},
	{19, "constraint failed: NOT NULL constraint failed: t.x", NotNullViolation},
	{19, "constraint failed: CHECK constraint failed: x > 0", CheckViolation},
	{19, "constraint failed", Unknown},
	{1, `SQL logic error: near "SELEC": syntax error`, Syntax},
	{1, "SQL logic error: incomplete input", Syntax},
	{1, "SQL logic error: no such table: nope", UndefinedObject},
	{1, "SQL logic error: no such column: nope", UndefinedObject},
	{1, "SQL logic error: no such function: nope", UndefinedObject},
	{1, "SQL logic error: table t has no column named nope", UndefinedObject},
	{1, "SQL logic error: table t already exists", Unknown},
	{5, "database is locked", Timeout},
	{261, "database is locked", Timeout},
	{517, "database is locked", SerializationFailure},
	{6, "database table is locked", Timeout},
	{8, "attempt to write a readonly database", ReadOnly},
	{1032, "attempt to write a readonly database", ReadOnly},
	{3, "access permission denied", PermissionDenied},
	{23, "authorization denied", PermissionDenied},
	{20, "datatype mismatch", InvalidData},
	{18, "string or blob too big", InvalidData},
	{25, "column index out of range", InvalidData},
	{9, "interrupted", Canceled},
	{14, "unable to open database file", Connection},
	{10, "disk I/O error", Connection},
	{266, "disk I/O error", Connection},
	{26, "file is not a database", Unknown},
	{11, "database disk image is malformed", Unknown},
	{13, "database or disk is full", Unknown},
	{0, "", Unknown},
	{-1, "", Unknown},
}

func TestSQLiteCodes(t *testing.T) {
	for _, tt := range sqliteTests {
		t.Run(fmt.Sprint(tt.code, tt.msg), func(t *testing.T) {
			errs := map[string]error{
				"glebarez": &liteErr{tt.code, tt.msg},
				"ncruces":  ncruces.NewError(tt.code, "", tt.msg),
				"mattn":    mattn.Error{Code: mattn.ErrNo(tt.code & 0xff), ExtendedCode: mattn.ErrNoExtended(tt.code), Msg: tt.msg},
			}
			for driver, err := range errs {
				if tt.code < 0 && driver != "glebarez" {
					continue // unsigned codes in ncruces; mattn never reports them
				}
				if got := Classify(err); got != tt.want {
					t.Errorf("%s: Classify(%d %q) = %q, want %q", driver, tt.code, tt.msg, got, tt.want)
				}
				wantCode := fmt.Sprint(tt.code)
				if tt.code == 0 && driver != "glebarez" {
					wantCode = "" // a zero code is "not filled in"
				}
				if got := Code(err); got != wantCode {
					t.Errorf("%s: Code = %q, want %q", driver, got, wantCode)
				}
			}
		})
	}
}

func TestSQLiteMattnPrimaryOnly(t *testing.T) {
	// mattn fills only Code when extended codes are off: fall back to it.
	err := mattn.Error{Code: 19, Msg: "UNIQUE constraint failed: t.x"}
	if got := Classify(err); got != UniqueViolation {
		t.Errorf("Classify = %q, want %q", got, UniqueViolation)
	}
	if got := Code(err); got != "19" {
		t.Errorf("Code = %q, want 19", got)
	}
}

// otherCoder has ExtendedCode but is not from a go-sqlite3 package.
type otherCoder struct{}

func (otherCoder) Error() string           { return "other" }
func (otherCoder) ExtendedCode() uint16    { return 2067 }
func (otherCoder) Code() (uint8, struct{}) { return 19, struct{}{} }

func TestSQLiteReflectionOnlyForSQLitePackages(t *testing.T) {
	if got := Classify(otherCoder{}); got != Unknown {
		t.Errorf("Classify(non-sqlite ExtendedCode) = %q, want unknown", got)
	}
	if got := Code(otherCoder{}); got != "" {
		t.Errorf("Code(non-sqlite) = %q, want empty", got)
	}
	var nilErr *ncruces.Error
	if got := Classify(fmt.Errorf("wrapped: %w", nilErr)); got != Unknown {
		t.Errorf("Classify(typed nil ncruces error) = %q, want unknown", got)
	}
}
