package clock

import (
	"testing"
	"time"
)

// Now must agree with time.Now: monotonically (it is the same clock) and
// on the wall, up to the slew since its base.
func TestNowAgreesWithTimeNow(t *testing.T) {
	for range 1000 {
		before := time.Now()
		got := Now()
		after := time.Now()
		if got.Before(before) || got.After(after) {
			t.Fatalf("Now() = %v, not within [%v, %v] on the monotonic clock", got, before, after)
		}
		// Round(0) drops the monotonic reading: compare the wall clocks.
		if d := got.Round(0).Sub(before.Round(0)); d < -30*time.Millisecond || d > 30*time.Millisecond+after.Sub(before) {
			t.Fatalf("Now()'s wall reading is %v from time.Now's", d)
		}
	}
}

// A base older than rebase is renewed, and the time returned is still now.
func TestNowRenewsStaleBase(t *testing.T) {
	stale := time.Now().Add(-2 * rebase)
	base.Store(&stale)
	before := time.Now()
	got := Now()
	if b := base.Load(); b == &stale || b.Before(before) {
		t.Fatalf("base not renewed: %v", *b)
	}
	if got.Before(before) {
		t.Fatalf("Now() = %v, before %v", got, before)
	}
}

func BenchmarkNow(b *testing.B) {
	b.Run("clock.Now", func(b *testing.B) {
		for b.Loop() {
			_ = Now()
		}
	})
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
}
