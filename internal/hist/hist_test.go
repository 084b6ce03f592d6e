package hist

import (
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	var h Histogram
	if got := h.Snapshot().Quantile(0.5); got != 0 {
		t.Fatalf("empty p50 = %v", got)
	}
	for i := 0; i < 90; i++ {
		h.Observe(3 * time.Millisecond) // bucket (2ms, 5ms]
	}
	for i := 0; i < 10; i++ {
		h.Observe(700 * time.Millisecond) // bucket (500ms, 1s]
	}
	s := h.Snapshot()
	if s.Count != 100 || s.Sum != 90*3*time.Millisecond+10*700*time.Millisecond {
		t.Fatalf("count %d sum %v", s.Count, s.Sum)
	}
	cases := []struct {
		q      float64
		lo, hi time.Duration
	}{
		{0.5, 2 * time.Millisecond, 5 * time.Millisecond},
		{0.95, 500 * time.Millisecond, time.Second},
		{0.99, 500 * time.Millisecond, time.Second},
	}
	for _, c := range cases {
		if got := s.Quantile(c.q); got < c.lo || got > c.hi {
			t.Errorf("q%.2f = %v, want in [%v, %v]", c.q, got, c.lo, c.hi)
		}
	}
	h.Observe(time.Hour)
	if got := h.Snapshot().Quantile(1); got != Bounds[len(Bounds)-1] {
		t.Errorf("max beyond last bound = %v", got)
	}
}
