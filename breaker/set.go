package breaker

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Set holds one Breaker per source, created on first use with the Set's
// Config, logger and options. Get is lock-free once a source exists. A nil
// *Set returns nil Breakers, which let everything through.
type Set struct {
	cfg    Config
	logger *zap.Logger
	opts   []Option

	mu sync.Mutex                          // serialises additions
	m  atomic.Pointer[map[string]*Breaker] // copy-on-write; never mutated once stored
}

// NewSet returns an empty Set. cfg's zero and invalid values mean their
// defaults (see Config.Validate); with cfg.Disabled every Breaker starts in
// ModeDisabled, so Allow always passes with a no-op done. A nil logger
// means zap.NewNop().
func NewSet(cfg Config, logger *zap.Logger, opts ...Option) *Set {
	if logger == nil {
		logger = zap.NewNop()
	}
	s := &Set{cfg: cfg, logger: logger, opts: opts}
	s.m.Store(&map[string]*Breaker{})
	return s
}

// Get returns the Breaker of source, creating it if needed. Concurrent
// first calls for one source all get the same Breaker. It returns nil only
// for a nil Set.
func (s *Set) Get(source string) *Breaker {
	if s == nil {
		return nil
	}
	if b, ok := (*s.m.Load())[source]; ok {
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	if b, ok := old[source]; ok {
		return b
	}
	b := New(source, s.cfg, s.logger, s.opts...)
	next := make(map[string]*Breaker, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[source] = b
	s.m.Store(&next)
	return b
}

// All returns every Breaker created so far, sorted by source name.
func (s *Set) All() []*Breaker {
	if s == nil {
		return nil
	}
	m := *s.m.Load()
	all := make([]*Breaker, 0, len(m))
	for _, b := range m {
		all = append(all, b)
	}
	slices.SortFunc(all, func(a, b *Breaker) int { return strings.Compare(a.name, b.name) })
	return all
}

// Snapshot returns the Status of every Breaker, sorted by source name.
func (s *Set) Snapshot() []Status {
	all := s.All()
	st := make([]Status, len(all))
	for i, b := range all {
		st[i] = b.Status()
	}
	return st
}
