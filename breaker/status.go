package breaker

import "time"

// Status is a snapshot of one Breaker.
type Status struct {
	// Source is the Breaker's name.
	Source string
	// State is what State returned.
	State State
	// Mode is the manual control in force.
	Mode Mode
	// Counts are the current window's counts.
	Counts Counts
	// Since is when the Breaker entered State (or was created).
	Since time.Time
	// Reason says why it opened; "" unless State is StateOpen.
	Reason string
	// RetryIn is how long until an open breaker lets a probe through; 0
	// unless State is StateOpen.
	RetryIn time.Duration
	// Transitions is the number of state changes so far.
	Transitions uint64
}
