package scope

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const shardCount = 64 // power of two; spreads lock traffic across cores

// Registry holds the open scopes. Open and Close lock one shard of 64,
// chosen by scope ID, so concurrent scopes rarely share a lock.
// The zero Registry is ready to use.
type Registry struct {
	// The counters every Open and Close updates share one cache line, so
	// each touches one shared line besides its shard's.
	nextID atomic.Uint64
	active atomic.Int64
	peak   atomic.Int64
	_      [64 - 24]byte // keeps shard 0's lock off that line
	shards [shardCount]shard
}

// shard is a list of open scopes, linked through the scopes themselves:
// Open and Close allocate nothing and hash nothing. Its counters live here,
// under its lock, rather than in contended atomics.
type shard struct {
	shardState
	_ [64 - unsafe.Sizeof(shardState{})]byte // no two shards' locks share a cache line
}

type shardState struct {
	mu     sync.Mutex
	head   *Scope    // newest first; Active sorts
	reg    *Registry // for reopening a scope that is still open
	opened uint64
	closed uint64
}

// Open assigns s an ID and records it as open. A nil s is ignored.
func (r *Registry) Open(s *Scope) {
	if s == nil {
		return
	}
	if s.list != nil {
		reopen(s)
	}
	id := r.nextID.Add(1)
	s.ID = id
	sh := &r.shards[id&(shardCount-1)]
	sh.mu.Lock()
	if sh.reg == nil {
		sh.reg = r
	}
	s.list, s.prev, s.next = sh, nil, sh.head
	if sh.head != nil {
		sh.head.prev = s
	}
	sh.head = s
	sh.opened++
	sh.mu.Unlock()
	if n := r.active.Add(1); n > r.peak.Load() {
		r.raisePeak(n)
	}
}

func (r *Registry) raisePeak(n int64) {
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// reopen closes s, opened again while still open, where it is: a scope
// can be in one list only, and the counts stay whole. Never inlined: it
// is a caller's bug, kept out of Open's hot path.
//
//go:noinline
func reopen(s *Scope) {
	sh := s.list
	sh.mu.Lock()
	ok := sh.remove(s)
	sh.mu.Unlock()
	if ok {
		sh.reg.active.Add(-1)
	}
}

// Close removes s. It reports false if s was not open (nil, never opened,
// already closed, or opened in another Registry), so a scope is counted
// closed exactly once.
func (r *Registry) Close(s *Scope) bool {
	if s == nil || s.ID == 0 {
		return false
	}
	sh := &r.shards[s.ID&(shardCount-1)]
	sh.mu.Lock()
	ok := sh.remove(s)
	sh.mu.Unlock()
	if ok {
		r.active.Add(-1)
	}
	return ok
}

// remove unlinks s if it is in sh's list; sh.mu is held. s.list tells
// membership (in this shard of this Registry, under the ID s has now); the
// links are checked too, so that a copy of an open Scope (go vet reports
// those) fails here instead of corrupting the list.
func (sh *shard) remove(s *Scope) bool {
	if s.list != sh {
		return false
	}
	if s.prev == nil {
		if sh.head != s {
			return false
		}
		sh.head = s.next
	} else {
		if s.prev.next != s {
			return false
		}
		s.prev.next = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	// A closed scope must not keep its former neighbours reachable.
	s.list, s.prev, s.next = nil, nil, nil
	sh.closed++
	return true
}

// Counts is a snapshot of the registry's counters.
type Counts struct {
	Opened, Closed uint64
	Active, Peak   int64
}

// Counts returns the counters. Opened and Closed are summed shard by shard
// and Active read apart, with no common lock, so Opened-Closed may differ
// from Active by scopes in flight.
func (r *Registry) Counts() Counts {
	c := Counts{Active: r.active.Load(), Peak: r.peak.Load()}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		c.Opened += sh.opened
		c.Closed += sh.closed
		sh.mu.Unlock()
	}
	return c
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
		for s := sh.head; s != nil; s = s.next {
			entries = append(entries, activeEntry{at: s.Start.Sub(base), id: s.ID, s: s})
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
		for s := sh.head; s != nil; s = s.next {
			fn(s)
		}
		sh.mu.Unlock()
	}
}
