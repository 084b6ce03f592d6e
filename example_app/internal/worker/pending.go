package worker

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/replyrocket/gormsession/example_app/internal/store"
)

// outcome is what to record for one email.
type outcome struct {
	status  string    // store.StatusSent, StatusQueued (retry) or StatusFailed
	at      time.Time // sent at, or next attempt at
	reason  string
	release bool // back to the queue, attempt undone (never sent)
}

func (o outcome) name() string {
	switch {
	case o.release:
		return "released"
	case o.status == store.StatusSent:
		return "sent"
	case o.status == store.StatusQueued:
		return "retry"
	}
	return "failed"
}

// pending holds outcomes that could not be recorded yet, shared by the
// loops.
type pending struct {
	flushing sync.Mutex // held by the loop recording them
	mu       sync.Mutex
	m        map[uint64]outcome
	claims   map[string]bool // tokens of claims whose COMMIT outcome is unknown
}

func (p *pending) addClaim(token string) {
	p.mu.Lock()
	p.claims[token] = true
	p.mu.Unlock()
}

func (p *pending) removeClaim(token string) {
	p.mu.Lock()
	delete(p.claims, token)
	p.mu.Unlock()
}

func (p *pending) claimTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.claims))
}

func (p *pending) add(id uint64, o outcome) {
	p.mu.Lock()
	p.m[id] = o
	p.mu.Unlock()
}

func (p *pending) remove(id uint64) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

func (p *pending) snapshot() map[uint64]outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.m)
}

func (p *pending) ids() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.m))
}
