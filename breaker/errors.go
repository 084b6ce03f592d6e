package breaker

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// OpenError is the error Allow returns when it refuses a statement. It
// wraps errclass.ErrCircuitOpen: test with errors.Is, and read the fields
// with errors.As.
type OpenError struct {
	// Source is the Breaker's name.
	Source string
	// State is StateOpen, StateHalfOpen (all probes in flight) or
	// StateForcedOpen.
	State State
	// Reason says why: the rule that tripped and the last failure.
	Reason string
	// RetryIn is how long until the breaker lets a probe through; 0 means
	// now (half-open) or unknown (forced open).
	RetryIn time.Duration
}

// Error reads like `breaker "primary" open: 5 consecutive failures
// (dial tcp ...: connection refused), retry in 12s`.
func (e *OpenError) Error() string {
	if e.State == StateForcedOpen {
		return fmt.Sprintf("breaker %q forced-open: %s, retry after its mode is set back to normal", e.Source, e.Reason)
	}
	return fmt.Sprintf("breaker %q %s: %s, %s", e.Source, e.State, e.Reason, retryText(e.RetryIn))
}

// Unwrap returns errclass.ErrCircuitOpen.
func (e *OpenError) Unwrap() error { return errclass.ErrCircuitOpen }

func retryText(d time.Duration) string {
	switch {
	case d <= 0:
		return "retry now"
	case d < time.Second:
		return "retry in " + max(d.Round(time.Millisecond), time.Millisecond).String()
	}
	return "retry in " + d.Round(time.Second).String()
}

// Excluded wraps err so that done counts it neither as success nor as
// failure. The plugin applies it when the caller's own context expired: the
// caller gave up, the database did not fail. errors.Is and errors.As see
// through it, and Error returns err's text. Excluded(nil) is nil.
func Excluded(err error) error {
	if err == nil {
		return nil
	}
	return &excludedError{err}
}

type excludedError struct{ err error }

func (e *excludedError) Error() string { return e.err.Error() }
func (e *excludedError) Unwrap() error { return e.err }

// markedExcluded reports whether Excluded wrapped err or anything in it. It
// walks the tree itself: errors.As would allocate on every failed statement.
func markedExcluded(err error) bool {
	budget := 100
	var walk func(error) bool
	walk = func(e error) bool {
		for e != nil && budget > 0 {
			budget--
			switch u := e.(type) {
			case *excludedError:
				return true
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			case interface{ Unwrap() []error }:
				for _, inner := range u.Unwrap() {
					if walk(inner) {
						return true
					}
				}
				return false
			default:
				return false
			}
		}
		return false
	}
	return walk(err)
}

// The outcomes done reports to gobreaker besides nil (success) and
// *tripError.
var (
	errFailure = errors.New("breaker: infrastructure failure")
	errExclude = errors.New("breaker: excluded")
)

// tripError is the failure that makes the breaker open. gobreaker's
// ReadyToTrip sees it (through IsSuccessful, under the same lock hold) and
// OnStateChange logs its reason and counts: gobreaker has cleared its own
// Counts by then.
type tripError struct {
	reason string
	counts Counts
	origin string // the fleet instance that opened it (OpenedElsewhere); "" for our own
}

func (e *tripError) Error() string { return e.reason }

// briefErr returns err's text cut to a length fit for a log field and an
// error message.
func briefErr(err error) string {
	const limit = 200
	s := err.Error()
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
