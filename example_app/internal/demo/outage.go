package demo

import (
	"time"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/example_app/internal/api"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

var stepOutage = step{
	title: "The database going away: the circuit breaker",
	intro: "Infrastructure failures (connection, timeout, pool_exhausted) count against the source's breaker. " +
		"After DB_BREAKER_CONSECUTIVE_FAILURES in a row (3 here) it opens: statements then fail at once with " +
		"ErrCircuitOpen, without touching the pool or the network, so a dead database does not tie up every request " +
		"for its full timeout. After DB_BREAKER_OPEN_TIMEOUT (1s here) it lets one probe through; success closes it.",
	run: func(e *env) {
		if e.st.Kind == store.SQLite {
			outageSQLite(e)
			return
		}
		outageServer(e)
	},
}

// outageServer takes the real server away through sessiontest.FaultProxy,
// a TCP proxy between the app and the database.
func outageServer(e *env) {
	proxy, err := sessiontest.NewFaultProxy(e.st.Target.Addr)
	if !e.check(err == nil, "start the fault proxy: %v", err) {
		return
	}
	defer proxy.Close()
	url, err := store.WithHost(e.url, proxy.Addr())
	if !e.check(err == nil, "proxy URL: %v", err) {
		return
	}
	cfg := e.session
	cfg.PoolSize, cfg.MaxOverflow = 2, 0
	cfg.QueryTimeout, cfg.PoolTimeout = 2*time.Second, 2*time.Second
	cfg.LongRunningThreshold, cfg.IdleInTxThreshold = 0, 0
	cfg.Breaker.ConsecutiveFailures, cfg.Breaker.OpenTimeout, cfg.Breaker.HalfOpenMaxRequests = 3, time.Second, 1
	st, err := store.Open(store.Options{URL: url, Session: cfg, Logger: e.log.Named("outage"), TablePrefix: tablePrefix})
	if !e.check(err == nil, "open through the proxy: %v", err) {
		return
	}
	defer st.Close()
	db := st.DB.WithContext(e.ctx)
	ping := func() error { return db.Exec("SELECT 1").Error }
	b := st.Plugin.Breaker("primary")

	err = ping()
	e.say("a third handle connects through a TCP proxy (sessiontest.FaultProxy); SELECT 1: %s", errText(err))
	if !e.check(err == nil, "SELECT 1 through the proxy failed: %v", err) {
		return
	}

	proxy.SetRefuse(true)
	proxy.ResetAll()
	e.say("the proxy now refuses new connections and resets the open ones: the database is gone")
	for i := 1; i <= 8 && b.State() != breaker.StateOpen; i++ {
		err := ping()
		e.say("SELECT 1, try %d: category %q", i, sessionplugin.Classify(err))
	}
	e.check(b.State() == breaker.StateOpen, "the breaker did not open; it is %s", b.State())
	e.check(e.waitLogged(time.Second, "circuit breaker opened", map[string]string{"source": "primary"}), "no 'circuit breaker opened' line")

	dials := proxy.Dials()
	start := time.Now()
	err = ping()
	took := time.Since(start)
	resp, retry := api.Respond(err)
	e.say("with the breaker open, SELECT 1 fails in %s without a connection attempt (proxy dials before/after: %d/%d): %s",
		took.Round(time.Microsecond), dials, proxy.Dials(), errText(err))
	e.say("Classify = %q → HTTP %d, Retry-After: %d", sessionplugin.Classify(err), resp.Status, retry)
	e.check(sessionplugin.Classify(err) == sessionplugin.CategoryCircuitOpen, "want circuit_open, got %q", sessionplugin.Classify(err))
	e.check(proxy.Dials() == dials, "the open breaker let a connection attempt through")
	e.check(resp.Status == 503 && retry > 0, "want 503 with Retry-After, got %d, %d", resp.Status, retry)

	proxy.SetRefuse(false)
	e.say("the database is back; the breaker stays open until its open timeout, then lets one probe through")
	fastFails := 0
	recovered := e.pollEvery(20*time.Second, 200*time.Millisecond, func() bool {
		err := ping()
		if sessionplugin.Classify(err) == sessionplugin.CategoryCircuitOpen {
			fastFails++
		}
		return err == nil
	})
	e.say("SELECT 1 works again after %d more fast failures; the breaker is %s", fastFails, b.State())
	e.check(recovered, "SELECT 1 never worked again")
	e.check(b.State() == breaker.StateClosed, "the breaker is %s, want closed", b.State())
	e.check(e.waitLogged(time.Second, "circuit breaker half-open", map[string]string{"source": "primary"}), "no half-open line")
	e.check(e.waitLogged(time.Second, "circuit breaker closed", map[string]string{"source": "primary"}), "no closed line")
}

// outageSQLite says plainly what cannot be shown without a server, and shows
// the fast-fail path with the breaker forced open by hand.
func outageSQLite(e *env) {
	e.say("SQLite runs inside this process: there is no network or server to take away, so the real outage " +
		"(connection errors opening the breaker, then a probe closing it) needs a database server. Run the demo " +
		"with DATABASE_URL=postgres://… or mysql://… to see it. What SQLite can show is the fast-fail path, " +
		"with the breaker forced open by hand: p.Breaker(\"primary\").SetMode(breaker.ModeForcedOpen).")
	b := e.st.Plugin.Breaker("primary")
	db := e.st.DB.WithContext(e.ctx)
	b.SetMode(breaker.ModeForcedOpen)
	err := db.Exec("SELECT 1").Error
	resp, retry := api.Respond(err)
	e.say("breaker %s; SELECT 1: %s", b.State(), errText(err))
	e.say("Classify = %q → HTTP %d, Retry-After: %d", sessionplugin.Classify(err), resp.Status, retry)
	e.check(sessionplugin.Classify(err) == sessionplugin.CategoryCircuitOpen, "want circuit_open, got %q", sessionplugin.Classify(err))
	e.check(resp.Status == 503, "want HTTP 503, got %d", resp.Status)
	b.SetMode(breaker.ModeNormal)
	err = db.Exec("SELECT 1").Error
	e.say("mode back to normal: breaker %s; SELECT 1: %s", b.State(), errText(err))
	e.check(err == nil && b.State() == breaker.StateClosed, "the breaker did not close again: %s, %v", b.State(), err)
	e.check(e.logged("circuit breaker mode changed", map[string]string{"to_mode": "forced-open"}), "no mode-change line")
}
