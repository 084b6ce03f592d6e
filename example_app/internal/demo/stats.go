package demo

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap/zapcore"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

const warnLevel = zapcore.WarnLevel

var stepStats = step{
	title: "The Stats snapshot",
	intro: "p.Stats() is a snapshot of everything above for the main handle, safe to call under load: scopes, " +
		"errors by category, duration percentiles, breakers and pools. /metrics exports the same through " +
		"p.Collector() and /debug/db shows it as a page (p.Handler()).",
	run: func(e *env) {
		s := e.st.Plugin.Stats()
		e.say("scopes: opened %d, closed %d, active %d, peak %d; long-running reported %d; leaked %d",
			s.Opened, s.Closed, s.Active, s.Peak, s.LongRunningTotal, s.Leaked)
		for _, c := range slices.Sorted(maps.Keys(s.Errors)) {
			e.say("errors[%s] = %d", c, s.Errors[c])
		}
		for _, d := range s.Durations {
			e.say("%s %-11s n=%-3d p50=%-8s p95=%-8s p99=%s", d.Source, d.Operation, d.Count, ms(d.P50), ms(d.P95), ms(d.P99))
		}
		for _, b := range s.Breakers {
			e.say("breaker %s: %s (mode %s), %d transitions", b.Source, b.State, b.Mode, b.Transitions)
		}
		for _, p := range s.Pools {
			e.say("pool %s: %d open (%d in use, %d idle) of max %d, %d waits", p.Source, p.OpenConnections, p.InUse, p.Idle,
				p.MaxOpenConnections, p.WaitCount)
		}
		e.check(s.Active == 0, "%d scopes still open", s.Active)
		e.check(s.Opened == s.Closed, "opened %d != closed %d", s.Opened, s.Closed)
		e.check(s.Errors[sessionplugin.CategoryUniqueViolation] >= 1, "no unique_violation counted")
		e.check(s.Errors[sessionplugin.CategoryTimeout] >= 1, "no timeout counted")
		e.check(s.LongRunningTotal >= 1, "no long-running scope counted")
	},
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// loggedAtLeast reports whether this step logged anything at lvl or above.
func (e *env) loggedAtLeast(lvl zapcore.Level) bool {
	e.seen = append(e.seen, e.logs.TakeAll()...)
	for _, le := range e.seen {
		if le.Level >= lvl {
			return true
		}
	}
	return false
}
