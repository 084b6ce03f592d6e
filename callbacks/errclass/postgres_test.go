package errclass

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// stateErr is a PostgreSQL error from a driver other than pgx (lib/pq's
// *pq.Error has the same SQLState method).
type stateErr string

func (e stateErr) Error() string    { return "pq: " + string(e) }
func (e stateErr) SQLState() string { return string(e) }

func TestPostgresCodes(t *testing.T) {
	tests := []struct {
		code, msg string
		want      Category
	}{
		{"08000", "", Connection},
		{"08006", "", Connection},
		{"08001", "", Connection},
		{"08P01", "", Connection},
		{"57P01", "terminating connection due to administrator command", Connection},
		{"57P02", "", Connection},
		{"57P03", "the database system is starting up", Connection},
		{"53300", "sorry, too many clients already", Connection},
		{"08007", "", CommitUnknown},
		{"40003", "", CommitUnknown},
		{"57014", "canceling statement due to statement timeout", Timeout},
		{"57014", "canceling statement due to user request", Canceled},
		{"55P03", "canceling statement due to lock timeout", Timeout},
		{"25P03", "", Timeout},
		{"40001", "could not serialize access due to concurrent update", SerializationFailure},
		{"40P01", "deadlock detected", Deadlock},
		{"23505", "duplicate key value violates unique constraint", UniqueViolation},
		{"23P01", "conflicting key value violates exclusion constraint", UniqueViolation},
		{"23503", "", ForeignKeyViolation},
		{"23001", "", ForeignKeyViolation},
		{"23502", "", NotNullViolation},
		{"23514", "", CheckViolation},
		{"23000", "", Unknown},
		{"25006", "cannot execute INSERT in a read-only transaction", ReadOnly},
		{"25P02", "current transaction is aborted", Closed},
		{"42601", "syntax error at or near", Syntax},
		{"42702", "column reference is ambiguous", Syntax},
		{"42P01", "", UndefinedObject},
		{"42703", "", UndefinedObject},
		{"42883", "", UndefinedObject},
		{"3F000", "", UndefinedObject},
		{"42704", "", UndefinedObject},
		{"3D000", "", UndefinedObject},
		{"22P02", "invalid input syntax for type integer", InvalidData},
		{"22003", "numeric field overflow", InvalidData},
		{"22001", "", InvalidData},
		{"22012", "division by zero", InvalidData},
		{"42804", "", InvalidData},
		{"42501", "permission denied for table", PermissionDenied},
		{"28000", "", PermissionDenied},
		{"28P01", "password authentication failed", PermissionDenied},
		{"42P07", "relation already exists", Unknown},
		{"XX000", "", Unknown},
		{"53100", "", Unknown},
		{"0A000", "", Unknown},
		{"", "", Unknown},
		{"4", "", Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.msg, func(t *testing.T) {
			pgErr := &pgconn.PgError{Severity: "ERROR", Code: tt.code, Message: tt.msg}
			if got := Classify(pgErr); got != tt.want {
				t.Errorf("Classify(PgError %s %q) = %q, want %q", tt.code, tt.msg, got, tt.want)
			}
			if tt.code != "" {
				if got := Code(pgErr); got != tt.code {
					t.Errorf("Code = %q, want %q", got, tt.code)
				}
			}
			if tt.msg == "" && tt.code != "" {
				if got := Classify(stateErr(tt.code)); got != tt.want {
					t.Errorf("Classify(SQLState() %s) = %q, want %q", tt.code, got, tt.want)
				}
			}
		})
	}
}
