package sessionplugin

import (
	"database/sql"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/breaker"
)

// Stats is a snapshot of the plugin's counters.
type Stats struct {
	Opened uint64 // scopes (statements and transactions) opened
	Closed uint64 // scopes closed
	Active int64  // scopes open now
	Peak   int64  // most scopes open at once
	// LongRunning is the number of scopes open longer than
	// LongRunningThreshold now; LongRunningTotal counts every scope ever
	// reported as long-running.
	LongRunning      int64
	LongRunningTotal uint64
	// IdleInTx is the number of transactions idle (no statement running)
	// for longer than IdleInTxThreshold now.
	IdleInTx int64
	// Leaked counts transactions garbage-collected without Commit or
	// Rollback.
	Leaked uint64
	// Reclaimed counts statements taken back because their GORM
	// after-callback never ran (a callback or hook panicked and the panic
	// was recovered above GORM); see the README's Limits.
	Reclaimed uint64
	// Errors counts failed scopes by category.
	Errors map[Category]uint64
	// Durations has one entry per source and operation seen, sorted.
	Durations []OpDurations
	// Breakers is the state of each source's breaker, by source name.
	Breakers []breaker.Status
	// Pools is each source's database/sql pool state.
	Pools []PoolStats
}

// OpDurations is the duration distribution of one operation ("query",
// "create", "update", "delete", "row", "raw", "transaction") on one source.
// Percentiles are estimated within fixed buckets (50µs to 60s, 1-2-5).
type OpDurations struct {
	Source, Operation string
	Count             uint64
	Sum               time.Duration
	P50, P95, P99     time.Duration
}

// PoolStats is one source's pool: database/sql's counters plus how many
// callers wait for a connection now.
type PoolStats struct {
	Source string
	// Waiting counts the callers waiting for a connection now. On
	// PostgreSQL and SQLite a caller is counted once it blocks (for a busy
	// pool, a dial, or pgx's check of a connection idle for over a second),
	// not when it finds a connection ready; on other drivers every caller
	// is, while it asks the pool.
	Waiting int64
	sql.DBStats
}

// Stats returns a snapshot. Safe to call concurrently with traffic; before
// Initialize it returns zero counts.
func (p *Plugin) Stats() Stats {
	c := p.reg.Counts()
	s := Stats{Opened: c.Opened, Closed: c.Closed, Active: c.Active, Peak: c.Peak, Errors: p.errs.snapshot()}
	if !p.ready.Load() {
		return s
	}
	if p.breakers != nil {
		s.Breakers = p.breakers.Snapshot()
	}
	if m := p.mon; m != nil {
		s.LongRunning, s.LongRunningTotal = m.lastLongN.Load(), m.reported.Load()
		s.IdleInTx, s.Leaked, s.Reclaimed = m.idleNow.Load(), m.leaked.Load(), m.reclaimed.Load()
	}
	if p.rt != nil {
		for _, src := range p.rt.Sources() {
			s.Pools = append(s.Pools, PoolStats{Source: src.Name, Waiting: src.Waiting(), DBStats: src.DB.Stats()})
			d := src.Durations()
			for _, op := range slices.Sorted(maps.Keys(d)) {
				h := d[op]
				s.Durations = append(s.Durations, OpDurations{Source: src.Name, Operation: op, Count: h.Count, Sum: h.Sum,
					P50: h.Quantile(0.5), P95: h.Quantile(0.95), P99: h.Quantile(0.99)})
			}
		}
	}
	return s
}

// errorCounts counts errors by category without a lock on the hot path:
// one atomic counter per category, created once.
type errorCounts struct {
	m sync.Map // Category -> *atomic.Uint64
}

func (e *errorCounts) add(c Category) {
	v, ok := e.m.Load(c)
	if !ok {
		v, _ = e.m.LoadOrStore(c, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (e *errorCounts) snapshot() map[Category]uint64 {
	out := map[Category]uint64{}
	e.m.Range(func(k, v any) bool {
		out[k.(Category)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}
