package demo

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/example_app/internal/api"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

var stepCommit = step{
	title: "Commit",
	intro: "sessionplugin.Transaction(ctx, db, fn) runs fn in a transaction and commits when fn returns nil, " +
		"like Python's `with session.begin():`. Successful statements log nothing above debug; " +
		"at debug you see GORM's SQL, with placeholders instead of values.",
	run: func(e *env) {
		err := sessionplugin.Transaction(e.ctx, e.st.DB, func(tx *gorm.DB) error {
			if err := tx.Create(&store.Contact{Email: "ada@example.com", Name: "Ada"}).Error; err != nil {
				return err
			}
			return tx.Create(&store.Campaign{Name: "Launch", Subject: "Hello", Body: "We are live."}).Error
		})
		e.say("Transaction inserted a contact and a campaign and returned %v", err)
		e.check(err == nil, "Transaction failed: %v", err)
		n, m := e.count(&store.Contact{}, "email = ?", "ada@example.com"), e.count(&store.Campaign{}, "name = ?", "Launch")
		e.say("after COMMIT: %d contact, %d campaign", n, m)
		e.check(n == 1 && m == 1, "want both rows committed, got %d contact(s), %d campaign(s)", n, m)
		e.check(!e.loggedAtLeast(warnLevel), "a successful transaction logged a warning or an error")
	},
}

// errCreditCheck is the business error the rollback step returns.
var errCreditCheck = errors.New("credit check failed")

var stepRollbackError = step{
	title: "Rollback on error",
	intro: "When fn returns an error, Transaction rolls back and returns that same error, " +
		"so errors.Is and errors.As keep working. A business error is not a database failure: nothing is logged.",
	run: func(e *env) {
		err := sessionplugin.Transaction(e.ctx, e.st.DB, func(tx *gorm.DB) error {
			if err := tx.Create(&store.Contact{Email: "grace@example.com", Name: "Grace"}).Error; err != nil {
				return err
			}
			return fmt.Errorf("onboarding grace@example.com: %w", errCreditCheck)
		})
		e.say("fn inserted a contact, then failed; Transaction returned %q", errText(err))
		e.check(errors.Is(err, errCreditCheck), "errors.Is(err, errCreditCheck) is false for %v", err)
		e.say("errors.Is(err, errCreditCheck) = %v", errors.Is(err, errCreditCheck))
		n := e.count(&store.Contact{}, "email = ?", "grace@example.com")
		e.say("after ROLLBACK the contact is gone: %d rows", n)
		e.check(n == 0, "the insert was not rolled back: %d rows", n)
	},
}

// panicValue is what the panic step panics with.
var panicValue = errors.New("simulated bug: nil map write")

var stepRollbackPanic = step{
	title: "Rollback on panic",
	intro: "When fn panics, Transaction rolls back first and then panics again with the same value, " +
		"so a recover() up the stack (like net/http's) sees the original panic and the connection is not left in a transaction.",
	run: func(e *env) {
		var recovered any
		func() {
			defer func() { recovered = recover() }()
			sessionplugin.Transaction(e.ctx, e.st.DB, func(tx *gorm.DB) error {
				if err := tx.Create(&store.Contact{Email: "linus@example.com", Name: "Linus"}).Error; err != nil {
					return err
				}
				panic(panicValue)
			})
		}()
		e.say("fn inserted a contact, then panicked; the demo recovered: %v", recovered)
		e.check(recovered == panicValue, "want the same panic value back, got %v", recovered)
		n := e.count(&store.Contact{}, "email = ?", "linus@example.com")
		e.say("after ROLLBACK the contact is gone: %d rows", n)
		e.check(n == 0, "the insert was not rolled back: %d rows", n)
		e.check(len(e.st.Plugin.ActiveScopes()) == 0, "a scope is still open after the panic")
	},
}

var stepUnique = step{
	title: "Unique violation and its category",
	intro: "Inserting a second contact with the same email hits the unique index. The plugin logs the failure once, " +
		"at warn (a data conflict, not an outage), with its category, the driver's code, the table, the caller and the SQL " +
		"(bound values are left out unless DB_LOG_PARAMS is on). Classify(err) gives the category the API maps to 409.",
	run: func(e *env) {
		err := e.st.DB.WithContext(e.ctx).Create(&store.Contact{Email: "ada@example.com", Name: "Ada again"}).Error
		cat := sessionplugin.Classify(err)
		resp, _ := api.Respond(err)
		e.say("Create returned: %s", errText(err))
		e.say("Classify(err) = %q → the API answers %d %q", cat, resp.Status, resp.Message)
		e.check(cat == sessionplugin.CategoryUniqueViolation, "want category unique_violation, got %q", cat)
		e.check(resp.Status == 409, "want HTTP 409, got %d", resp.Status)
		e.check(e.logged("database statement failed", map[string]string{"category": "unique_violation", "table": "*contacts"}),
			"no log line with category unique_violation")
		e.check(e.st.Plugin.Breaker("primary").Counts().Failures == 0, "a duplicate key counted as a breaker failure")
		e.say("the breaker did not count it: a database that answers is a healthy database")
	},
}

var stepDeadline = step{
	title: "A query cut by its deadline",
	intro: "Every statement runs under a deadline (DB_QUERY_TIMEOUT, or a sooner one from the request's context). " +
		"sessionplugin.WithTimeout(db, 250ms) sets one for a single call. A statement that would run for seconds " +
		"is stopped at 250ms and fails with ErrQueryTimeout, category timeout (the API's 504).",
	run: func(e *env) {
		q := slowSQL(e.st.Kind)
		start := time.Now()
		err := sessionplugin.WithTimeout(e.st.DB.WithContext(e.ctx), 250*time.Millisecond).Exec(q).Error
		took := time.Since(start).Round(time.Millisecond)
		cat := sessionplugin.Classify(err)
		resp, _ := api.Respond(err)
		e.say("%s returned after %s: %s", q, took, errText(err))
		e.say("errors.Is(err, ErrQueryTimeout) = %v, Classify = %q → HTTP %d",
			errors.Is(err, sessionplugin.ErrQueryTimeout), cat, resp.Status)
		e.check(errors.Is(err, sessionplugin.ErrQueryTimeout), "want ErrQueryTimeout, got %v", err)
		e.check(cat == sessionplugin.CategoryTimeout, "want category timeout, got %q", cat)
		e.check(resp.Status == 504, "want HTTP 504, got %d", resp.Status)
		e.check(e.logged("database statement failed", map[string]string{"category": "timeout"}), "no log line with category timeout")
		switch e.st.Kind {
		case store.Postgres:
			gone := e.poll(5*time.Second, func() bool {
				return e.count(nil, "SELECT count(*) FROM pg_stat_activity WHERE query = ? AND state = 'active'", q) == 0
			})
			e.say("PostgreSQL keeps running a statement whose client gave up; the plugin sent a cancel request, "+
				"and pg_stat_activity no longer shows pg_sleep: %v", gone)
			e.check(gone, "pg_sleep is still running on the server")
		case store.MySQL:
			e.say("MySQL/MariaDB: the driver drops the connection at the deadline; the server finishes SLEEP on its own (a documented limit)")
		case store.SQLite:
			e.say("SQLite: the plugin's deadline interrupts the statement inside the engine")
		}
	},
}

// slowSQL is a statement that runs for seconds on kind.
func slowSQL(kind store.Kind) string {
	switch kind {
	case store.Postgres:
		return "SELECT pg_sleep(10)"
	case store.MySQL:
		return "SELECT SLEEP(10)"
	}
	return "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000000) SELECT count(*) FROM n"
}

var stepLongRunning = step{
	title: "A long-running transaction, reported with its caller",
	intro: "A transaction holds a connection for its whole life. This one does something slow in Go while it is open " +
		"(time.Sleep standing in for an HTTP call made inside a transaction, a classic mistake). The plugin's monitor " +
		"reports it once it passes DB_LONG_RUNNING_THRESHOLD (300ms for the demo), with the file:line that opened it " +
		"and the stack, reports it idle in transaction past DB_IDLE_IN_TX_THRESHOLD (600ms), and logs again when it returns.",
	run: func(e *env) {
		err := sessionplugin.Transaction(e.ctx, e.st.DB, func(tx *gorm.DB) error {
			if err := tx.Create(&store.Contact{Email: "hopper@example.com", Name: "Grace Hopper"}).Error; err != nil {
				return err
			}
			time.Sleep(1200 * time.Millisecond)
			return nil
		})
		e.say("the transaction took about 1.2s and returned %v", err)
		e.check(err == nil, "the transaction failed: %v", err)
		e.check(e.waitLogged(2*time.Second, "long-running database scope", map[string]string{"operation": "transaction", "caller": "*demo/"}),
			"no long-running report naming the demo as the caller")
		e.check(e.waitLogged(2*time.Second, "transaction idle in transaction", map[string]string{"caller": "*demo/"}),
			"no idle-in-transaction report")
		e.check(e.waitLogged(2*time.Second, "long-running database scope returned", map[string]string{"operation": "transaction"}),
			"no line when the long-running transaction returned")
		st := e.st.Plugin.Stats()
		e.say("Stats().LongRunningTotal = %d", st.LongRunningTotal)
		e.check(st.LongRunningTotal >= 1, "Stats().LongRunningTotal = 0")
	},
}

// count runs SELECT count(*) on model with where (or, with a nil model,
// where is a whole query returning one number).
func (e *env) count(model any, where string, args ...any) int64 {
	var n int64
	db := e.st.DB.WithContext(e.ctx)
	var err error
	if model == nil {
		err = db.Raw(where, args...).Scan(&n).Error
	} else {
		err = db.Model(model).Where(where, args...).Count(&n).Error
	}
	if err != nil {
		e.fail("count: %v", err)
		return -1
	}
	return n
}

// poll calls cond every 50ms until it holds or d passes.
func (e *env) poll(d time.Duration, cond func() bool) bool {
	return e.pollEvery(d, 50*time.Millisecond, cond)
}

// pollEvery calls cond every interval until it holds or d passes.
func (e *env) pollEvery(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || e.ctx.Err() != nil {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
