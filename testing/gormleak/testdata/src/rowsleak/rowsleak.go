package rowsleak

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"
)

type User struct{ Name string }

func consume(rows *sql.Rows) {}

// --- reported ---

func earlyReturnInLoop(db *gorm.DB) ([]User, error) {
	rows, err := db.Model(&User{}).Rows() // want `rows from Rows\(\) are never closed on the path returning at line 26: add defer rows.Close\(\) right after the error check`
	if err != nil {
		return nil, err
	}
	var out []User
	for rows.Next() {
		var u User
		if err := db.ScanRows(rows, &u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	rows.Close()
	return out, nil
}

func neverClosed(db *sql.DB) error {
	rows, err := db.Query("SELECT 1") // want `rows from Query\(\) are never closed on the path returning at line 39`
	if err != nil {
		return err
	}
	return rows.Err()
}

func resultDropped(ctx context.Context, conn *sql.Conn) {
	conn.QueryContext(ctx, "SELECT 1") // want `rows from QueryContext\(\) are never closed`
}

func txQueryLeak(tx *sql.Tx) (int, error) {
	rows, err := tx.Query("SELECT 1") // want `rows from Query\(\) are never closed on the path returning at line 54`
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		if n++; n > 10 {
			return n, nil
		}
	}
	return n, nil
}

func reopenedInLoop(db *sql.DB, qs []string) {
	for _, q := range qs {
		rows, err := db.Query(q) // want `rows from Query\(\) are not closed before the loop runs Query\(\) again`
		if err != nil {
			continue
		}
		_ = rows.Next()
	}
}

// --- clean ---

func closedWithDefer(db *gorm.DB) ([]User, error) {
	rows, err := db.Model(&User{}).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		if err := db.ScanRows(rows, &u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func closedBeforeEachReturn(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := rows.Scan(new(int)); err != nil {
			rows.Close()
			return err
		}
	}
	return rows.Close()
}

func returned(db *sql.DB) (*sql.Rows, error) {
	rows, err := db.Query("SELECT 1")
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func returnedDirectly(ctx context.Context, db *sql.DB) (*sql.Rows, error) {
	return db.QueryContext(ctx, "SELECT 1")
}

func handedOn(db *gorm.DB) error {
	rows, err := db.Rows()
	if err != nil {
		return err
	}
	consume(rows)
	return nil
}

func nilCheck(db *sql.DB) error {
	rows, _ := db.Query("SELECT 1")
	if rows == nil {
		return errors.New("no rows")
	}
	defer rows.Close()
	return nil
}

func errEqualNil(db *sql.DB) error {
	rows, err := db.Query("SELECT 1")
	if err == nil {
		defer rows.Close()
		return rows.Err()
	}
	return err
}

// When rows.Next() returns false, database/sql has closed the rows: a loop
// that runs to the end needs no Close (though defer rows.Close() is still
// the safer habit).
func iteratedToTheEnd(tx *sql.Tx) (int, error) {
	rows, err := tx.Query("SELECT 1")
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func closedPerIteration(db *sql.DB, qs []string) error {
	for _, q := range qs {
		rows, err := db.Query(q)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
	}
	return nil
}

func closedInClosure(db *sql.DB) error {
	rows, err := db.Query("SELECT 1")
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	return nil
}

// Like gorm's Migrator.ColumnTypes: err is a named result captured by the
// deferred closure that closes the rows.
func namedErrCaptured(db *gorm.DB) (n int, err error) {
	rows, err := db.Rows()
	if err != nil {
		return 0, err
	}
	defer func() {
		err = rows.Close()
	}()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	return len(cols), nil
}

// A known false negative: a deferred closure that closes under a condition
// on other captured state (here: only on failure) is trusted to cover
// every return, so the leak on success is not reported.
func conditionalDeferTrusted(db *gorm.DB) (n int, err error) {
	rows, err := db.Rows()
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			err = rows.Close()
		}
	}()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	return len(cols), nil
}
