package sessionplugin

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks"
	"github.com/replyrocket/gormsession/internal/hist"
)

// scopeOperations are the values of the "operation" label and of
// ScopeInfo.Operation.
var scopeOperations = []string{"query", "create", "update", "delete", "row", "raw", "transaction"}

// breakerStates are the values of gormsession_breaker_state's "state" label.
var breakerStates = []breaker.State{breaker.StateClosed, breaker.StateHalfOpen, breaker.StateOpen, breaker.StateForcedOpen}

// Collector returns a prometheus.Collector exporting the plugin's Stats,
// for the caller to register on a registry of its choice:
//
//	reg.MustRegister(p.Collector())
//
// It never touches the global registry. Everything is read from Stats,
// ActiveScopes and the duration histograms when the registry is scraped,
// so it costs nothing on the statement path. Each call returns a new
// collector; register one per registry. Before Initialize it exports the
// scope counters (all zero) and nothing per source. The metrics, all
// prefixed gormsession_, are:
//
//	scopes_active{source,operation}          gauge: scopes open now
//	scopes_opened_total, scopes_closed_total counters
//	scopes_peak                              gauge: most scopes open at once
//	scope_duration_seconds{source,operation} histogram of ended scopes
//	errors_total{category}                   counter of failed scopes
//	long_running_scopes                      gauge: open past LongRunningThreshold now
//	long_running_total                       counter: scopes ever reported long-running
//	idle_in_transaction                      gauge: transactions idle past IdleInTxThreshold now
//	leaked_total                             counter: transactions garbage-collected while open
//	breaker_state{source,state}              gauge: 1 for the current state, 0 for the others
//	breaker_transitions_total{source}        counter of breaker state changes
//	pool_open_connections{source}, pool_in_use_connections, pool_idle_connections,
//	pool_max_open_connections, pool_waiting  gauges (waiting: callers waiting for a connection now)
//	pool_wait_count_total{source}, pool_wait_duration_seconds_total,
//	pool_max_idle_closed_total, pool_max_lifetime_closed_total,
//	pool_max_idle_time_closed_total          counters from database/sql's DBStats
//
// A nil *Plugin gives a collector that exports nothing.
func (p *Plugin) Collector() prometheus.Collector { return &collector{p: p} }

type collector struct{ p *Plugin }

func metricDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("gormsession_"+name, help, labels, nil)
}

var (
	lblSource, lblSourceOp = []string{"source"}, []string{"source", "operation"}

	dScopesActive  = metricDesc("scopes_active", "Scopes (statements and transactions) open now.", lblSourceOp...)
	dScopesOpened  = metricDesc("scopes_opened_total", "Scopes opened.")
	dScopesClosed  = metricDesc("scopes_closed_total", "Scopes closed.")
	dScopesPeak    = metricDesc("scopes_peak", "Most scopes open at once.")
	dDuration      = metricDesc("scope_duration_seconds", "Duration of ended scopes.", lblSourceOp...)
	dErrors        = metricDesc("errors_total", "Failed scopes by error category.", "category")
	dLongRunning   = metricDesc("long_running_scopes", "Scopes open longer than LongRunningThreshold now.")
	dLongRunningT  = metricDesc("long_running_total", "Scopes ever reported as long-running.")
	dIdleInTx      = metricDesc("idle_in_transaction", "Transactions idle longer than IdleInTxThreshold now.")
	dLeaked        = metricDesc("leaked_total", "Transactions garbage-collected without Commit or Rollback.")
	dReclaimed     = metricDesc("reclaimed_total", "Statements taken back because their GORM after-callback never ran.")
	dBreakerState  = metricDesc("breaker_state", "Circuit breaker state: 1 for the current state, 0 for the others.", "source", "state")
	dBreakerTrans  = metricDesc("breaker_transitions_total", "Circuit breaker state changes.", lblSource...)
	dPoolOpen      = metricDesc("pool_open_connections", "Established connections, in use and idle.", lblSource...)
	dPoolInUse     = metricDesc("pool_in_use_connections", "Connections in use.", lblSource...)
	dPoolIdle      = metricDesc("pool_idle_connections", "Idle connections.", lblSource...)
	dPoolMaxOpen   = metricDesc("pool_max_open_connections", "Maximum number of open connections.", lblSource...)
	dPoolWaiting   = metricDesc("pool_waiting", "Callers waiting for a connection now.", lblSource...)
	dPoolWaitCount = metricDesc("pool_wait_count_total", "Connections waited for.", lblSource...)
	dPoolWaitDur   = metricDesc("pool_wait_duration_seconds_total", "Time spent waiting for a connection.", lblSource...)
	dPoolMaxIdle   = metricDesc("pool_max_idle_closed_total", "Connections closed because of MaxIdleConns.", lblSource...)
	dPoolMaxLife   = metricDesc("pool_max_lifetime_closed_total", "Connections closed because of ConnMaxLifetime.", lblSource...)
	dPoolMaxIdleT  = metricDesc("pool_max_idle_time_closed_total", "Connections closed because of ConnMaxIdleTime.", lblSource...)

	metricDescs = []*prometheus.Desc{dScopesActive, dScopesOpened, dScopesClosed, dScopesPeak, dDuration, dErrors,
		dLongRunning, dLongRunningT, dIdleInTx, dLeaked, dReclaimed, dBreakerState, dBreakerTrans, dPoolOpen, dPoolInUse,
		dPoolIdle, dPoolMaxOpen, dPoolWaiting, dPoolWaitCount, dPoolWaitDur, dPoolMaxIdle, dPoolMaxLife, dPoolMaxIdleT}
)

// Describe sends the static descriptions of every metric.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDescs {
		ch <- d
	}
}

// Collect reads the plugin's state and sends it as constant metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	p := c.p
	if p == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	s := p.Stats()
	counter(dScopesOpened, float64(s.Opened))
	counter(dScopesClosed, float64(s.Closed))
	gauge(dScopesPeak, float64(s.Peak))
	gauge(dLongRunning, float64(s.LongRunning))
	counter(dLongRunningT, float64(s.LongRunningTotal))
	gauge(dIdleInTx, float64(s.IdleInTx))
	counter(dLeaked, float64(s.Leaked))
	counter(dReclaimed, float64(s.Reclaimed))
	for cat, n := range s.Errors {
		counter(dErrors, float64(n), string(cat))
	}

	// Active scopes: every operation of every known source, zeros included,
	// so the series do not come and go with traffic.
	type key struct{ src, op string }
	active := map[key]int{}
	for _, ps := range s.Pools {
		for _, op := range scopeOperations {
			active[key{ps.Source, op}] = 0
		}
	}
	for _, si := range p.ActiveScopes() {
		active[key{si.Source, si.Operation}]++
	}
	for k, n := range active {
		gauge(dScopesActive, float64(n), k.src, k.op)
	}

	for _, b := range s.Breakers {
		for _, st := range breakerStates {
			v := 0.0
			if b.State == st {
				v = 1
			}
			gauge(dBreakerState, v, b.Source, st.String())
		}
		counter(dBreakerTrans, float64(b.Transitions), b.Source)
	}

	for _, ps := range s.Pools {
		d := ps.DBStats
		gauge(dPoolOpen, float64(d.OpenConnections), ps.Source)
		gauge(dPoolInUse, float64(d.InUse), ps.Source)
		gauge(dPoolIdle, float64(d.Idle), ps.Source)
		gauge(dPoolMaxOpen, float64(d.MaxOpenConnections), ps.Source)
		gauge(dPoolWaiting, float64(ps.Waiting), ps.Source)
		counter(dPoolWaitCount, float64(d.WaitCount), ps.Source)
		counter(dPoolWaitDur, d.WaitDuration.Seconds(), ps.Source)
		counter(dPoolMaxIdle, float64(d.MaxIdleClosed), ps.Source)
		counter(dPoolMaxLife, float64(d.MaxLifetimeClosed), ps.Source)
		counter(dPoolMaxIdleT, float64(d.MaxIdleTimeClosed), ps.Source)
	}

	for _, source := range p.sources() {
		for op, h := range source.Durations() {
			ch <- constHistogram(h, source.Name, op)
		}
	}
}

// sources returns the runtime's sources, or nil before Initialize.
func (p *Plugin) sources() []*callbacks.Source {
	p.mu.Lock()
	rt := p.rt
	p.mu.Unlock()
	if rt == nil {
		return nil
	}
	return rt.Sources()
}

// constHistogram turns a hist.Snapshot (per-bucket counts) into
// Prometheus's cumulative buckets, in seconds.
func constHistogram(h hist.Snapshot, source, op string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(hist.Bounds))
	var cum uint64
	for i, b := range hist.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(dDuration, h.Count, h.Sum.Seconds(), buckets, source, op)
}
