package callbacks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"

	"github.com/jackc/pgx/v5"
)

// cancelOnServer makes PostgreSQL stop a statement whose deadline passed.
// pgx's default reaction to a cancelled context closes the socket, and the
// server keeps running the query (pg_sleep does not notice a gone client).
// A cancel request with the backend's key stops it; the connection is then
// discarded so a late cancel can never hit the next statement on it.
// Other drivers: no-op (SQLite interrupts itself; MySQL is documented).
func cancelOnServer(conn *sql.Conn) {
	_ = conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Conn().PgConn().CancelRequest(ctx)
		return driver.ErrBadConn
	})
}
