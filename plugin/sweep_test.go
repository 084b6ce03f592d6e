package sessionplugin_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Tests of out-of-band statement deadlines (callbacks/sweep.go, wait.go):
// on PostgreSQL and SQLite a statement that takes its own connection runs
// under its caller's context and a sweeper stops it through the driver;
// connection waits share a per-source gate the sweeper (or a waiting
// caller's cancel) wakes. MySQL keeps context deadlines, but its
// connection waits go through the gate too, so most tests run everywhere.

// within runs fn and returns its error, failing t if fn has not returned
// after limit: a hang check, not a timing assertion.
func within(t *testing.T, limit time.Duration, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("%s: still running after %s", what, limit)
		return nil
	}
}

// waiting is how many callers wait for a connection, over all sources.
func waiting(p *sessionplugin.Plugin) int64 {
	var n int64
	for _, ps := range p.Stats().Pools {
		n += ps.Waiting
	}
	return n
}

// outOfBand reports whether kind's statements get the sweeper's deadline
// rather than a context deadline.
func outOfBand(kind testdb.Kind) bool { return kind == testdb.SQLite || kind == testdb.Postgres }

// holdOnlyConn installs the plugin with a pool of one connection and
// PoolTimeout 10s, and holds that connection in a transaction; release
// (idempotent) rolls it back.
func holdOnlyConn(t *testing.T, kind testdb.Kind) (db *gorm.DB, p *sessionplugin.Plugin, release func()) {
	t.Helper()
	db, p, _ = install(t, kind, func(c *sessionplugin.Config) {
		c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 10*time.Second
	})
	if err := db.Create(&Item{Name: "only", Price: 1}).Error; err != nil {
		t.Fatal(err)
	}
	holder := db.Begin()
	if holder.Error != nil {
		t.Fatal(holder.Error)
	}
	var once sync.Once
	release = func() { once.Do(func() { holder.Rollback() }) }
	t.Cleanup(release)
	return db, p, release
}

func wantCanceled(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want context.Canceled (and not DeadlineExceeded)", err)
	}
	if c := sessionplugin.Classify(err); c != sessionplugin.CategoryCanceled {
		t.Errorf("Classify(%v) = %q, want canceled", err, c)
	}
	var te *sessionplugin.TimeoutError
	if errors.As(err, &te) {
		t.Errorf("the caller's cancel became a TimeoutError: %+v", te)
	}
}

// wantCallerDeadlineInWait: the caller's own deadline, sooner than
// PoolTimeout, ended the wait: callbacks/wait.go reports it as the pool's
// budget (Timeout = the time waited), never as a statement timeout.
func wantCallerDeadlineInWait(t *testing.T, err error) {
	t.Helper()
	var te *sessionplugin.TimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v; want a *TimeoutError", err)
	}
	if !te.Waiting || te.Budget != "pool" || te.Timeout <= 0 {
		t.Errorf("TimeoutError = %+v; want Waiting, Budget pool, Timeout the time waited", te)
	}
	if !errors.Is(err, sessionplugin.ErrPoolTimeout) || errors.Is(err, sessionplugin.ErrQueryTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want ErrPoolTimeout and DeadlineExceeded, not ErrQueryTimeout", err)
	}
	if c := sessionplugin.Classify(err); c != sessionplugin.CategoryPoolExhausted {
		t.Errorf("Classify = %q, want pool_exhausted", c)
	}
}

// wantStatementDeadlineInWait: the statement's own (WithTimeout) deadline
// ran out while it waited for a connection.
func wantStatementDeadlineInWait(d time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var te *sessionplugin.TimeoutError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v; want a *TimeoutError", err)
		}
		if !te.Waiting || te.Budget != "statement" || te.Timeout != d {
			t.Errorf("TimeoutError = %+v; want Waiting, Budget statement, Timeout %s", te, d)
		}
		if !errors.Is(err, sessionplugin.ErrPoolTimeout) || !errors.Is(err, sessionplugin.ErrQueryTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v; want ErrPoolTimeout, ErrQueryTimeout and DeadlineExceeded", err)
		}
	}
}

// A waiting caller's cancel ends its wait for a connection at once, though
// the wait has no timer of its own: the cancel reaches the source's gate
// through context.AfterFunc. A caller's deadline does the same, reported
// as the pool's budget.
func TestSweepCallerEndsPoolWait(t *testing.T) {
	cases := []struct {
		name        string
		ctx         func() (context.Context, context.CancelFunc)
		stmtTimeout time.Duration // >0: WithTimeout; 0: QueryTimeout (30s)
		cancelAfter bool          // cancel once the call waits for a connection
		want        func(*testing.T, error)
	}{
		{"cancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			0, true, wantCanceled},
		// The statement's deadline (8s) would end the wait too, but only
		// after the 5s hang bound.
		{"cancel under a statement deadline", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			8 * time.Second, true, wantCanceled},
		{"cancelled before the call", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, 0, false, wantCanceled},
		{"caller deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, 0, false, wantCallerDeadlineInWait},
		{"caller deadline under a longer statement deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, 5 * time.Second, false, wantCallerDeadlineInWait},
	}
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, release := holdOnlyConn(t, kind)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := c.ctx()
				defer cancel()
				sess := db.WithContext(ctx)
				if c.stmtTimeout > 0 {
					sess = sessionplugin.WithTimeout(sess, c.stmtTimeout)
				}
				done := make(chan error, 1)
				go func() {
					var it Item
					done <- sess.First(&it).Error
				}()
				if c.cancelAfter {
					waitFor(t, func() bool { return waiting(p) == 1 }, "the call to wait for a connection")
					time.Sleep(100 * time.Millisecond) // let it block on the gate
					cancel()
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(5 * time.Second): // PoolTimeout is 10s
					t.Fatal("the wait did not end within 5s of the caller giving up (PoolTimeout 10s)")
				}
				c.want(t, err)
				waitFor(t, func() bool { return waiting(p) == 0 }, "no caller left waiting")
			})
		}
		release()
		var it Item
		if err := db.First(&it).Error; err != nil {
			t.Fatalf("after the waits: %v", err)
		}
	})
}

// One waiter whose deadline passes (or whose caller gives up) wakes every
// waiter of the source through the shared gate; the others must wait
// again, and get the connection when it is released.
func TestSweepOneWaiterTimingOutSparesOthers(t *testing.T) {
	type impatient struct {
		run  func(db *gorm.DB) error
		want func(*testing.T, error)
	}
	stmt := func(d time.Duration) impatient {
		return impatient{func(db *gorm.DB) error {
			var it Item
			return sessionplugin.WithTimeout(db, d).First(&it).Error
		}, wantStatementDeadlineInWait(d)}
	}
	callerCancel := func(after time.Duration) impatient {
		return impatient{func(db *gorm.DB) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(after, cancel)
			var it Item
			return db.WithContext(ctx).First(&it).Error
		}, wantCanceled}
	}
	callerDeadline := func(d time.Duration) impatient {
		return impatient{func(db *gorm.DB) error {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			var it Item
			return db.WithContext(ctx).First(&it).Error
		}, wantCallerDeadlineInWait}
	}
	cases := []struct {
		name      string
		impatient []impatient
	}{
		{"statement deadline", []impatient{stmt(100 * time.Millisecond)}},
		{"staggered statement deadlines", []impatient{stmt(100 * time.Millisecond), stmt(150 * time.Millisecond),
			stmt(200 * time.Millisecond), stmt(250 * time.Millisecond)}},
		{"caller cancel", []impatient{callerCancel(100 * time.Millisecond)}},
		{"caller deadline", []impatient{callerDeadline(100 * time.Millisecond)}},
		{"mixed", []impatient{stmt(100 * time.Millisecond), callerCancel(120 * time.Millisecond), callerDeadline(140 * time.Millisecond)}},
	}
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				db, p, release := holdOnlyConn(t, kind)
				// Two patient waiters, with no per-call timeout (QueryTimeout
				// 30s, PoolTimeout 10s): one whose context can never end, one
				// whose context could (its cancel is registered on the gate).
				patientCtx, patientCancel := context.WithCancel(context.Background())
				defer patientCancel()
				patients := []*gorm.DB{db, db.WithContext(patientCtx)}
				pdone := make([]chan error, len(patients))
				for i, sess := range patients {
					pdone[i] = make(chan error, 1)
					go func() {
						var it Item
						pdone[i] <- sess.First(&it).Error
					}()
				}
				waitFor(t, func() bool { return waiting(p) == int64(len(patients)) }, "the patient callers to wait")

				idone := make([]chan error, len(c.impatient))
				for i, w := range c.impatient {
					idone[i] = make(chan error, 1)
					go func() { idone[i] <- w.run(db) }()
				}
				for i, w := range c.impatient {
					select {
					case err := <-idone[i]:
						w.want(t, err)
					case <-time.After(5 * time.Second):
						t.Fatalf("impatient waiter %d still waiting after 5s", i)
					}
				}
				for i := range patients {
					select {
					case err := <-pdone[i]:
						t.Fatalf("patient waiter %d returned (%v) while the connection was still held", i, err)
					default:
					}
				}
				release()
				for i := range patients {
					select {
					case err := <-pdone[i]:
						if err != nil {
							t.Errorf("patient waiter %d: %v, want the connection once released", i, err)
						}
					case <-time.After(15 * time.Second):
						t.Fatalf("patient waiter %d still waiting 15s after the release", i)
					}
				}
				waitFor(t, func() bool { return waiting(p) == 0 }, "no caller left waiting")
			})
		}
	})
}

// An interrupt aimed at a statement whose deadline passed must never hit
// the next statement on the same connection. Statements run with deadlines
// around their own duration, so the sweeper often fires as they end; every
// statement after one must succeed.
func TestSweepNoStrayInterrupt(t *testing.T) {
	// Spread around the statement's ~2ms: some time out, some do not, and
	// many deadlines land near the statement's end.
	deadlines := []time.Duration{
		250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 1500 * time.Microsecond,
		1750 * time.Microsecond, 2 * time.Millisecond, 2250 * time.Microsecond, 2500 * time.Microsecond,
		3 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 10 * time.Millisecond,
	}
	const rounds = 20
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, func(c *sessionplugin.Config) {
			c.PoolSize, c.MaxOverflow = 1, 0
			c.Breaker.Disabled = true // half the statements time out on purpose
		})
		// The timed statement, its result, and a follow-up with a loop
		// (SQLite checks for an interrupt at its loops' jumps, so a
		// one-row SELECT 1 could miss a stray interrupt).
		var stmtSQL, followSQL string
		var stmtWant, followWant int64
		switch kind {
		case testdb.Postgres:
			stmtSQL, stmtWant = "SELECT 7 FROM pg_sleep(0.002)", 7
			followSQL, followWant = "SELECT count(*) FROM generate_series(1, 2000)", 2000
		case testdb.MySQL:
			stmtSQL, stmtWant = "SELECT 7 + SLEEP(0.002)", 7
			followSQL, followWant = "SELECT 1", 1
		default:
			count := func(n int64) string {
				return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < " + itoa(int(n)) + ") SELECT max(x) FROM c"
			}
			// Size the count to take about 2ms here (-race, load).
			n := int64(50)
			var fastest time.Duration
			for ; n < 1<<24; n *= 2 {
				fastest = time.Hour
				for range 3 {
					var got int64
					start := time.Now()
					if err := sessionplugin.WithoutTimeout(db).Raw(count(n)).Find(&got).Error; err != nil || got != n {
						t.Fatalf("calibrating: %d, %v", got, err)
					}
					fastest = min(fastest, time.Since(start))
				}
				if fastest >= 2*time.Millisecond {
					break
				}
			}
			t.Logf("sqlite: counting to %d takes %s (fastest of 3)", n, fastest)
			// The follow-up runs as long: an interrupt that comes late has
			// as wide a window to hit it.
			stmtSQL, stmtWant = count(n), n
			followSQL, followWant = stmtSQL, n
		}

		timedOut, finished := 0, 0
		for i := range rounds * len(deadlines) {
			d := deadlines[i%len(deadlines)]
			sess := sessionplugin.WithTimeout(db, d)
			var err error
			var got int64
			exec := (i/len(deadlines))%2 == 1 // each deadline both ways
			if exec {
				err = sess.Exec(stmtSQL).Error
			} else {
				err = sess.Raw(stmtSQL).Find(&got).Error
			}
			timed := err != nil
			switch {
			case err == nil:
				finished++
				if !exec && got != stmtWant {
					t.Fatalf("statement %d (deadline %s) returned %d, want %d", i, d, got, stmtWant)
				}
			case errors.Is(err, sessionplugin.ErrQueryTimeout):
				timedOut++
			default:
				t.Fatalf("statement %d (deadline %s, exec %v): %v; want success or ErrQueryTimeout", i, d, exec, err)
			}
			var n int64
			if err := db.Raw(followSQL).Find(&n).Error; err != nil || n != followWant {
				t.Fatalf("statement after %d (deadline %s, exec %v, timed out %v): %d, %v; want %d, nil",
					i, d, exec, timed, n, err, followWant)
			}
		}
		t.Logf("%s: %d statements timed out, %d finished", kind, timedOut, finished)
		if timedOut == 0 || finished == 0 {
			t.Logf("%s: only one outcome happened on this machine: the race between a deadline and a statement's end was not exercised", kind)
		}
	})
}

// The plugin never cancels or wraps its caller's context for its own
// deadline: the statement sees the deadline (Statement.Context.Deadline)
// but, out of band, still runs under the caller's Done channel, and the
// caller's context is untouched after the statement timed out.
func TestSweepCallerContextUntouched(t *testing.T) {
	type seen struct {
		deadline time.Time
		ok       bool
		done     <-chan struct{}
		at       time.Time
	}
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancellable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	}
	const d = 200 * time.Millisecond
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, nil)
		var mu sync.Mutex
		var obs []seen
		record := func(db *gorm.DB) {
			dl, ok := db.Statement.Context.Deadline()
			mu.Lock()
			obs = append(obs, seen{dl, ok, db.Statement.Context.Done(), time.Now()})
			mu.Unlock()
		}
		if err := db.Callback().Query().After("gormsession:before_query").Before("gorm:query").Register("test:observe_query", record); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := c.ctx()
				defer cancel()
				mu.Lock()
				obs = nil
				mu.Unlock()
				start := time.Now()
				err := within(t, 5*time.Second, "the statement", func() error {
					var rows []map[string]any
					return sessionplugin.WithTimeout(db.WithContext(ctx), d).Raw(sleepSQL(kind, 10)).Find(&rows).Error
				})
				var te *sessionplugin.TimeoutError
				if !errors.As(err, &te) || te.Budget != "statement" || te.Timeout != d || te.Waiting {
					t.Fatalf("err = %v; want a statement TimeoutError of %s", err, d)
				}
				if err := ctx.Err(); err != nil {
					t.Errorf("the caller's context ended (%v) with the plugin's deadline", err)
				}
				if dl, ok := ctx.Deadline(); ok {
					t.Errorf("the caller's context has a deadline (%v)", dl)
				}
				mu.Lock()
				got := obs
				mu.Unlock()
				if len(got) != 1 {
					t.Fatalf("the hook saw %d statements, want 1", len(got))
				}
				o := got[0]
				if !o.ok || o.deadline.Before(start.Add(d)) || o.deadline.After(o.at.Add(d)) {
					t.Errorf("Statement.Context.Deadline() = %v, %v; want ok and between start+%s and hook time+%s", o.deadline, o.ok, d, d)
				}
				if outOfBand(kind) && o.done != ctx.Done() {
					t.Errorf("Statement.Context.Done() is not the caller's: the deadline was put in a derived context")
				}
				if !outOfBand(kind) && o.done == nil {
					t.Errorf("MySQL: Statement.Context.Done() is nil; want the context deadline it keeps")
				}
				var n int64
				if err := db.WithContext(ctx).Raw("SELECT 1").Find(&n).Error; err != nil || n != 1 {
					t.Errorf("next statement under the same context: %d, %v", n, err)
				}
				if kind == testdb.Postgres {
					waitFor(t, func() bool { return !pgSleeping(t, db) }, "pg_sleep to leave pg_stat_activity")
				}
			})
		}
	})
}

// sweepers counts the deadline sweeper goroutines in the process (tests in
// this package do not run in parallel).
func sweepers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "callbacks.(*Runtime).sweepLoop(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// After Plugin.Close, statements keep their deadlines: new ones in their
// context, ones the sweeper already watched through the sweeper, which
// exits once none is left.
func TestSweepAfterCloseKeepsDeadlines(t *testing.T) {
	const d = 300 * time.Millisecond
	cases := []struct {
		name        string
		closeBefore bool
	}{
		{"closed before the statement", true},
		{"closed while it runs", false},
	}
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				db, p, _ := install(t, kind, nil)
				if err := db.Exec("SELECT 1").Error; err != nil { // meets the driver, starts the sweeper
					t.Fatal(err)
				}
				if c.closeBefore {
					p.Close()
				}
				done := make(chan error, 1)
				go func() { done <- sessionplugin.WithTimeout(db, d).Exec(sleepSQL(kind, 10)).Error }()
				if !c.closeBefore {
					waitFor(t, func() bool { return p.Stats().Active == 1 }, "the statement to start")
					p.Close()
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(5 * time.Second):
					t.Fatalf("a %s statement deadline after Close did not stop a 10s statement within 5s", d)
				}
				var te *sessionplugin.TimeoutError
				if !errors.Is(err, sessionplugin.ErrQueryTimeout) || !errors.As(err, &te) || te.Budget != "statement" || te.Timeout != d {
					t.Fatalf("err = %v; want a statement TimeoutError of %s", err, d)
				}
				if kind == testdb.Postgres {
					waitFor(t, func() bool { return !pgSleeping(t, db) }, "pg_sleep to leave pg_stat_activity")
				}
				if err := db.Exec("SELECT 1").Error; err != nil {
					t.Fatalf("after Close: %v", err)
				}
				waitFor(t, func() bool { return sweepers() == 0 }, "the sweeper to exit after Close")
			})
		}
	})
}

// A transaction still open at Close keeps the sweeper only until it ends:
// the closed sweeper looks again every refire instead of sleeping until the
// transaction's (60s) deadline, which its Commit does not announce.
func TestSweepExitsAfterCloseWhenTransactionEnds(t *testing.T) {
	defer sessionplugin.SetLeakCheckAfter(sessionplugin.SetLeakCheckAfter(100 * time.Millisecond))
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		tx := db.Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		// Past its leak check, the only due left is the 60s deadline.
		waitFor(t, func() bool { return sessionplugin.LeakChecksAttached(p) == 1 }, "the leak check to be attached")
		p.Close()
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return sweepers() == 0 }, "the sweeper to exit once the transaction ended")
	})
}

// A PostgreSQL statement stopped by the sweeper mid-run: the caller gets
// the statement's TimeoutError, the server stops the query, and the broken
// connection is discarded, so the pool's only slot works at once.
func TestSweepPostgresStopsLongStatement(t *testing.T) {
	const d = 200 * time.Millisecond
	// Tags this run's statements, should other runs share the server.
	tag := "sweep_" + itoa(int(time.Now().UnixNano()%1e9))
	cases := []struct {
		name string
		run  func(db *gorm.DB) error
		// What pg_stat_activity shows while it runs (LIKE pattern).
		activity string
	}{
		{"exec", func(db *gorm.DB) error { return db.Exec("SELECT pg_sleep(10) -- " + tag).Error }, "%-- " + tag},
		{"query", func(db *gorm.DB) error {
			var rows []map[string]any
			return db.Raw("SELECT pg_sleep(10) -- " + tag).Find(&rows).Error
		}, "%-- " + tag},
		{"create", func(db *gorm.DB) error {
			return db.Create(&Item{Name: "slow", Price: 1}).Error
		}, `INSERT INTO "items"%`},
	}
	db, _, _ := install(t, testdb.Postgres, func(c *sessionplugin.Config) {
		c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 10*time.Second
	})
	// A create that sleeps: a trigger, so the statement is GORM's own
	// INSERT (with its implicit transaction) rather than raw SQL.
	for _, q := range []string{
		"CREATE FUNCTION sweep_slow_fn() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(10); RETURN NEW; END $$ LANGUAGE plpgsql",
		"CREATE TRIGGER sweep_slow_t BEFORE INSERT ON items FOR EACH ROW WHEN (NEW.name = 'slow') EXECUTE FUNCTION sweep_slow_fn()",
	} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := within(t, 5*time.Second, "the statement", func() error { return c.run(sessionplugin.WithTimeout(db, d)) })
			var te *sessionplugin.TimeoutError
			if !errors.As(err, &te) || te.Budget != "statement" || te.Timeout != d || te.Waiting {
				t.Fatalf("err = %v; want a statement TimeoutError of %s, not waiting", err, d)
			}
			if !errors.Is(err, sessionplugin.ErrQueryTimeout) || sessionplugin.Classify(err) != sessionplugin.CategoryTimeout {
				t.Errorf("err = %v (%s); want ErrQueryTimeout, category timeout", err, sessionplugin.Classify(err))
			}
			// The after-step discarded the connection before returning.
			if st := sqlDB.Stats(); st.OpenConnections != 0 || st.InUse != 0 {
				t.Errorf("pool after the timeout: %d open, %d in use; want the broken connection discarded", st.OpenConnections, st.InUse)
			}
			if err := db.Exec("SELECT 1").Error; err != nil {
				t.Fatalf("the next statement on the pool: %v", err)
			}
			waitFor(t, func() bool {
				var n int64
				err := sessionplugin.WithoutTimeout(db).Raw(
					"SELECT count(*) FROM pg_stat_activity WHERE query LIKE ? AND state = 'active' AND pid <> pg_backend_pid()", c.activity).Scan(&n).Error
				if err != nil {
					t.Fatal(err)
				}
				return n == 0
			}, "the server to stop the query")
		})
	}
	var n int64
	if err := db.Model(&Item{}).Where("name = ?", "slow").Count(&n).Error; err != nil || n != 0 {
		t.Errorf("%d slow items (%v), want 0: the insert was stopped", n, err)
	}
}
