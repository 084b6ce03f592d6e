package breaker

import "fmt"

// Mode is the manual control of one Breaker, set with SetMode. The zero
// value is ModeNormal.
type Mode uint8

// The modes a Breaker can be put in.
const (
	// ModeNormal counts outcomes, trips and rejects as configured.
	ModeNormal Mode = iota
	// ModeForcedOpen rejects every statement with an error wrapping
	// errclass.ErrCircuitOpen, whatever the counts say.
	ModeForcedOpen
	// ModeDisabled never rejects, never counts and never trips: Allow
	// returns a no-op done.
	ModeDisabled
	// ModeMetricsOnly counts, and moves through the states (logging and
	// reporting each change it would make) but never rejects: statements
	// the breaker would refuse are let through and counted as Rejected.
	ModeMetricsOnly
)

// String returns "normal", "forced-open", "disabled" or "metrics-only", and
// "mode(N)" for a value outside those.
func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeForcedOpen:
		return "forced-open"
	case ModeDisabled:
		return "disabled"
	case ModeMetricsOnly:
		return "metrics-only"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// MarshalText returns String's result, so a Mode shows by name in JSON.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// ParseMode returns the Mode named s, as String spells it. It returns an
// error naming s for any other string.
func ParseMode(s string) (Mode, error) {
	for m := ModeNormal; m <= ModeMetricsOnly; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return ModeNormal, fmt.Errorf("breaker: unknown mode %q (want normal, forced-open, disabled or metrics-only)", s)
}

func (m Mode) valid() bool { return m <= ModeMetricsOnly }
