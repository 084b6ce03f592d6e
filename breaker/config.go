// Package breaker wraps sony/gobreaker/v2 for databases: which errors count,
// one breaker per source, slow-call tripping, and manual control.
package breaker

import "time"

// Config sets up every source's breaker. Zero values of numeric fields mean
// the default named on each field (DefaultConfig returns them filled in).
type Config struct {
	// Disabled turns the breaker off: statements are never rejected and
	// nothing is counted.
	Disabled bool
	// ConsecutiveFailures opens the breaker after this many infrastructure
	// failures in a row. Default 5.
	ConsecutiveFailures uint32
	// FailureRatio opens the breaker when failures/requests reaches it in the
	// current Interval, once MinRequests were seen. Default 0.5.
	FailureRatio float64
	// MinRequests is the number of requests in an Interval before
	// FailureRatio and SlowCallRate apply. Default 20.
	MinRequests uint32
	// Interval is the closed-state window after which counts are cleared.
	// Default 60s.
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before it lets
	// HalfOpenMaxRequests probes through. Default 30s.
	OpenTimeout time.Duration
	// HalfOpenMaxRequests is the number of probes allowed while half-open.
	// Default 1.
	HalfOpenMaxRequests uint32
	// SlowCallThreshold marks a successful call slower than it as slow. 0
	// turns slow-call tripping off (the default).
	SlowCallThreshold time.Duration
	// SlowCallRate opens the breaker when slow calls / requests reaches it in
	// the current Interval, once MinRequests were seen. Default 1.0 (all
	// calls slow) when SlowCallThreshold is set.
	SlowCallRate float64
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		ConsecutiveFailures: 5,
		FailureRatio:        0.5,
		MinRequests:         20,
		Interval:            60 * time.Second,
		OpenTimeout:         30 * time.Second,
		HalfOpenMaxRequests: 1,
		SlowCallRate:        1.0,
	}
}
