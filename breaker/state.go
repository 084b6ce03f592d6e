package breaker

import (
	"fmt"

	"github.com/sony/gobreaker/v2"
)

// State is where a Breaker stands. The zero value is StateClosed.
type State uint8

// The states a Breaker reports.
const (
	// StateClosed lets every statement through and counts outcomes.
	StateClosed State = iota
	// StateHalfOpen lets HalfOpenMaxRequests probes through after
	// OpenTimeout; the rest are rejected.
	StateHalfOpen
	// StateOpen rejects every statement until OpenTimeout has passed.
	StateOpen
	// StateForcedOpen rejects every statement because the Breaker's Mode is
	// ModeForcedOpen.
	StateForcedOpen
)

// String returns "closed", "half-open", "open" or "forced-open", and
// "state(N)" for a value outside those.
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	case StateForcedOpen:
		return "forced-open"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText returns String's result, so a State shows by name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// fromGobreaker maps gobreaker's three states to ours.
func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateOpen:
		return StateOpen
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	}
	return StateClosed
}
