package sessionplugin

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/replyrocket/gormsession/callbacks"
	"github.com/replyrocket/gormsession/internal/scope"
)

// monitor is the background detector: each tick it walks the open scopes
// and reports, once each, scopes open longer than LongRunningThreshold
// (with the stack that opened them, as HikariCP's leak detection does) and
// transactions idle for longer than IdleInTxThreshold, and takes back
// statements whose after-callback will never run (callbacks.Reclaim).
type monitor struct {
	p         *Plugin
	long      time.Duration
	idle      time.Duration
	stop      chan struct{}
	done      sync.WaitGroup
	reported  atomic.Uint64 // long-running scopes ever reported
	leaked    atomic.Uint64
	reclaimed atomic.Uint64 // abandoned statements taken back
	idleNow   atomic.Int64
	lastLongN atomic.Int64
}

func newMonitor(p *Plugin) *monitor {
	return &monitor{p: p, long: p.cfg.LongRunningThreshold, idle: p.cfg.IdleInTxThreshold, stop: make(chan struct{})}
}

// interval: often enough to report within a fraction of the threshold,
// never busier than every 10ms nor lazier than every second.
func (m *monitor) interval() time.Duration {
	d := time.Second
	for _, t := range []time.Duration{m.long, m.idle} {
		if t > 0 && t/4 < d {
			d = t / 4
		}
	}
	return max(d, 10*time.Millisecond)
}

// start runs the monitor; it always runs, as reclaiming abandoned
// statements does not depend on the thresholds.
func (m *monitor) start() {
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(m.interval())
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case now := <-t.C:
				m.scan(now)
			}
		}
	}()
}

// close stops the goroutine and waits for it; safe to call once.
func (m *monitor) close() {
	close(m.stop)
	m.done.Wait()
}

func (m *monitor) scan(now time.Time) {
	var long, idle int64
	for _, s := range m.p.reg.Active() {
		if s.Kind == scope.Statement && m.p.rt.Reclaim(s, now) {
			m.reclaimed.Add(1)
			continue
		}
		age := now.Sub(s.Start)
		if m.long > 0 && age > m.long {
			long++
			if s.MarkLongRunning() {
				m.reported.Add(1)
				m.p.log.Warn("long-running database scope", withCtxFields(s,
					zap.String("operation", s.Op), zap.String("table", s.Table), zap.String("source", s.Source),
					zap.String("caller", s.Caller), zap.Uint64("scope_id", s.ID), zap.Duration("age", age),
					zap.Duration("threshold", m.long), zap.String("stack", s.Stack()))...)
			}
		}
		if m.idle > 0 && s.Kind == scope.Transaction {
			if ok, since, last := s.Idle(); ok && now.Sub(since) > m.idle {
				idle++
				if s.MarkIdle(since) {
					m.p.log.Warn("transaction idle in transaction", withCtxFields(s,
						zap.String("caller", s.Caller), zap.String("last_statement", last), zap.Uint64("scope_id", s.ID),
						zap.String("source", s.Source), zap.Duration("idle", now.Sub(since)), zap.Duration("age", age),
						zap.Duration("threshold", m.idle))...)
				}
			}
		}
	}
	m.lastLongN.Store(long)
	m.idleNow.Store(idle)
}

// withCtxFields returns fields after the log fields of the context s was
// opened under (a route, a request id), in a new slice.
func withCtxFields(s *scope.Scope, fields ...zap.Field) []zap.Field {
	user := callbacks.LogFields(s.Ctx)
	return append(append(make([]zap.Field, 0, len(user)+len(fields)), user...), fields...)
}
