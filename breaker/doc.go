// Package breaker wraps sony/gobreaker/v2 for databases: which errors count,
// one breaker per source, slow-call tripping, and manual control.
//
// A Breaker guards one source ("primary", "replica-1"). The plugin's GORM
// callbacks call Allow before a statement and the returned done func after
// it:
//
//	done, err := b.Allow()
//	if err != nil { // wraps errclass.ErrCircuitOpen; the statement is not sent
//		return err
//	}
//	err = run()
//	done(err, elapsed) // exactly once, also on panic paths
//
// # What counts
//
// done maps the statement's error to an outcome:
//
//   - nil, or any error with which the database answered (duplicate key, not
//     found, syntax, deadlock...): success.
//   - errclass.Classify(err).Infrastructure() (connection, timeout,
//     pool_exhausted): failure.
//   - the caller's own cancel (category canceled), a circuit_open error, or
//     an error wrapped with Excluded (the caller's own deadline): excluded,
//     neither success nor failure.
//
// # Trip rules
//
// In the closed state the breaker opens when, within the current Interval,
// ConsecutiveFailures failures happened in a row, or at least MinRequests
// calls completed and failures/completed >= FailureRatio, or (when
// SlowCallThreshold > 0) slow/completed >= SlowCallRate. After OpenTimeout it
// turns half-open and admits HalfOpenMaxRequests probes; when they all succeed
// it closes, and any failure reopens it.
//
// # Design: counting beside gobreaker
//
// gobreaker's Counts cannot hold slow calls, its ReadyToTrip only runs on a
// failure, and its closed-state interval is cleared lazily and silently, so a
// slow-call counter kept beside it could never be aligned with its window.
// So the Breaker keeps its own window: a small struct of atomic counters that
// is replaced (never cleared) when the state changes (in gobreaker's
// OnStateChange, under its lock) and when a closed window's Interval ends
// (lock-free compare-and-swap on the next Allow). Each call records its
// outcome into the window it was admitted in, so late outcomes of an old
// window never leak into a new one, exactly like gobreaker's generations.
//
// The trip decision is made in done from that window (lock-free loads), and
// gobreaker stays the state machine: open timeout, half-open admission and
// closing. done reports to gobreaker one of four outcomes: nil (success), a
// failure that does not trip, a *tripError (a failure that trips, carrying
// the reason and the counts at that moment) or an exclusion. IsSuccessful and
// IsExcluded recognise them, and ReadyToTrip returns true only for a
// *tripError; all three run under gobreaker's lock within one afterRequest,
// so the hand-over is exact. gobreaker's own Interval is off: the window
// above replaces it. A slow call is a success to gobreaker unless it is the
// one that makes the slow-call rate reach SlowCallRate; then it is reported
// as the tripping failure. In half-open state a probe slower than the
// threshold counts the same way over HalfOpenMaxRequests probes.
//
// # State changes
//
// OnStateChange runs under gobreaker's lock, so the Breaker only queues the
// change there (with the counts of the window that just ended, which
// gobreaker has already cleared from its own Counts). The queue is delivered
// right after the gobreaker call returns, outside every lock: one zap line
// (warn on open, info otherwise) and the optional WithOnStateChange hook,
// which may call back into the Breaker.
package breaker
