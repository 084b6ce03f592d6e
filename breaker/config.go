package breaker

import (
	"errors"
	"fmt"
	"math"
	"time"
)

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

// Validate reports every problem in c at once, joined with errors.Join, each
// naming the field and its value. Zero numeric fields are valid: they mean
// their defaults. It returns nil when c is usable as it is.
//
// New and NewSet never fail: they treat a value Validate rejects as its
// default. Call Validate to surface the mistake instead.
func (c Config) Validate() error {
	var errs []error
	ratio := func(name string, v float64) {
		if math.IsNaN(v) || v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("breaker: %s %v: must be in (0,1], or 0 for the default", name, v))
		}
	}
	ratio("FailureRatio", c.FailureRatio)
	ratio("SlowCallRate", c.SlowCallRate)
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Interval", c.Interval},
		{"OpenTimeout", c.OpenTimeout},
		{"SlowCallThreshold", c.SlowCallThreshold},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("breaker: %s %v: must not be negative (0 means the default)", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero or invalid value replaced by its
// default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = d.ConsecutiveFailures
	}
	if !(c.FailureRatio > 0 && c.FailureRatio <= 1) {
		c.FailureRatio = d.FailureRatio
	}
	if c.MinRequests == 0 {
		c.MinRequests = d.MinRequests
	}
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = d.OpenTimeout
	}
	if c.HalfOpenMaxRequests == 0 {
		c.HalfOpenMaxRequests = d.HalfOpenMaxRequests
	}
	if c.SlowCallThreshold < 0 {
		c.SlowCallThreshold = 0
	}
	if !(c.SlowCallRate > 0 && c.SlowCallRate <= 1) {
		c.SlowCallRate = d.SlowCallRate
	}
	return c
}
