// Package clock reads the time for the per-statement hot path at half the
// cost of time.Now.
//
// time.Now reads two clocks (wall and monotonic: two vDSO calls on Linux);
// time.Since on a time that has a monotonic reading reads one. Now is a
// base time plus time.Since(base): one read, and a time.Time with both
// readings, as time.Now gives. Its wall reading can drift from the system's
// by what the system clock was stepped or slewed since the base was taken,
// so the base is renewed every rebase.
package clock

import (
	"sync/atomic"
	"time"
)

// rebase bounds how long a base is used: NTP slews at most 500ppm, so
// the wall reading is never more than 30ms off, unless the clock is
// stepped, and then for at most this long.
const rebase = time.Minute

var base atomic.Pointer[time.Time]

func init() { renew() }

func renew() time.Time {
	t := time.Now()
	base.Store(&t)
	return t
}

// Now returns the current time, as time.Now does, from one clock read.
// Its monotonic reading is exact; its wall reading may lag a step of the
// system clock by up to a minute.
func Now() time.Time {
	b := base.Load()
	d := time.Since(*b)
	if d >= rebase || d < 0 {
		return renew()
	}
	return b.Add(d)
}
