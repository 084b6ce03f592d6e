package sessionplugin_test

import (
	"testing"
	"time"

	"github.com/replyrocket/gormsession/internal/testdb"
)

// waitFor polls cond for up to 5s: for effects that land asynchronously
// (a rows-close goroutine, a server-side cancel), not for timing.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	testdb.WaitFor(t, 5*time.Second, what, cond)
}
