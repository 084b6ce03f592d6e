package redisshare

import (
	"sync/atomic"
	"time"

	"github.com/replyrocket/gormsession/breaker"
)

// link is one Breaker's membership: breaker.SharedLink. Its methods run on
// statements' paths, so they only touch atomics and the Fleet's short
// mutex, and leave every Redis call to the worker.
type link struct {
	f        *Fleet
	b        *breaker.Breaker
	source   string
	id       string // unique per link: tells our own pushes from a sibling's
	keyOpen  string
	keyProbe string
	lease    time.Duration

	probeUntil atomic.Int64  // UnixNano: this link holds the probe token until then
	nextAsk    atomic.Int64  // UnixNano: no token request before then
	wanted     atomic.Bool   // a token request is queued or in flight
	pushes     atomic.Uint64 // pushes applied: a read begun before one is stale
}

// report is a transition waiting for the worker.
type report struct {
	l *link
	t breaker.Transition
}

// Report queues an opening or a closing for the worker to publish. It never
// blocks: past maxPending queued reports the oldest is dropped.
func (l *link) Report(t breaker.Transition) {
	if t.From == breaker.StateHalfOpen {
		l.probeUntil.Store(0) // the probe is over, whatever it said
	}
	if t.To != breaker.StateOpen && t.To != breaker.StateClosed {
		return
	}
	f := l.f
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	if len(f.pending) >= maxPending {
		f.pending = f.pending[1:]
	}
	f.pending = append(f.pending, report{l: l, t: t})
	f.mu.Unlock()
	f.wake()
}

// ProbeAllowed is true while this link holds the probe token, and while
// Redis is unreachable or the Fleet closed (each breaker on its own).
// Otherwise it asks the worker to request the token, at most one request
// in flight and none before nextAsk, and returns false.
func (l *link) ProbeAllowed() bool {
	f := l.f
	if f.down.Load() || f.stopped.Load() {
		return true
	}
	now := time.Now().UnixNano()
	if now < l.probeUntil.Load() {
		return true
	}
	if now >= l.nextAsk.Load() && l.wanted.CompareAndSwap(false, true) {
		f.wake()
	}
	return false
}
