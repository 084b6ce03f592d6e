package sessiontest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// FaultProxy must be closed and every database/sql pool too.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
