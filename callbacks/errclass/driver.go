package errclass

import (
	"strconv"

	"github.com/go-sql-driver/mysql"
)

// sqlStater is what PostgreSQL drivers' errors offer: pgx v5's
// *pgconn.PgError, and lib/pq's *pq.Error via its SQLState method.
type sqlStater interface{ SQLState() string }

// sqliteCoder is glebarez/go-sqlite's and modernc.org/sqlite's *Error: Code
// is the extended result code (both enable extended codes).
type sqliteCoder interface{ Code() int }

// driverError classifies one node of the tree if it is a database error:
// its category, its code as text, and true. Other drivers' SQLite errors
// (ncruces, mattn) are read by sqliteReflectCode.
func driverError(e error) (Category, string, bool) {
	switch x := e.(type) {
	case *mysql.MySQLError:
		return mysqlCategory(x.Number, x.SQLState, x.Message), strconv.Itoa(int(x.Number)), true
	case sqlStater:
		if st := x.SQLState(); st != "" {
			return pgCategory(st, e.Error()), st, true
		}
	case sqliteCoder:
		code := x.Code()
		return sqliteCategory(code, e.Error()), strconv.Itoa(code), true
	}
	if code, ok := sqliteReflectCode(e); ok {
		return sqliteCategory(code, e.Error()), strconv.Itoa(code), true
	}
	return Unknown, "", false
}
