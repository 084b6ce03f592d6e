package sessionplugin_test

import (
	"testing"
	"time"
)

// waitFor polls cond for up to 5s: for effects that land asynchronously
// (a rows-close goroutine, a server-side cancel), not for timing.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
