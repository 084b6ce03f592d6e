package scope

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const shardCount = 64 // power of two; spreads lock traffic across cores

// Registry holds the open scopes. Open and Close lock one shard of 64,
// chosen by scope ID, so concurrent scopes rarely share a lock.
// The zero Registry is ready to use.
type Registry struct {
	nextID atomic.Uint64
	opened atomic.Uint64
	closed atomic.Uint64
	active atomic.Int64
	peak   atomic.Int64
	shards [shardCount]shard
}

type shard struct {
	mu sync.Mutex
	m  map[uint64]*Scope
	_  [64 - 16]byte // 64 bytes a shard: no two shards' locks share a cache line
}

// Open assigns s an ID and records it as open. A nil s is ignored.
func (r *Registry) Open(s *Scope) {
	if s == nil {
		return
	}
	s.ID = r.nextID.Add(1)
	sh := &r.shards[s.ID&(shardCount-1)]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]*Scope)
	}
	sh.m[s.ID] = s
	sh.mu.Unlock()
	r.opened.Add(1)
	n := r.active.Add(1)
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
}

// Close removes s. It reports false if s was not open (nil, never opened,
// or already closed), so a scope is counted closed exactly once.
func (r *Registry) Close(s *Scope) bool {
	if s == nil || s.ID == 0 {
		return false
	}
	sh := &r.shards[s.ID&(shardCount-1)]
	sh.mu.Lock()
	_, ok := sh.m[s.ID]
	delete(sh.m, s.ID)
	sh.mu.Unlock()
	if ok {
		r.closed.Add(1)
		r.active.Add(-1)
	}
	return ok
}

// Counts is a snapshot of the registry's counters.
type Counts struct {
	Opened, Closed uint64
	Active, Peak   int64
}

// Counts returns the counters; they are read without a common lock, so
// Opened-Closed may differ from Active by scopes in flight.
func (r *Registry) Counts() Counts {
	return Counts{Opened: r.opened.Load(), Closed: r.closed.Load(), Active: r.active.Load(), Peak: r.peak.Load()}
}

// Active returns the open scopes, oldest first (by Start, then ID). Each
// shard is locked only while its scopes are copied out; the sort runs on
// the copy, on keys read once, so listing 10,000 scopes takes a few
// milliseconds and never holds up Open or Close for longer than a shard's
// copy.
func (r *Registry) Active() []*Scope {
	base := time.Now()
	entries := make([]activeEntry, 0, max(r.active.Load(), 0))
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for id, s := range sh.m {
			entries = append(entries, activeEntry{at: s.Start.Sub(base), id: id, s: s})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(entries, func(a, b activeEntry) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]*Scope, len(entries))
	for i, e := range entries {
		out[i] = e.s
	}
	return out
}

// activeEntry is a scope with its sort key: Start relative to one clock
// reading (monotonic when both have it, as Time.Before compares them).
type activeEntry struct {
	at time.Duration
	id uint64
	s  *Scope
}

// Each calls fn for every open scope, in no order, holding the lock of the
// scope's shard while it runs: fn must be quick and must not call Open or
// Close. Scopes opened or closed while Each runs may or may not be seen.
func (r *Registry) Each(fn func(*Scope)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, s := range sh.m {
			fn(s)
		}
		sh.mu.Unlock()
	}
}
