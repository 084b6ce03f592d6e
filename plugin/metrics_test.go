package sessionplugin_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// families gathers reg, by metric name.
func families(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// series returns the metric of family name whose labels include want, or
// nil.
func series(mfs map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value returns the gauge or counter value of one series; it fails the
// test when there is none.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(mfs, name, labels)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	if g := m.GetGauge(); g != nil {
		return g.GetValue()
	}
	return m.GetCounter().GetValue()
}

func lbl(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestCollectorRealTraffic(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, nil)
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(p.Collector())

		items := []Item{{Name: "a", Price: 1}, {Name: "b", Price: 2}}
		for i := range items {
			if err := db.Create(&items[i]).Error; err != nil {
				t.Fatal(err)
			}
		}
		dup := Item{Name: "a"}
		if err := db.Create(&dup).Error; sessionplugin.Classify(err) != sessionplugin.CategoryUniqueViolation {
			t.Fatalf("duplicate create: %v (%q)", err, sessionplugin.Classify(err))
		}
		var all []Item
		var one Item
		if err := db.Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.First(&one, items[0].ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Model(&Item{}).Where("id = ?", items[1].ID).Update("price", 5).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("UPDATE items SET price = price + 1").Error; err != nil {
			t.Fatal(err)
		}

		mfs := families(t, reg)
		stats := p.Stats()

		if got := value(t, mfs, "gormsession_errors_total", lbl("category", "unique_violation")); got != 1 {
			t.Errorf("errors_total{unique_violation} = %v, want 1 (Stats().Errors = %v)", got, stats.Errors)
		}
		if got, want := value(t, mfs, "gormsession_scopes_opened_total", nil), float64(stats.Opened); got != want || got == 0 {
			t.Errorf("scopes_opened_total = %v, Stats().Opened = %v", got, want)
		}

		// The histogram: one observation per statement, per operation.
		wantOps := map[string]uint64{"create": 3, "query": 2, "update": 1, "raw": 1}
		var histTotal uint64
		for _, d := range stats.Durations {
			m := series(mfs, "gormsession_scope_duration_seconds", lbl("source", d.Source, "operation", d.Operation))
			if m == nil {
				t.Fatalf("no histogram for %s/%s", d.Source, d.Operation)
			}
			h := m.GetHistogram()
			if h.GetSampleCount() != d.Count {
				t.Errorf("%s/%s: histogram count %d, Stats %d", d.Source, d.Operation, h.GetSampleCount(), d.Count)
			}
			if w, ok := wantOps[d.Operation]; ok && h.GetSampleCount() != w {
				t.Errorf("%s/%s: histogram count %d, want %d statements", d.Source, d.Operation, h.GetSampleCount(), w)
			}
			if diff := h.GetSampleSum() - d.Sum.Seconds(); diff > 1e-6 || diff < -1e-6 || h.GetSampleSum() <= 0 {
				t.Errorf("%s/%s: histogram sum %v, Stats %v", d.Source, d.Operation, h.GetSampleSum(), d.Sum)
			}
			var prev uint64
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
					t.Errorf("%s/%s: bucket le=%v count %d not cumulative", d.Source, d.Operation, b.GetUpperBound(), b.GetCumulativeCount())
				}
				prev = b.GetCumulativeCount()
			}
			if n := len(h.GetBucket()); n != 19 {
				t.Errorf("%s/%s: %d buckets, want 19", d.Source, d.Operation, n)
			}
			histTotal += h.GetSampleCount()
		}
		for op := range wantOps {
			if series(mfs, "gormsession_scope_duration_seconds", lbl("source", "primary", "operation", op)) == nil {
				t.Errorf("no histogram for primary/%s", op)
			}
		}
		if histTotal != stats.Closed {
			t.Errorf("histogram counts add up to %d, Stats().Closed = %d", histTotal, stats.Closed)
		}

		// Pool gauges match database/sql.
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatal(err)
		}
		ds := sqlDB.Stats()
		for name, want := range map[string]float64{
			"gormsession_pool_open_connections":            float64(ds.OpenConnections),
			"gormsession_pool_in_use_connections":          float64(ds.InUse),
			"gormsession_pool_idle_connections":            float64(ds.Idle),
			"gormsession_pool_max_open_connections":        15,
			"gormsession_pool_waiting":                     0,
			"gormsession_pool_wait_count_total":            float64(ds.WaitCount),
			"gormsession_pool_max_idle_closed_total":       float64(ds.MaxIdleClosed),
			"gormsession_pool_max_lifetime_closed_total":   float64(ds.MaxLifetimeClosed),
			"gormsession_pool_max_idle_time_closed_total":  float64(ds.MaxIdleTimeClosed),
			"gormsession_pool_wait_duration_seconds_total": ds.WaitDuration.Seconds(),
		} {
			if got := value(t, mfs, name, lbl("source", "primary")); got != want {
				t.Errorf("%s = %v, sqlDB.Stats() gives %v", name, got, want)
			}
		}
		if ds.OpenConnections == 0 {
			t.Errorf("sqlDB.Stats() shows no open connection after traffic: %+v", ds)
		}

		// Breaker: one series per state, 1 for the current one.
		checkBreaker(t, reg, "closed")
		b := p.Breaker("primary")
		b.SetMode(breaker.ModeForcedOpen)
		if err := db.First(&one).Error; !errors.Is(err, sessionplugin.ErrCircuitOpen) {
			t.Fatalf("forced-open breaker let a query through: %v", err)
		}
		checkBreaker(t, reg, b.State().String())
		b.SetMode(breaker.ModeNormal)
		mfs = families(t, reg)
		if got := value(t, mfs, "gormsession_errors_total", lbl("category", "circuit_open")); got != 1 {
			t.Errorf("errors_total{circuit_open} = %v, want 1", got)
		}
		if got, want := value(t, mfs, "gormsession_breaker_transitions_total", lbl("source", "primary")), float64(b.Transitions()); got != want {
			t.Errorf("breaker_transitions_total = %v, Transitions() = %v", got, want)
		}

		// Active scopes: a transaction held open shows, then goes.
		tx := db.Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		mfs = families(t, reg)
		if got := value(t, mfs, "gormsession_scopes_active", lbl("source", "primary", "operation", "transaction")); got != 1 {
			t.Errorf("scopes_active{transaction} with a transaction open = %v, want 1", got)
		}
		if got := value(t, mfs, "gormsession_scopes_active", lbl("source", "primary", "operation", "query")); got != 0 {
			t.Errorf("scopes_active{query} = %v, want 0", got)
		}
		tx.Rollback()
		mfs = families(t, reg)
		if got := value(t, mfs, "gormsession_scopes_active", lbl("source", "primary", "operation", "transaction")); got != 0 {
			t.Errorf("scopes_active{transaction} after Rollback = %v, want 0", got)
		}

		problems, err := testutil.GatherAndLint(reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range problems {
			t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
		}
	})
}

// checkBreaker asserts primary's breaker_state series: four of them, 1 for
// want only.
func checkBreaker(t *testing.T, reg prometheus.Gatherer, want string) {
	t.Helper()
	mfs := families(t, reg)
	if n := len(mfs["gormsession_breaker_state"].GetMetric()); n != 4 {
		t.Errorf("breaker_state has %d series, want 4 (one per state)", n)
	}
	for _, st := range []string{"closed", "half-open", "open", "forced-open"} {
		w := 0.0
		if st == want {
			w = 1
		}
		if got := value(t, mfs, "gormsession_breaker_state", lbl("source", "primary", "state", st)); got != w {
			t.Errorf("breaker_state{state=%q} = %v, want %v", st, got, w)
		}
	}
}

func TestCollectorCompare(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, nil)
	if err := db.Create(&Item{Name: "x"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&Item{Name: "x"}).Error; err == nil {
		t.Fatal("duplicate create succeeded")
	}
	if err := db.First(&Item{}, 999).Error; !errors.Is(err, gorm.ErrRecordNotFound) {
		t.Fatalf("First(999): %v", err)
	}
	want := `
# HELP gormsession_breaker_state Circuit breaker state: 1 for the current state, 0 for the others.
# TYPE gormsession_breaker_state gauge
gormsession_breaker_state{source="primary",state="closed"} 1
gormsession_breaker_state{source="primary",state="forced-open"} 0
gormsession_breaker_state{source="primary",state="half-open"} 0
gormsession_breaker_state{source="primary",state="open"} 0
# HELP gormsession_long_running_scopes Scopes open longer than LongRunningThreshold now.
# TYPE gormsession_long_running_scopes gauge
gormsession_long_running_scopes 0
# HELP gormsession_pool_max_open_connections Maximum number of open connections.
# TYPE gormsession_pool_max_open_connections gauge
gormsession_pool_max_open_connections{source="primary"} 15
`
	if err := testutil.CollectAndCompare(p.Collector(), strings.NewReader(want),
		"gormsession_breaker_state", "gormsession_long_running_scopes", "gormsession_pool_max_open_connections"); err != nil {
		t.Error(err)
	}
	st := p.Stats()
	if st.Errors[sessionplugin.CategoryUniqueViolation] != 1 || st.Errors[sessionplugin.CategoryNotFound] != 1 {
		t.Fatalf("Stats().Errors = %v", st.Errors)
	}
	if n := testutil.CollectAndCount(p.Collector(), "gormsession_errors_total"); n != len(st.Errors) {
		t.Errorf("errors_total has %d series, Stats().Errors %d", n, len(st.Errors))
	}
	if n := testutil.CollectAndCount(p.Collector(), "gormsession_scopes_active"); n != 7 {
		t.Errorf("scopes_active has %d series, want 7 (one per operation of primary)", n)
	}
}

func TestCollectorBeforeInitialize(t *testing.T) {
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	// Eight process-wide series, all zero; nothing per source.
	if n := testutil.CollectAndCount(p.Collector()); n != 8 {
		t.Errorf("before Initialize: %d series, want 8", n)
	}
	if v := testutil.ToFloat64(collectorFor(p, "gormsession_scopes_opened_total")); v != 0 {
		t.Errorf("scopes_opened_total before Initialize = %v", v)
	}
	var nilPlugin *sessionplugin.Plugin
	if n := testutil.CollectAndCount(nilPlugin.Collector()); n != 0 {
		t.Errorf("nil plugin: %d series, want 0", n)
	}
}

// collectorFor wraps p.Collector, keeping only the metric named name, for
// testutil.ToFloat64.
func collectorFor(p *sessionplugin.Plugin, name string) prometheus.Collector {
	return filtered{p.Collector(), name}
}

type filtered struct {
	prometheus.Collector
	name string
}

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.Collector.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

// TestCollectorConcurrentScrape scrapes while statements run, for -race.
func TestCollectorConcurrentScrape(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collector())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				var n int64
				db.Model(&Item{}).Where("price > ?", i+j).Count(&n)
			}
		}()
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := reg.Gather(); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if got := testutil.ToFloat64(collectorFor(p, "gormsession_scopes_opened_total")); got == 0 {
		t.Error("no scope counted during the concurrent scrape")
	}
}
