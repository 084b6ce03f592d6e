package reliability

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// workers is the number of goroutines calling Transaction at once.
const workers = 32

// The plugin's settings for every scenario. They are one configuration for
// all faults, as a service would have, chosen so that the latency fault
// (500ms each way, so at least 1s per round trip and 3 to 5s per
// transaction) still commits, and everything else ends quickly:
//   - the pool holds one connection per worker, so no caller waits for the
//     pool under latency (a pool smaller than the load would time out
//     waiting, and pool_exhausted counts against the breaker: latency
//     would then open it);
//   - QueryTimeout is above the 1s round trip, TransactionTimeout above a
//     whole transaction under latency;
//   - the breaker opens after 5 failures in a row (the default) and probes
//     after 1s instead of 30s, to keep the suite short;
//   - slow-call tripping stays off (the default): latency alone must not
//     open the breaker. A service that wants latency to trip it sets
//     Breaker.SlowCallThreshold; this suite shows the default.
const (
	poolTimeout  = 3 * time.Second
	queryTimeout = 3 * time.Second
	txTimeout    = 8 * time.Second
	openTimeout  = time.Second
	consecutive  = 5
)

func suiteConfig(logger *zap.Logger) sessionplugin.Config {
	cfg := sessionplugin.DefaultConfig()
	cfg.Logger = logger
	cfg.PoolSize, cfg.MaxOverflow = workers, 0
	cfg.PoolTimeout = poolTimeout
	cfg.QueryTimeout = queryTimeout
	cfg.TransactionTimeout = txTimeout
	cfg.Breaker.ConsecutiveFailures = consecutive
	cfg.Breaker.OpenTimeout = openTimeout
	cfg.Breaker.HalfOpenMaxRequests = 1
	return cfg
}

// Phase lengths. A fault that opens the breaker is held until it has
// opened and no call admitted before that is still running, then for
// holdOpen more (so the suite sees fast failures, a whole open period with
// nothing else in flight, and a failed probe); never longer than maxFault.
const (
	baseline   = 300 * time.Millisecond
	holdOpen   = 2*openTimeout + 500*time.Millisecond
	maxFault   = 20 * time.Second
	latencyFor = 5 * time.Second
	steady     = 500 * time.Millisecond // normal traffic after recovery
	// closeBound is how soon after the fault ends the breaker must be
	// closed: one OpenTimeout, one probe, and a generous margin for a slow,
	// shared machine. The exact figure is printed.
	closeBound = openTimeout + 5*time.Second
	// dialGrace is how long after the last call admitted before the breaker
	// opened its connection attempts may still land at the proxy.
	dialGrace = 100 * time.Millisecond
	// callSlack: every call ends by its TransactionTimeout, give or take
	// a loaded machine's scheduling.
	callSlack = 2 * time.Second
	// fastFailBound: a refused call must not wait for the pool or the
	// network, both of which take seconds here. Its real latency is
	// microseconds; the bound only keeps a stalled machine from failing it.
	fastFailBound = time.Second
)

// faultCategories are the categories a call may fail with under these
// faults: the infrastructure ones, the breaker's refusal, and a COMMIT
// whose answer was lost. Anything else (unknown, closed, ...) is a
// misclassified failure.
var faultCategories = map[sessionplugin.Category]bool{
	sessionplugin.CategoryConnection:    true,
	sessionplugin.CategoryTimeout:       true,
	sessionplugin.CategoryPoolExhausted: true,
	sessionplugin.CategoryCircuitOpen:   true,
	sessionplugin.CategoryCommitUnknown: true,
}

// fault is one kind of trouble the proxy makes.
type fault struct {
	name string
	// what the proxy does, for the report
	does string
	// opens: the breaker must open during the fault.
	opens bool
	// inject starts the fault and returns the function that ends it.
	inject func(p *sessiontest.FaultProxy) (heal func())
	// hold is how long the fault lasts when it does not open the breaker.
	hold time.Duration
	// minCommit: every Transaction begun and committed under the fault
	// took at least this long (proof that the fault was applied).
	minCommit time.Duration
}

var faults = []fault{
	{
		name:  "reset",
		does:  "resets every proxied connection every 2ms: open ones and new ones mid-handshake",
		opens: true,
		inject: func(p *sessiontest.FaultProxy) func() {
			// One ResetAll kills only the connections open at that instant;
			// a server or middlebox that keeps resetting is what trips a
			// breaker, so the proxy keeps at it.
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				tick := time.NewTicker(2 * time.Millisecond)
				defer tick.Stop()
				for {
					p.ResetAll()
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			}()
			return func() { close(stop); <-done }
		},
	},
	{
		name:  "refuse",
		does:  "the server goes down: open connections reset once, new ones refused (ECONNREFUSED)",
		opens: true,
		inject: func(p *sessiontest.FaultProxy) func() {
			p.SetRefuse(true)
			p.ResetAll()
			return func() { p.SetRefuse(false) }
		},
	},
	{
		name:  "blackhole",
		does:  "forwards nothing either way, closes nothing; new connections accepted but never answered",
		opens: true,
		inject: func(p *sessiontest.FaultProxy) func() {
			p.SetBlackhole(true)
			return func() { p.SetBlackhole(false) }
		},
	},
	{
		name:  "latency",
		does:  "delays every chunk 500ms each way (≥1s per round trip)",
		opens: false,
		hold:  latencyFor,
		// Its COMMIT was sent and answered under the latency: one round
		// trip, a second at least.
		minCommit: time.Second,
		inject: func(p *sessiontest.FaultProxy) func() {
			p.SetLatency(500 * time.Millisecond)
			return func() { p.SetLatency(0) }
		},
	},
}

// TestFaults runs every fault on every server database, the databases in
// parallel, the faults of one database one after another, and prints the
// figures of all as one markdown table.
func TestFaults(t *testing.T) {
	t.Parallel() // with the other tests here, which are short and light
	var rep report
	t.Run("db", func(t *testing.T) {
		for _, kind := range []testdb.Kind{testdb.Postgres, testdb.MySQL} {
			t.Run(string(kind), func(t *testing.T) {
				t.Parallel()
				for _, f := range faults {
					t.Run(f.name, func(t *testing.T) {
						fig := runScenario(t, kind, f)
						rep.add(fig)
					})
				}
			})
		}
	})
	if table := rep.markdown(); table != "" {
		t.Logf("figures (%d workers, OpenTimeout %s, QueryTimeout %s, TransactionTimeout %s, PoolTimeout %s):\n%s",
			workers, openTimeout, queryTimeout, txTimeout, poolTimeout, table)
	}
}

// figures are one scenario's numbers.
type figures struct {
	db, fault      string
	attempts       int
	commits        int
	fastFails      int
	errors         map[sessionplugin.Category]int // every failed call, circuit_open included
	unknown        int                            // commit_unknown
	unknownPresent int
	opened         bool
	timeToOpen     time.Duration
	openReason     string
	openCounts     string
	opens          int   // times the breaker opened (the first, and after failed probes)
	probes         int   // half-open transitions
	dialsOpen      int64 // dials while open, all
	dialsClean     int64 // dials while open, once nothing admitted earlier was in flight
	cleanTime      time.Duration
	timeToClose    time.Duration // from the end of the fault
	fastFailP50    time.Duration
	fastFailMax    time.Duration
	commitP50      time.Duration // of commits begun and ended during the fault
	commitMax      time.Duration
	longest        time.Duration // of every call
	firstCommit    time.Duration // from the end of the fault to the first commit begun after it
	examples       map[sessionplugin.Category]string
}

func runScenario(t *testing.T, kind testdb.Kind, f fault) figures {
	events := &breakerLog{}
	s := throughProxy(t, kind, suiteConfig(zap.New(&breakerCore{log: events})))
	direct, db, p, proxy := s.direct, s.db, s.plugin, s.proxy

	dials := sampleDials(proxy)
	l := startLoad(db, workers)
	time.Sleep(baseline)

	faultAt := time.Now()
	heal := f.inject(proxy)
	if f.opens {
		// Held until the breaker has opened, every call admitted before
		// that has ended (in a blackhole they hang until their deadlines),
		// and then for holdOpen: long enough for one whole open period
		// with nothing but refused calls, and a failed probe.
		limit := time.Now().Add(maxFault)
		if tr, ok := waitFor(maxFault, func() (transition, bool) { return events.first("open", faultAt) }); ok {
			waitFor(time.Until(limit), func() (struct{}, bool) { return struct{}{}, !l.busyBefore(tr.at) })
			time.Sleep(min(holdOpen, time.Until(limit)))
		}
	} else {
		time.Sleep(f.hold)
	}
	healAt := time.Now()
	heal()

	// Recovery: the breaker closes (if it opened) and calls commit again.
	recovered := func() bool {
		if f.opens && events.stateAt(time.Now()) != "closed" {
			return false
		}
		return l.committedSince(healAt)
	}
	waitFor(closeBound+txTimeout, func() (struct{}, bool) { return struct{}{}, recovered() })
	time.Sleep(steady)
	attempts := l.finish()
	dials.close()

	fig := analyse(t, kind, f, p, events, dials, attempts, faultAt, healAt)
	fig.unknownPresent = checkRows(t, direct, attempts)
	sessiontest.VerifyNoLeaks(t, db)
	logFigures(t, f, fig)
	return fig
}

// setup is a fresh database of kind with the row table, reached two ways.
type setup struct {
	direct *gorm.DB // straight to the server, no plugin: the truth
	db     *gorm.DB // through proxy, with the plugin installed
	plugin *sessionplugin.Plugin
	proxy  *sessiontest.FaultProxy
}

// throughProxy creates a fresh database of kind (skipping, or failing with
// CI=true, when its server is unreachable), migrates the row table on a
// direct connection, and opens it again through a FaultProxy with the
// plugin installed with cfg. Everything is closed at cleanup.
func throughProxy(t *testing.T, kind testdb.Kind, cfg sessionplugin.Config) setup {
	t.Helper()
	tg := testdb.Fresh(t, kind)
	s := setup{direct: testdb.OpenTarget(t, tg)}
	if err := s.direct.AutoMigrate(&row{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var err error
	if s.proxy, err = sessiontest.NewFaultProxy(tg.Addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.proxy.Close(); err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	s.db = testdb.OpenTarget(t, testdb.Target{Kind: kind, DSN: tg.WithAddr(s.proxy.Addr()), Addr: s.proxy.Addr()})
	s.plugin = sessionplugin.New(cfg)
	if err := s.db.Use(s.plugin); err != nil {
		t.Fatalf("db.Use: %v", err)
	}
	t.Cleanup(func() { s.plugin.Close() })
	return s
}

// waitFor polls cond every 5ms until it reports true or d has passed.
func waitFor[T any](d time.Duration, cond func() (T, bool)) (T, bool) {
	deadline := time.Now().Add(d)
	for {
		v, ok := cond()
		if ok || time.Now().After(deadline) {
			return v, ok
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// analyse checks the calls, the breaker and the dials, and computes the
// figures.
func analyse(t *testing.T, kind testdb.Kind, f fault, p *sessionplugin.Plugin, events *breakerLog,
	dials *dialSampler, attempts []attempt, faultAt, healAt time.Time) figures {
	t.Helper()
	fig := figures{db: string(kind), fault: f.name, attempts: len(attempts),
		errors: map[sessionplugin.Category]int{}, examples: map[sessionplugin.Category]string{}}
	checkCalls(t, f, &fig, attempts, faultAt, healAt)
	trs := events.transitions()
	checkBreaker(t, f, &fig, p, events, trs, faultAt, healAt)
	checkDials(t, &fig, dials, trs, attempts, faultAt)
	return fig
}

// checkCalls counts the calls' outcomes and checks each one's category
// and duration.
func checkCalls(t *testing.T, f fault, fig *figures, attempts []attempt, faultAt, healAt time.Time) {
	t.Helper()
	var fastFails, during []time.Duration
	recommitted := false // a Transaction begun after the fault ended committed
	for _, a := range attempts {
		d := a.end.Sub(a.start)
		fig.longest = max(fig.longest, d)
		if d > txTimeout+callSlack {
			t.Errorf("call %d took %s, past TransactionTimeout %s (+%s slack), and returned %q %v",
				a.id, d.Round(time.Millisecond), txTimeout, callSlack, a.cat, a.err)
		}
		switch {
		case a.err == nil:
			fig.commits++
			if !a.start.Before(faultAt) && !a.end.After(healAt) {
				during = append(during, d)
			}
			if since := a.end.Sub(healAt); a.start.After(healAt) && (!recommitted || since < fig.firstCommit) {
				fig.firstCommit, recommitted = since, true
			}
		default:
			fig.errors[a.cat]++
			if _, ok := fig.examples[a.cat]; !ok {
				fig.examples[a.cat] = a.err.Error()
			}
			if a.cat == sessionplugin.CategoryCommitUnknown {
				fig.unknown++
			}
			if a.fastFail {
				fig.fastFails++
				fastFails = append(fastFails, d)
				if a.end.Before(faultAt) {
					t.Errorf("call %d failed fast at %s, before the fault began: %v", a.id, a.end.Sub(faultAt), a.err)
				}
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(fig.errors)) {
		if !faultCategories[c] {
			t.Errorf("%d calls failed with category %q under %s, e.g. %s; a network fault must give one of %v",
				fig.errors[c], c, f.name, brief(fig.examples[c]), slices.Sorted(maps.Keys(faultCategories)))
		}
	}
	fig.fastFailP50, fig.fastFailMax = percentile(fastFails, 0.5), percentile(fastFails, 1)
	fig.commitP50, fig.commitMax = percentile(during, 0.5), percentile(during, 1)
	if fig.fastFailMax > fastFailBound {
		t.Errorf("a call refused by the open breaker took %s (bound %s): it waited for something", fig.fastFailMax, fastFailBound)
	}
	if f.minCommit > 0 {
		if len(during) == 0 {
			t.Errorf("no Transaction begun and committed under %s", f.name)
		} else if fast := percentile(during, 0); fast < f.minCommit {
			t.Errorf("a transaction begun and committed under %s took %s, want at least %s: the fault was not applied",
				f.name, fast, f.minCommit)
		}
	}
	if !recommitted {
		t.Errorf("no Transaction begun after %s ended committed", f.name)
	}
}

// checkBreaker checks that the breaker stayed closed before the fault,
// opened by its rules during a fault that should open it (and not during
// one that should not), and closed soon after the fault ended.
func checkBreaker(t *testing.T, f fault, fig *figures, p *sessionplugin.Plugin, events *breakerLog,
	trs []transition, faultAt, healAt time.Time) {
	t.Helper()
	for _, tr := range trs {
		switch tr.to {
		case "open":
			fig.opens++
			if tr.at.Before(faultAt) {
				t.Errorf("breaker opened at %s, before the fault (%s): %v", tr.at.Sub(faultAt), tr.reason, tr.counts)
			}
		case "half-open":
			fig.probes++
		}
	}
	open, ok := events.first("open", faultAt)
	fig.opened = ok && open.at.Before(healAt)
	if !f.opens {
		if len(trs) > 0 {
			t.Errorf("breaker changed state %d times under %s, want none (slow-call tripping is off): first to %s at %s: %s",
				len(trs), f.name, trs[0].to, trs[0].at.Sub(faultAt), trs[0].reason)
		}
		if fig.fastFails > 0 {
			t.Errorf("%d calls failed fast under %s; the breaker must stay closed", fig.fastFails, f.name)
		}
		return
	}
	if !fig.opened {
		t.Errorf("breaker did not open during %s (held %s); transitions: %v", f.name, healAt.Sub(faultAt), trs)
	} else {
		fig.timeToOpen = open.at.Sub(faultAt)
		fig.openReason = open.reason
		fig.openCounts = fmt.Sprint(open.counts)
		checkTrip(t, open)
	}
	if fig.fastFails == 0 {
		t.Errorf("no call failed fast during %s", f.name)
	}
	if events.stateAt(healAt) != "closed" {
		if c, ok := events.first("closed", healAt); !ok {
			t.Errorf("breaker never closed after %s ended; state now %s", f.name, p.Breaker("primary").State())
		} else if fig.timeToClose = c.at.Sub(healAt); fig.timeToClose > closeBound {
			t.Errorf("breaker closed %s after the fault ended, want within %s", fig.timeToClose, closeBound)
		}
	}
	if st := p.Breaker("primary").State().String(); st != "closed" {
		t.Errorf("breaker %s at the end, want closed", st)
	}
}

// checkDials counts the proxy's dials in each period the breaker was
// open. A call admitted before it opened may still be connecting; once all
// of those have ended (plus dialGrace), the open breaker must keep every
// call off the network until it goes half-open.
func checkDials(t *testing.T, fig *figures, dials *dialSampler, trs []transition, attempts []attempt, faultAt time.Time) {
	t.Helper()
	for i, tr := range trs {
		if tr.to != "open" {
			continue
		}
		end := time.Now()
		for _, next := range trs[i+1:] {
			if next.to != "open" {
				end = next.at
				break
			}
		}
		fig.dialsOpen += dials.between(tr.at, end)
		busy := tr.at
		for _, a := range attempts {
			if !a.fastFail && a.start.Before(tr.at) && a.end.After(busy) {
				busy = a.end
			}
		}
		clean := busy.Add(dialGrace)
		if !clean.Before(end) {
			continue
		}
		fig.cleanTime += end.Sub(clean)
		if n := dials.between(clean, end); n > 0 {
			fig.dialsClean += n
			t.Errorf("%d dials while the breaker was open (%s to %s after the fault began) and no earlier call was in flight",
				n, clean.Sub(faultAt).Round(time.Millisecond), end.Sub(faultAt).Round(time.Millisecond))
			explainDials(t, dials, trs, attempts, clean, end, faultAt)
		}
	}
}

// checkTrip checks that the breaker opened by one of its rules, and no
// later than it should have: on ConsecutiveFailures in a row (calls
// already in flight when it tripped may add to the count, at most one per
// other worker), or on the failure ratio.
func checkTrip(t *testing.T, open transition) {
	t.Helper()
	n := open.consecutive()
	switch {
	case strings.Contains(open.reason, "consecutive failures"):
		if n < consecutive || n > consecutive+workers-1 {
			t.Errorf("breaker opened on %d consecutive failures, want %d (up to %d with calls in flight): %s",
				n, consecutive, consecutive+workers-1, open.reason)
		}
	case strings.Contains(open.reason, "failure ratio"):
	default:
		t.Errorf("breaker opened for an unexpected reason %q (counts %v)", open.reason, open.counts)
	}
}

// checkRows compares the table, read through a direct connection, with
// what each Transaction returned, and returns how many commit_unknown
// calls left their row.
func checkRows(t *testing.T, direct *gorm.DB, attempts []attempt) (unknownPresent int) {
	t.Helper()
	var got []struct {
		Attempt int64
		N       int
	}
	if err := direct.Model(&row{}).Select("attempt, COUNT(*) AS n").Group("attempt").Scan(&got).Error; err != nil {
		t.Fatalf("read rows directly: %v", err)
	}
	count := make(map[int64]int, len(got))
	for _, g := range got {
		count[g.Attempt] = g.N
	}
	var missing, extra, dup []int64
	for _, a := range attempts {
		n := count[a.id]
		delete(count, a.id)
		switch {
		case a.err == nil && n == 0:
			missing = append(missing, a.id)
		case a.err == nil && n > 1:
			dup = append(dup, a.id)
		case a.cat == sessionplugin.CategoryCommitUnknown:
			if n > 0 {
				unknownPresent++
			}
			if n > 1 {
				dup = append(dup, a.id)
			}
		case a.err != nil && n > 0:
			extra = append(extra, a.id)
			t.Errorf("call %d returned %s (%v) but its row is there", a.id, a.cat, a.err)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d calls returned nil but their rows are missing: %v", len(missing), head(missing))
	}
	if len(dup) > 0 {
		t.Errorf("%d calls left more than one row: %v", len(dup), head(dup))
	}
	if len(count) > 0 {
		t.Errorf("%d rows for calls no worker made: %v", len(count), head(slices.Sorted(maps.Keys(count))))
	}
	return unknownPresent
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 10)] }

// logFigures prints one scenario's figures.
func logFigures(t *testing.T, f fault, fig figures) {
	t.Helper()
	t.Logf("%s: %s", f.name, f.does)
	t.Logf("attempts %d, commits %d, fast-fails %d (p50 %s, max %s), errors by category %s",
		fig.attempts, fig.commits, fig.fastFails, fig.fastFailP50, fig.fastFailMax, categories(fig.errors))
	t.Logf("commit_unknown %d: rows present %d, absent %d", fig.unknown, fig.unknownPresent, fig.unknown-fig.unknownPresent)
	if fig.opened {
		t.Logf("breaker opened %s after the fault began (%s; counts %s); opened %d times, %d half-open probes",
			fig.timeToOpen.Round(time.Millisecond), fig.openReason, fig.openCounts, fig.opens, fig.probes)
	} else {
		t.Logf("breaker did not open; transitions %d", fig.opens+fig.probes)
	}
	t.Logf("dials while open: %d in all, %d in %s with nothing admitted earlier still in flight",
		fig.dialsOpen, fig.dialsClean, fig.cleanTime.Round(time.Millisecond))
	t.Logf("after the fault: breaker closed in %s, first commit in %s; commits begun and ended during the fault: p50 %s, max %s; longest call %s",
		fig.timeToClose.Round(time.Millisecond), fig.firstCommit.Round(time.Millisecond),
		fig.commitP50.Round(time.Millisecond), fig.commitMax.Round(time.Millisecond), fig.longest.Round(time.Millisecond))
	for _, c := range slices.Sorted(maps.Keys(fig.examples)) {
		t.Logf("  e.g. %s: %s", c, brief(fig.examples[c]))
	}
}

func brief(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// categories formats errors by category, most first.
func categories(m map[sessionplugin.Category]int) string {
	if len(m) == 0 {
		return "none"
	}
	cs := slices.Collect(maps.Keys(m))
	slices.SortFunc(cs, func(a, b sessionplugin.Category) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(string(a), string(b))
	})
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", c, m[c]))
	}
	return strings.Join(parts, ", ")
}

// report collects every scenario's figures for the table.
type report struct{ collected[figures] }

// markdown returns the figures as a markdown table, by database and then
// in the order of the faults table.
func (r *report) markdown() string {
	figs := r.all()
	if len(figs) == 0 {
		return ""
	}
	order := map[string]int{}
	for i, f := range faults {
		order[f.name] = i
	}
	slices.SortFunc(figs, func(a, b figures) int {
		if a.db != b.db {
			return strings.Compare(b.db, a.db) // postgres first
		}
		return order[a.fault] - order[b.fault]
	})
	var b strings.Builder
	b.WriteString("| database | fault | attempts | commits | fast-fails | errors by category | commit_unknown (row present / absent) | time to open | opens / probes | dials while open (with nothing earlier in flight) | closed after recovery | first commit after recovery | longest call |\n")
	b.WriteString("|---|---|---:|---:|---:|---|---|---:|---:|---|---:|---:|---:|\n")
	for _, f := range figs {
		open := "did not open"
		if f.opened {
			open = f.timeToOpen.Round(time.Millisecond).String()
		}
		closed := f.timeToClose.Round(time.Millisecond).String()
		if !f.opened {
			closed = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %d (%d / %d) | %s | %d / %d | %d (%d in %s) | %s | %s | %s |\n",
			f.db, f.fault, f.attempts, f.commits, f.fastFails, categories(f.errors),
			f.unknown, f.unknownPresent, f.unknown-f.unknownPresent, open, f.opens, f.probes,
			f.dialsOpen, f.dialsClean, f.cleanTime.Round(time.Millisecond), closed,
			f.firstCommit.Round(time.Millisecond), f.longest.Round(time.Millisecond))
	}
	return b.String()
}

// explainDials prints what happened around unexpected dials: the samples,
// the breaker's transitions and the calls that were not refused.
func explainDials(t *testing.T, dials *dialSampler, trs []transition, attempts []attempt, from, to, faultAt time.Time) {
	t.Helper()
	rel := func(x time.Time) time.Duration { return x.Sub(faultAt).Round(time.Microsecond) }
	dials.mu.Lock()
	for _, s := range dials.samples {
		if !s.at.Before(from.Add(-time.Second)) && !s.at.After(to.Add(time.Second)) {
			t.Logf("  dials %d at %s", s.dials, rel(s.at))
		}
	}
	dials.mu.Unlock()
	for _, tr := range trs {
		if !tr.at.Before(from.Add(-2*time.Second)) && !tr.at.After(to.Add(time.Second)) {
			t.Logf("  breaker %s at %s: %s", tr.to, rel(tr.at), tr.reason)
		}
	}
	for _, a := range attempts {
		if !a.fastFail && a.end.After(from.Add(-2*time.Second)) && a.start.Before(to.Add(time.Second)) {
			t.Logf("  call %d %s..%s: %v", a.id, rel(a.start), rel(a.end), a.err)
		}
	}
}
