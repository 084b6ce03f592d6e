package callbacks

import (
	"testing"

	"go.uber.org/goleak"
)

// The drivers the tests open start goroutines of their own.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
