package errclass

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestRedact(t *testing.T) {
	const v = "s3cr3t value"
	tests := []struct {
		name string
		err  error
		want string // Error() after Redact; "" means unchanged
	}{
		{"nil", nil, ""},
		{"mysql duplicate", &mysql.MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}, Message: "Duplicate entry '" + v + "' for key 'idx_items_name'"},
			"Error 1062 (23000): Duplicate entry '[redacted]' for key 'idx_items_name'"},
		{"mysql duplicate with quotes in the value", &mysql.MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'b' for key 'idx'"},
			"Error 1062: Duplicate entry '[redacted]' for key 'idx'"},
		{"mysql incorrect integer", &mysql.MySQLError{Number: 1366, Message: "Incorrect integer value: '" + v + "' for column `gs_1`.`items`.`price` at row 1"},
			"Error 1366: Incorrect integer value: '[redacted]' for column `gs_1`.`items`.`price` at row 1"},
		{"mysql truncated incorrect", &mysql.MySQLError{Number: 1292, Message: "Truncated incorrect DOUBLE value: '" + v + "'"},
			"Error 1292: Truncated incorrect DOUBLE value: '[redacted]'"},
		{"mysql illegal value", &mysql.MySQLError{Number: 1367, Message: "Illegal double '" + v + "' value found during parsing"},
			"Error 1367: Illegal double '[redacted]' value found during parsing"},
		{"mysql not null: no value", &mysql.MySQLError{Number: 1048, Message: "Column 'name' cannot be null"}, ""},
		{"mysql syntax: no value", &mysql.MySQLError{Number: 1064, Message: "You have an error in your SQL syntax; check the manual near 'SELEC 1' at line 1"}, ""},
		{"pg invalid input", &pgconn.PgError{Severity: "ERROR", Code: "22P02", Message: `invalid input syntax for type integer: "` + v + `"`},
			`ERROR: invalid input syntax for type integer: "[redacted]" (SQLSTATE 22P02)`},
		{"pg out of range", &pgconn.PgError{Severity: "ERROR", Code: "22003", Message: `value "99999999999" is out of range for type integer`},
			`ERROR: value "[redacted]" is out of range for type integer (SQLSTATE 22003)`},
		{"pg date out of range", &pgconn.PgError{Severity: "ERROR", Code: "22008", Message: `date/time field value out of range: "` + v + `"`},
			`ERROR: date/time field value out of range: "[redacted]" (SQLSTATE 22008)`},
		{"pg byte sequence", &pgconn.PgError{Severity: "ERROR", Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0xff 0x41`},
			`ERROR: invalid byte sequence for encoding "UTF8": [redacted] (SQLSTATE 22021)`},
		{"pg unique: value only in Detail", &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: `duplicate key value violates unique constraint "idx"`, Detail: "Key (name)=(" + v + ") already exists."}, ""},
		{"pg undefined table: a name, not a value", &pgconn.PgError{Severity: "ERROR", Code: "42P01", Message: `relation "no_such_table" does not exist`}, ""},
		{"sqlite unique", errors.New("constraint failed: UNIQUE constraint failed: items.name (2067)"), ""},
		{"wrapped twice", fmt.Errorf("create: %w", fmt.Errorf("%v; %w", errors.New("earlier"),
			&mysql.MySQLError{Number: 1062, Message: "Duplicate entry '" + v + "' for key 'k'"})),
			"create: earlier; Error 1062: Duplicate entry '[redacted]' for key 'k'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.err)
			if tt.want == "" {
				if got != tt.err {
					t.Fatalf("Redact changed %v into %v", tt.err, got)
				}
				return
			}
			if got.Error() != tt.want {
				t.Errorf("Redact(%q)\n = %q\nwant %q", tt.err, got, tt.want)
			}
			if strings.Contains(got.Error(), v) {
				t.Errorf("value still in %q", got)
			}
			if !errors.Is(got, tt.err) || Classify(got) != Classify(tt.err) || Code(got) != Code(tt.err) {
				t.Errorf("Redact hides the error: Is %v, Classify %q/%q, Code %q/%q",
					errors.Is(got, tt.err), Classify(got), Classify(tt.err), Code(got), Code(tt.err))
			}
			if RedactMessage(tt.err.Error()) != tt.want {
				t.Errorf("RedactMessage differs from Redact")
			}
		})
	}
}
