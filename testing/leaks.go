package sessiontest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"weak"

	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// TestingT is what VerifyNoLeaks needs of a test: *testing.T, *testing.B,
// *testing.F and testing.TB all satisfy it. A test of its own checks can pass
// a recorder instead, to see the report without failing.
type TestingT interface {
	Helper()
	Errorf(format string, args ...any)
}

// leakWait is how long VerifyNoLeaks waits for sessions to end before it
// reports them: long enough for a goroutine that is finishing to close its
// rows, short enough to keep a failing test quick.
const leakWait = time.Second

// VerifyNoLeaks fails t, with t.Errorf, if db still has database sessions
// open: the goleak idea, for sessions. Call it at the end of a test, or have
// it run at the end with
//
//	db := sessiontest.OpenPostgres(t) // or any *gorm.DB
//	t.Cleanup(func() { sessiontest.VerifyNoLeaks(t, db) })
//
// registered after the database is opened, so it runs before the pool is
// closed. Pass the *gorm.DB the test opened, not a transaction on it: the
// transaction would be reported as open.
//
// With the plugin installed on db (sessionplugin.FromDB), it reports every
// open scope, oldest first, with the file:line that opened it (a
// transaction from db.Begin or db.Transaction, Rows or a Row not yet
// closed, a statement still running), every pool's connections still in
// use, and every transaction the garbage collector found without Commit or
// Rollback since the plugin was installed or since the last VerifyNoLeaks
// on it (the plugin rolled those back and logged where each began):
//
//	sessiontest: 2 database sessions still open:
//	  transaction #12 on primary, opened at handlers/order.go:42, open for 1.2s
//	  rows #15 (row) on items, primary, opened at handlers/list.go:17, open for 1.1s
//	  2 connections of primary still in use
//
// Without the plugin it can only count db's connections in use (database/sql
// does not know who holds them), and its report says so.
//
// Sessions often end an instant after the test's last line, when a
// goroutine finishes with its rows, so VerifyNoLeaks waits up to a second
// for everything to close before it reports; a clean db returns at once.
// A nil db is reported as an error.
func VerifyNoLeaks(t TestingT, db *gorm.DB) {
	t.Helper()
	if db == nil {
		t.Errorf("sessiontest: VerifyNoLeaks: nil *gorm.DB")
		return
	}
	p, ok := sessionplugin.FromDB(db)
	if !ok {
		verifyPool(t, db)
		return
	}
	var s sessionplugin.Stats
	var scopes []sessionplugin.ScopeInfo
	poll(func() bool {
		scopes, s = p.ActiveScopes(), p.Stats()
		return len(scopes) == 0 && inUse(s.Pools) == 0
	})
	gc := newlyLeaked(p, s.Leaked)
	conns := inUse(s.Pools)
	if len(scopes) == 0 && conns == 0 && gc == 0 {
		return
	}
	var b strings.Builder
	switch {
	case len(scopes) > 0:
		fmt.Fprintf(&b, "sessiontest: %s still open:", plural(len(scopes), "database session"))
	case conns > 0:
		fmt.Fprintf(&b, "sessiontest: %s still in use:", plural(conns, "database connection"))
	default:
		fmt.Fprintf(&b, "sessiontest: %s:", plural(int(gc), "leaked database transaction"))
	}
	for _, sc := range scopes {
		b.WriteString("\n  ")
		b.WriteString(describe(sc))
	}
	for _, ps := range s.Pools {
		if ps.InUse > 0 {
			fmt.Fprintf(&b, "\n  %s of %s still in use", plural(ps.InUse, "connection"), ps.Source)
		}
	}
	if gc > 0 {
		fmt.Fprintf(&b, "\n  %s garbage-collected without Commit or Rollback "+
			"(rolled back; the plugin logged the line that began each)", plural(int(gc), "transaction"))
	}
	t.Errorf("%s", b.String())
}

// verifyPool is VerifyNoLeaks without the plugin: database/sql's count.
func verifyPool(t TestingT, db *gorm.DB) {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Errorf("sessiontest: VerifyNoLeaks: no *sql.DB behind this *gorm.DB: %v", err)
		return
	}
	var n int
	poll(func() bool {
		n = sqlDB.Stats().InUse
		return n == 0
	})
	if n > 0 {
		t.Errorf("sessiontest: %s still in use: a transaction, Rows or Conn was not ended. "+
			"Install the plugin on this *gorm.DB (db.Use(sessionplugin.New(sessionplugin.DefaultConfig()))) "+
			"to have each one named with the line that opened it",
			plural(n, "database connection"))
	}
}

// poll calls clean until it returns true or leakWait has passed, backing
// off from 1ms to 50ms between calls.
func poll(clean func() bool) {
	deadline := time.Now().Add(leakWait)
	for wait := time.Millisecond; !clean() && time.Now().Before(deadline); wait = min(2*wait, 50*time.Millisecond) {
		time.Sleep(min(wait, time.Until(deadline)))
	}
}

func inUse(pools []sessionplugin.PoolStats) int {
	n := 0
	for _, ps := range pools {
		n += ps.InUse
	}
	return n
}

// describe formats one open scope:
//
//	transaction #12 on primary, opened at handlers/order.go:42, open for 1.2s
//	rows #15 (row) on items, primary, opened at handlers/list.go:17, open for 1.1s
func describe(s sessionplugin.ScopeInfo) string {
	var b strings.Builder
	if s.Operation == "transaction" {
		fmt.Fprintf(&b, "transaction #%d on %s", s.ID, s.Source)
	} else {
		what := "statement"
		if s.Operation == "row" {
			what = "rows" // Rows() or Row(), holding its connection until closed or scanned
		}
		fmt.Fprintf(&b, "%s #%d (%s) on ", what, s.ID, s.Operation)
		if s.Table != "" {
			b.WriteString(s.Table + ", ")
		}
		b.WriteString(s.Source)
		if s.TxID != 0 {
			fmt.Fprintf(&b, ", in transaction #%d", s.TxID)
		}
	}
	fmt.Fprintf(&b, ", opened at %s, open for %s", s.Caller, roundAge(s.Age))
	if s.LastStatement != "" {
		fmt.Fprintf(&b, ", last statement at %s", s.LastStatement)
	}
	return b.String()
}

// roundAge keeps two or three significant digits: 1.2s, 350ms, 42µs.
func roundAge(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// leakedSeen remembers, per plugin, its Stats().Leaked at the last
// VerifyNoLeaks, so each garbage-collected transaction is reported once even
// when tests share a *gorm.DB. Its keys do not keep plugins alive, and each
// entry is removed when its plugin is collected.
var leakedSeen = struct {
	sync.Mutex
	m map[weak.Pointer[sessionplugin.Plugin]]uint64
}{m: map[weak.Pointer[sessionplugin.Plugin]]uint64{}}

// newlyLeaked records total as p's Leaked count and returns how much it
// grew since the previous call for p.
func newlyLeaked(p *sessionplugin.Plugin, total uint64) uint64 {
	k := weak.Make(p)
	leakedSeen.Lock()
	defer leakedSeen.Unlock()
	prev, seen := leakedSeen.m[k]
	if !seen {
		runtime.AddCleanup(p, func(k weak.Pointer[sessionplugin.Plugin]) {
			leakedSeen.Lock()
			delete(leakedSeen.m, k)
			leakedSeen.Unlock()
		}, k)
	}
	leakedSeen.m[k] = total
	if total < prev {
		return 0
	}
	return total - prev
}
