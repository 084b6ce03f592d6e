// Package hist is a fixed-bucket, lock-free latency histogram: cheap to
// observe on the hot path, exported as-is to Prometheus, and good enough
// for p50/p95/p99 by interpolation inside a bucket.
package hist

import (
	"sync/atomic"
	"time"
)

// Bounds are the buckets' upper bounds (a 1-2-5 series, 50µs to 60s); a
// last, implicit bucket holds everything slower.
var Bounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
	20 * time.Second, 60 * time.Second,
}

// Histogram counts durations. The zero value is ready; safe for concurrent
// use without locks.
type Histogram struct {
	buckets [len(Bounds) + 1]atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

// Observe records d (negative counts as 0).
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := 0
	for i < len(Bounds) && d > Bounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot is a histogram's state at one moment.
type Snapshot struct {
	Counts [len(Bounds) + 1]uint64 // per bucket, not cumulative
	Count  uint64
	Sum    time.Duration
}

// Snapshot reads the counters (each atomically; together, nearly).
func (h *Histogram) Snapshot() Snapshot {
	var s Snapshot
	for i := range h.buckets {
		s.Counts[i] = h.buckets[i].Load()
		s.Count += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// Quantile estimates the q-th quantile (0 < q <= 1) by linear
// interpolation inside its bucket; 0 when empty. Past the last bound it
// returns the last bound.
func (s Snapshot) Quantile(q float64) time.Duration {
	if s.Count == 0 {
		return 0
	}
	rank := q * float64(s.Count)
	var seen float64
	for i, c := range s.Counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(Bounds) {
				return Bounds[len(Bounds)-1]
			}
			lo := time.Duration(0)
			if i > 0 {
				lo = Bounds[i-1]
			}
			frac := (rank - seen) / float64(c)
			return lo + time.Duration(frac*float64(Bounds[i]-lo))
		}
		seen += float64(c)
	}
	return Bounds[len(Bounds)-1]
}
