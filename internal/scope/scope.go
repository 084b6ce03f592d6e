// Package scope holds the registry of open database scopes: one per
// statement and one per transaction, each with where it was opened.
package scope

import (
	"context"
	"sync/atomic"
	"time"
)

// Kind tells a statement scope from a transaction scope.
type Kind uint8

// Scope kinds.
const (
	Statement Kind = iota
	Transaction
)

// Scope is one tracked unit of database work. Fields set before Open are
// read-only afterwards; the atomics change while it runs.
//
// The fields are ordered for size: a Scope is allocated with every
// statement, so padding is paid per statement (Kind sits at the end, after
// the 4-byte atomics, instead of padding a word of its own).
type Scope struct {
	ID     uint64
	Op     string // query, create, update, delete, row, raw, transaction
	Table  string
	Source string
	Caller string // file:line of the first frame outside GORM and gormsession
	Start  time.Time
	Parent *Scope // the transaction a statement runs in, or nil
	// Ctx is the context the scope was opened under: listings read the
	// caller's log fields (a route, a request id) from it, only when asked.
	Ctx context.Context
	// Owner is what opened the scope (the callbacks' statement state), for
	// the reclaimer of scopes whose closing step never ran.
	Owner any

	// callerRef points at Capture's shared, immutable copy of Caller, so a
	// transaction can record its last statement's caller without copying.
	callerRef *string

	// The Registry's list of open scopes runs through them (registry.go);
	// list is the shard s is open in, nil when it is not.
	list       *shard
	prev, next *Scope

	// Transaction bookkeeping, for the idle-in-transaction signal. The
	// pointers come first: the collector scans a Scope up to its last one.
	lastCaller   atomic.Pointer[string]
	lastStmtEnd  atomic.Int64 // unix nanos
	idleReported atomic.Int64 // the idle period (its start, unix nanos) last reported
	running      atomic.Int32

	flags atomic.Uint32 // flagEnded, ...

	// The opening goroutine's stack from Caller down, symbolized only if
	// the scope is ever reported: return addresses as offsets from
	// textBase, half the bytes of uintptrs (caller.go).
	pcs  [24]int32
	npcs uint8

	Kind Kind
}

// One word for the once-only marks: three atomic.Bools take 12 bytes.
const (
	flagEnded uint32 = 1 << iota
	flagLongReported
	flagExpired
)

// mark sets f and reports whether it was clear.
func (s *Scope) mark(f uint32) bool { return s.flags.Or(f)&f == 0 }

func (s *Scope) marked(f uint32) bool { return s.flags.Load()&f != 0 }

// MarkExpired records that s's own deadline passed while it was idle and
// that this was reported; it returns false if it already was.
func (s *Scope) MarkExpired() bool { return s.mark(flagExpired) }

// Expired reports whether MarkExpired was called.
func (s *Scope) Expired() bool { return s.marked(flagExpired) }

// MarkLongRunning records that the monitor reported s; it returns false if
// it already had.
func (s *Scope) MarkLongRunning() bool { return s.mark(flagLongReported) }

// LongRunningReported reports whether the monitor reported s as long-running.
func (s *Scope) LongRunningReported() bool { return s.marked(flagLongReported) }

// MarkIdle records that the idle period starting at since was reported; it
// returns false if that period already was.
func (s *Scope) MarkIdle(since time.Time) bool {
	ns := since.UnixNano()
	old := s.idleReported.Load()
	return old != ns && s.idleReported.CompareAndSwap(old, ns)
}

// End marks s ended; it returns false if it already was.
func (s *Scope) End() bool { return s.mark(flagEnded) }

// Ended reports whether End was called.
func (s *Scope) Ended() bool { return s.marked(flagEnded) }

// StatementStarted records that the statement stmt started inside the
// transaction s, for Idle's last caller.
func (s *Scope) StatementStarted(stmt *Scope) {
	s.running.Add(1)
	ref := stmt.callerRef
	if ref == nil || *ref != stmt.Caller { // Caller not set by Capture
		c := stmt.Caller
		ref = &c
	}
	s.lastCaller.Store(ref)
}

// Finishing records that the transaction s is committing or rolling back:
// it is never idle again.
func (s *Scope) Finishing() { s.running.Add(1) }

// StatementEnded records that a statement inside the transaction s ended.
func (s *Scope) StatementEnded(now time.Time) {
	s.lastStmtEnd.Store(now.UnixNano())
	s.running.Add(-1)
}

// Idle reports, for a transaction, whether no statement runs now, since when,
// and the caller of the last statement ("" if none ran).
func (s *Scope) Idle() (idle bool, since time.Time, lastCaller string) {
	if s.running.Load() > 0 {
		return false, time.Time{}, ""
	}
	since = s.Start
	if ns := s.lastStmtEnd.Load(); ns != 0 {
		since = time.Unix(0, ns)
	}
	if p := s.lastCaller.Load(); p != nil {
		lastCaller = *p
	}
	return true, since, lastCaller
}
