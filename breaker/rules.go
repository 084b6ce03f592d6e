package breaker

import "fmt"

// judge applies the trip rules to w after a call was recorded in it, and
// returns a *tripError when the breaker must open, nil otherwise. cause is
// the call's infrastructure failure, nil for a success.
//
// Closed: ConsecutiveFailures in a row; or, once MinRequests calls
// completed, failures/completed >= FailureRatio or slow/completed >=
// SlowCallRate. The rules are checked after every outcome, so a success
// that brings the window to MinRequests trips it too (as resilience4j does;
// gobreaker alone would wait for the next failure).
//
// Half-open: any failure reopens; once HalfOpenMaxRequests probes
// completed, slow/completed >= SlowCallRate reopens.
//
// A stale window (rolled over or left since the call was admitted) never
// trips: gobreaker ignores the outcome of an old generation anyway.
func (e *engine) judge(w *window, cause error) *tripError {
	if w.state == StateOpen || e.win.Load() != w {
		return nil
	}
	cfg := &e.b.cfg
	done := w.completed()
	if w.state == StateHalfOpen {
		switch {
		case cause != nil:
			return trip(w, fmt.Sprintf("half-open probe failed (%s)", briefErr(cause)))
		case done >= cfg.HalfOpenMaxRequests && e.slowRate(w, done):
			return trip(w, fmt.Sprintf("%d of %d half-open probes slower than %s", w.slow.Load(), done, cfg.SlowCallThreshold))
		}
		return nil
	}
	if n := w.consecutive.Load(); cause != nil && n >= cfg.ConsecutiveFailures {
		return trip(w, fmt.Sprintf("%d consecutive failures (%s)", n, briefErr(cause)))
	}
	if done < cfg.MinRequests {
		return nil
	}
	if f := w.failures.Load(); f > 0 && ratio(f, done) >= cfg.FailureRatio {
		return trip(w, fmt.Sprintf("failure ratio %s (%d of %d) reached %s", percent(ratio(f, done)), f, done, percent(cfg.FailureRatio)))
	}
	if e.slowRate(w, done) {
		s := w.slow.Load()
		return trip(w, fmt.Sprintf("slow-call rate %s (%d of %d slower than %s) reached %s",
			percent(ratio(s, done)), s, done, cfg.SlowCallThreshold, percent(cfg.SlowCallRate)))
	}
	return nil
}

// slowRate reports whether slow calls reached SlowCallRate of done calls.
// It is false while slow-call tripping is off (SlowCallThreshold 0).
func (e *engine) slowRate(w *window, done uint32) bool {
	if e.b.cfg.SlowCallThreshold <= 0 || done == 0 {
		return false
	}
	s := w.slow.Load()
	return s > 0 && ratio(s, done) >= e.b.cfg.SlowCallRate
}

func trip(w *window, reason string) *tripError {
	return &tripError{reason: reason, counts: w.counts()}
}

func ratio(n, of uint32) float64 { return float64(n) / float64(of) }

func percent(r float64) string { return fmt.Sprintf("%.0f%%", r*100) }
