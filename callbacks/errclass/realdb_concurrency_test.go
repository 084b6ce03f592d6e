package errclass

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/replyrocket/gormsession/internal/testdb"
	"gorm.io/gorm"
)

// lockInOppositeOrder runs two transactions: each updates one parent, waits
// until the other holds its row, then updates the other's row.
func lockInOppositeOrder(t *testing.T, e *env) error {
	held := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	errs := make(chan error, 2)
	run := func(me int) {
		mine, other := held[me], held[1-me]
		signalled := false
		signal := func() {
			if !signalled {
				signalled = true
				close(mine)
			}
		}
		defer signal() // never leave the other waiting
		errs <- e.db.Transaction(func(tx *gorm.DB) error {
			switch e.kind {
			case testdb.Postgres:
				tx.Exec("SET LOCAL deadlock_timeout = '100ms'")
			case testdb.SQLite:
				tx.Exec("PRAGMA busy_timeout = 100")
			}
			if err := setQty(tx, uint(me+1), 10); err != nil {
				return err
			}
			signal()
			<-other
			return setQty(tx, uint(2-me), 20)
		})
	}
	go run(0)
	go run(1)
	return either(<-errs, <-errs)
}

// staleWrite reads parent 1 in a transaction, lets another connection
// update it, then updates it from the transaction.
func staleWrite(t *testing.T, e *env, snapshotIsolation bool) error {
	return e.db.Connection(func(c *gorm.DB) error {
		var opts *sql.TxOptions
		switch e.kind {
		case testdb.Postgres:
			opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead}
		case testdb.MySQL: // REPEATABLE READ is the default
			v := "OFF"
			if snapshotIsolation {
				v = "ON"
			}
			if err := c.Exec("SET SESSION innodb_snapshot_isolation = " + v).Error; err != nil {
				t.Fatal(err)
			}
		}
		tx := c.Begin(opts)
		defer tx.Rollback()
		var p Parent
		if err := tx.First(&p, 1).Error; err != nil {
			t.Fatal(err)
		}
		if err := setQty(e.db, 1, 5); err != nil {
			t.Fatal(err)
		}
		if err := setQty(tx, 1, 6); err != nil {
			return err
		}
		return tx.Commit().Error
	})
}

func writeAfterConcurrentUpdate(t *testing.T, e *env) error { return staleWrite(t, e, true) }

func writeAfterConcurrentUpdateDefault(t *testing.T, e *env) error { return staleWrite(t, e, false) }

// killSession ends this connection's server session from another one, then
// uses the connection.
func killSession(t *testing.T, e *env) error {
	return e.db.Connection(func(c *gorm.DB) error {
		switch e.kind {
		case testdb.Postgres:
			var pid int
			if err := c.Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
				t.Fatal(err)
			}
			// The second argument waits until the backend has exited.
			if err := e.db.Exec("SELECT pg_terminate_backend(?, 10000)", pid).Error; err != nil {
				t.Fatal(err)
			}
		case testdb.MySQL:
			var id int
			if err := c.Raw("SELECT CONNECTION_ID()").Scan(&id).Error; err != nil {
				t.Fatal(err)
			}
			if err := e.db.Exec(fmt.Sprintf("KILL CONNECTION %d", id)).Error; err != nil {
				t.Fatal(err)
			}
		}
		return c.Exec("SELECT 1").Error
	})
}

func serverTimeout(t *testing.T, e *env) error {
	switch e.kind {
	case testdb.Postgres:
		return e.db.Transaction(func(tx *gorm.DB) error {
			tx.Exec("SET LOCAL statement_timeout = '50ms'")
			return tx.Exec("SELECT pg_sleep(10)").Error
		})
	case testdb.MySQL:
		return e.db.Exec("SET STATEMENT max_statement_time = 0.05 FOR SELECT SLEEP(10)").Error
	default:
		return lockWaitTimeout(t, e)
	}
}

// lockWaitTimeout holds parent 1's lock in one transaction while another,
// with a short lock timeout, tries to update it.
func lockWaitTimeout(t *testing.T, e *env) error {
	holder := e.db.Begin()
	defer holder.Rollback()
	if err := setQty(holder, 1, 1); err != nil {
		t.Fatal(err)
	}
	return e.db.Transaction(func(tx *gorm.DB) error {
		switch e.kind {
		case testdb.Postgres:
			tx.Exec("SET LOCAL lock_timeout = '50ms'")
		case testdb.MySQL:
			tx.Exec("SET SESSION innodb_lock_wait_timeout = 0") // MariaDB: do not wait
		default:
			tx.Exec("PRAGMA busy_timeout = 50")
		}
		return setQty(tx, 1, 2)
	})
}

// endWhileRunning runs a long statement whose context ends with cause
// (context.Canceled or context.DeadlineExceeded) while it is running.
func endWhileRunning(t *testing.T, e *env, cause error, rows bool) error {
	ctx := newEndingCtx()
	return e.db.Connection(func(c *gorm.DB) error {
		token := randName("tok_")
		if e.kind == testdb.SQLite {
			sqliteStarted.Store(token, func() { ctx.end(cause) })
			defer sqliteStarted.Delete(token)
		} else {
			id := sessionID(t, c, e.kind)
			stop := make(chan struct{})
			defer close(stop)
			go whenRunning(e, id, stop, func() { ctx.end(cause) })
		}
		c = c.WithContext(ctx)
		q := longQuery(e.kind, rows, token)
		if rows {
			var xs []int64
			return c.Raw(q).Scan(&xs).Error
		}
		return c.Exec(q).Error
	})
}

func contextDeadlineQuery(t *testing.T, e *env) error {
	return endWhileRunning(t, e, context.DeadlineExceeded, true)
}

func contextDeadlineExec(t *testing.T, e *env) error {
	return endWhileRunning(t, e, context.DeadlineExceeded, false)
}

func contextCancelQuery(t *testing.T, e *env) error {
	return endWhileRunning(t, e, context.Canceled, true)
}

func contextCancelExec(t *testing.T, e *env) error {
	return endWhileRunning(t, e, context.Canceled, false)
}

// cancelFromAnotherSession cancels a running statement from another
// session, the way an operator would.
func cancelFromAnotherSession(t *testing.T, e *env) error {
	return e.db.Connection(func(c *gorm.DB) error {
		id := sessionID(t, c, e.kind)
		stop := make(chan struct{})
		defer close(stop)
		go whenRunning(e, id, stop, func() {
			kill := map[testdb.Kind]string{testdb.Postgres: "SELECT pg_cancel_backend(%d)", testdb.MySQL: "KILL QUERY %d"}[e.kind]
			if err := e.db.Exec(fmt.Sprintf(kill, id)).Error; err != nil {
				t.Errorf("cancel: %v", err)
			}
		})
		return c.Exec(longQuery(e.kind, false, "")).Error
	})
}
