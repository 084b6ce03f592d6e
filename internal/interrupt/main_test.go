package interrupt_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests start query and Stop goroutines, and the drivers start their
// own (pgx closes a broken connection in the background).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
