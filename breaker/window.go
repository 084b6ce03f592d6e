package breaker

import (
	"sync/atomic"
	"time"
)

// window holds the counts of one gobreaker generation, or of one Interval
// of the closed state. It is replaced, never cleared: a call records into
// the window it was admitted in. The fields above the counters never change.
type window struct {
	state   State     // StateClosed, StateHalfOpen or StateOpen
	expiry  time.Time // closed: when this window ends
	retryAt time.Time // open: when the breaker turns half-open
	reason  string    // open: why it opened

	requests    atomic.Uint32
	successes   atomic.Uint32
	failures    atomic.Uint32
	excluded    atomic.Uint32
	consecutive atomic.Uint32
	slow        atomic.Uint32
	rejected    atomic.Uint32
}

// counts reads the counters one by one: concurrent calls may land between
// two loads.
func (w *window) counts() Counts {
	return Counts{
		Requests:            w.requests.Load(),
		Successes:           w.successes.Load(),
		Failures:            w.failures.Load(),
		Excluded:            w.excluded.Load(),
		ConsecutiveFailures: w.consecutive.Load(),
		Slow:                w.slow.Load(),
		Rejected:            w.rejected.Load(),
	}
}

// completed is the number of calls that count towards the ratios.
func (w *window) completed() uint32 { return w.successes.Load() + w.failures.Load() }

type atomicWindow = atomic.Pointer[window]
