package breaker

import (
	"context"
	"math/bits"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"
)

// DefaultProbeTimeout bounds one health-check ping of a Policy when
// PolicyConfig.ProbeTimeout is 0.
const DefaultProbeTimeout = 2 * time.Second

// probeGap is the pause between two failing pings of one replica, so that a
// dead replica is not pinged in a tight loop while its breaker fills up.
const probeGap = 50 * time.Millisecond

// PolicyConfig configures NewPolicy. The zero value works: every pool is
// unnamed (so never avoided), there is no primary to fall back to, the
// choice is random and probes time out after DefaultProbeTimeout.
type PolicyConfig struct {
	// Name returns the source name of a pool dbresolver hands the policy (a
	// replica's *sql.DB): the key of its Breaker in the Set. It is called
	// once per pool of each list, the first time the policy sees the list,
	// never concurrently with itself. "" (or a nil Name) means the pool has
	// no Breaker: it is always usable and never probed.
	Name func(gorm.ConnPool) string
	// Primary is where reads go when no replica can take them. It need not
	// be in the list dbresolver passes; a pool in the list that is Primary,
	// or has Primary's non-empty name, is kept out of the rotation and used
	// only as this fallback. nil means no fallback: with every replica
	// open, a replica is returned anyway and its statement fails fast with
	// circuit_open.
	Primary gorm.ConnPool
	// Choose picks among the usable replicas. nil means
	// dbresolver.RandomPolicy{}. It is only ever given a non-empty list.
	Choose dbresolver.Policy
	// ProbeTimeout bounds one health-check ping. 0 means
	// DefaultProbeTimeout; a negative value turns probing off.
	ProbeTimeout time.Duration
}

// Policy is a dbresolver.Policy that keeps reads away from replicas whose
// circuit breaker would refuse them or whose last statement failed, and
// sends them to the primary when no replica is left. Create it with
// NewPolicy and Close it when done. Its methods are safe for concurrent use.
//
// Resolve ranks each replica by its Breaker, read without a lock:
//
//   - usable: closed with no failure since its last success, or not gated
//     (no name, ModeDisabled, ModeMetricsOnly);
//   - suspect: closed, but its last statement failed (one failure is
//     enough: the breaker may need five to open);
//   - due: open past OpenTimeout, or half-open;
//   - down: open, or ModeForcedOpen.
//
// It picks among the usable replicas with Choose; if there are none, the
// primary, unless its own breaker refuses; then the suspect replicas; with
// nothing left, the primary anyway, or a replica when there is no primary
// (the statement then fails fast with circuit_open).
//
// A suspect or due replica gets no user reads but a background health
// check: a ping through its Breaker (Allow, PingContext, done), one at a
// time per Breaker, repeated while it stays suspect or due. A ping that
// succeeds clears the suspicion or closes the half-open breaker; pings that
// fail open it. So a replica that comes back rejoins the rotation without a
// user read being its probe, and one that died is opened by pings rather
// than by user reads. A pool without PingContext cannot be probed: it is
// treated as usable when suspect and as suspect when due, so user reads
// probe it as they would without the policy.
//
// Probes count in the Breaker's window like statements do.
type Policy struct {
	set         *Set
	name        func(gorm.ConnPool) string
	choose      dbresolver.Policy
	primary     gorm.ConnPool
	primaryName string
	primaryB    *Breaker
	timeout     time.Duration // <0: no probes

	ctx    context.Context // canceled by Close: ends probes in flight
	cancel context.CancelFunc

	lists atomic.Pointer[map[*gorm.ConnPool]*replicaList] // copy-on-write
	last  atomic.Pointer[replicaList]                     // the list seen last: most policies see one

	mu      sync.Mutex // guards the fields below and additions to lists
	closed  bool
	probing map[*Breaker]*atomic.Bool
	wg      sync.WaitGroup // probes in flight
}

var _ dbresolver.Policy = (*Policy)(nil)

// NewPolicy returns a Policy that reads the Breakers of set. A nil set
// means no Breakers: the Policy then only keeps the primary out of the
// rotation. See PolicyConfig for the zero values.
func NewPolicy(set *Set, cfg PolicyConfig) *Policy {
	p := &Policy{set: set, name: cfg.Name, choose: cfg.Choose, primary: cfg.Primary, timeout: cfg.ProbeTimeout}
	if p.choose == nil {
		p.choose = dbresolver.RandomPolicy{}
	}
	if p.timeout == 0 {
		p.timeout = DefaultProbeTimeout
	}
	if p.primary != nil && isComparable(p.primary) && p.name != nil {
		p.primaryName = p.name(p.primary)
		if p.primaryName != "" {
			p.primaryB = set.Get(p.primaryName)
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.probing = map[*Breaker]*atomic.Bool{}
	p.lists.Store(&map[*gorm.ConnPool]*replicaList{})
	return p
}

// Close stops the health checks: it cancels the pings in flight (they
// count for nothing) and waits for them to return. Resolve keeps working
// after it, without probes. Close is idempotent and returns nil; a nil
// *Policy is fine.
func (p *Policy) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	return nil
}

// health is where a replica stands for routing.
type health uint8

const (
	usable  health = iota // closed with no failure since its last success, or not gated
	suspect               // closed, but its last statement failed
	due                   // open past OpenTimeout, or half-open: a probe may go
	down                  // open, or forced open
)

// health reads b's standing without a lock: no gobreaker call, which would
// take the lock every statement of the source shares. now is read once,
// and only when needed.
func (b *Breaker) health(now *time.Time) health {
	if b == nil {
		return usable
	}
	switch Mode(b.mode.Load()) {
	case ModeDisabled, ModeMetricsOnly:
		return usable // it never refuses, so neither do we
	case ModeForcedOpen:
		return down
	}
	w := b.eng.Load().win.Load()
	switch w.state {
	case StateClosed:
		if w.consecutive.Load() == 0 {
			return usable
		}
		return suspect
	case StateOpen:
		if now.IsZero() {
			*now = time.Now()
		}
		if now.Before(w.retryAt) {
			return down
		}
	}
	return due
}

type pinger interface {
	PingContext(ctx context.Context) error
}

// member is one replica of a list.
type member struct {
	pool    gorm.ConnPool
	b       *Breaker     // nil: not gated
	ping    pinger       // nil: cannot be probed
	probing *atomic.Bool // shared by every list holding b
}

// replicaList is what the policy knows about one list dbresolver passes:
// dbresolver hands the same slice on every call, so it is keyed by the
// slice's array and checked element by element.
type replicaList struct {
	pools    []gorm.ConnPool // a copy of the list, for the check
	members  []member        // the replicas: pools without the primary
	rotation []gorm.ConnPool // the members' pools
	primary  gorm.ConnPool   // the primary in the list, else Policy.primary
	primaryB *Breaker
	subsets  atomic.Pointer[map[uint64][]gorm.ConnPool] // by member mask; copy-on-write
}

// Limits on what is cached, so that a caller passing a new slice on every
// call cannot grow the policy without bound.
const (
	maxLists   = 64
	maxSubsets = 64
	maxMasked  = 64 // members a uint64 mask can hold
)

// Resolve returns the pool a read should use; see Policy. It returns nil
// only for an empty list with no Primary (dbresolver never passes an
// empty list). A nil *Policy picks at random.
func (p *Policy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	if p == nil {
		if len(pools) == 0 {
			return nil
		}
		return dbresolver.RandomPolicy{}.Resolve(pools)
	}
	if len(pools) == 0 {
		return p.primary
	}
	l := p.list(pools)
	if l == nil {
		return p.choose.Resolve(pools) // pools we cannot compare: no routing
	}
	if len(l.members) > maxMasked {
		return p.resolveSlow(l)
	}
	var ok, weak uint64
	var now time.Time
	for i := range l.members {
		m := &l.members[i]
		switch p.rank(m, &now) {
		case usable:
			ok |= 1 << i
		case suspect:
			weak |= 1 << i
		}
	}
	all := uint64(1)<<len(l.members) - 1 // len 64 wraps to all ones
	switch {
	case ok == all && ok != 0:
		return p.pick(l.rotation)
	case ok != 0:
		return p.pick(l.subset(ok))
	case l.primary != nil && l.primaryB.health(&now) <= suspect:
		return l.primary
	case weak != 0:
		return p.pick(l.subset(weak))
	case l.primary != nil:
		return l.primary // everything refuses: fail fast on the primary
	}
	return p.pick(l.rotation)
}

// rank returns m's standing, starting its health check when it needs one.
func (p *Policy) rank(m *member, now *time.Time) health {
	h := m.b.health(now)
	switch {
	case h == usable || h == down:
		return h
	case m.ping == nil || p.timeout < 0:
		// Nothing to probe with: let user reads probe, as without us.
		if h == suspect {
			return usable
		}
		return suspect
	}
	p.probe(m)
	return h
}

func (p *Policy) pick(pools []gorm.ConnPool) gorm.ConnPool {
	if len(pools) == 1 {
		return pools[0]
	}
	return p.choose.Resolve(pools)
}

// resolveSlow is Resolve for lists too long for a mask: same ranking,
// allocating its candidate lists.
func (p *Policy) resolveSlow(l *replicaList) gorm.ConnPool {
	var ok, weak []gorm.ConnPool
	var now time.Time
	for i := range l.members {
		m := &l.members[i]
		switch p.rank(m, &now) {
		case usable:
			ok = append(ok, m.pool)
		case suspect:
			weak = append(weak, m.pool)
		}
	}
	switch {
	case len(ok) > 0:
		return p.pick(ok)
	case l.primary != nil && l.primaryB.health(&now) <= suspect:
		return l.primary
	case len(weak) > 0:
		return p.pick(weak)
	case l.primary != nil:
		return l.primary
	}
	return p.pick(l.rotation)
}

// subset returns the members' pools selected by mask, cached.
func (l *replicaList) subset(mask uint64) []gorm.ConnPool {
	cur := l.subsets.Load()
	if cur != nil {
		if s, ok := (*cur)[mask]; ok {
			return s
		}
	}
	s := make([]gorm.ConnPool, 0, bits.OnesCount64(mask))
	for i := range l.members {
		if mask&(1<<i) != 0 {
			s = append(s, l.members[i].pool)
		}
	}
	for {
		if cur != nil && len(*cur) >= maxSubsets {
			return s
		}
		next := make(map[uint64][]gorm.ConnPool, 1)
		if cur != nil {
			for k, v := range *cur {
				next[k] = v
			}
		}
		next[mask] = s
		if l.subsets.CompareAndSwap(cur, &next) {
			return s
		}
		cur = l.subsets.Load()
	}
}

// list returns what the policy knows of pools, learning it on first sight.
// It returns nil when a pool's type is not comparable.
func (p *Policy) list(pools []gorm.ConnPool) *replicaList {
	if l := p.last.Load(); l != nil && l.same(pools) {
		return l
	}
	l, ok := (*p.lists.Load())[unsafe.SliceData(pools)]
	if !ok || !l.same(pools) {
		if l = p.learn(pools); l == nil {
			return nil
		}
	}
	p.last.Store(l)
	return l
}

// same reports whether pools holds the pools l was learnt from, in order.
func (l *replicaList) same(pools []gorm.ConnPool) bool {
	if len(pools) != len(l.pools) {
		return false
	}
	for i := range pools {
		if pools[i] != l.pools[i] {
			return false
		}
	}
	return true
}

func isComparable(v any) bool { return reflect.TypeOf(v).Comparable() }

// learn builds the replicaList of pools and caches it. Name is called here,
// under p.mu, so never concurrently with itself.
func (p *Policy) learn(pools []gorm.ConnPool) *replicaList {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := unsafe.SliceData(pools)
	cur := *p.lists.Load()
	if l, ok := cur[key]; ok && l.same(pools) {
		return l
	}
	for _, pool := range pools {
		if pool == nil || !isComparable(pool) {
			return nil // == would panic, or there is nothing to route to
		}
	}
	l := &replicaList{pools: append([]gorm.ConnPool(nil), pools...), primary: p.primary, primaryB: p.primaryB}
	for _, pool := range pools {
		var name string
		if p.name != nil {
			name = p.name(pool)
		}
		if pool == p.primary || (name != "" && name == p.primaryName) {
			l.primary, l.primaryB = pool, nil
			if name != "" {
				l.primaryB = p.set.Get(name)
			}
			continue
		}
		m := member{pool: pool}
		if name != "" {
			m.b = p.set.Get(name)
		}
		if m.b != nil {
			m.ping, _ = pool.(pinger)
			if m.probing = p.probing[m.b]; m.probing == nil {
				m.probing = new(atomic.Bool)
				p.probing[m.b] = m.probing
			}
		}
		l.members = append(l.members, m)
		l.rotation = append(l.rotation, pool)
	}
	if len(cur) < maxLists {
		next := make(map[*gorm.ConnPool]*replicaList, len(cur)+1)
		for k, v := range cur {
			next[k] = v
		}
		next[key] = l
		p.lists.Store(&next)
	}
	return l
}

// probe starts m's health check unless one is running or the policy is
// closed.
func (p *Policy) probe(m *member) {
	if !m.probing.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		m.probing.Store(false)
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.runProbe(m)
}

// runProbe pings m through its Breaker while it stays suspect or due, and
// for no more rounds than it takes to open or close the Breaker.
func (p *Policy) runProbe(m *member) {
	defer p.wg.Done()
	defer m.probing.Store(false)
	b := m.b
	cfg := b.Config()
	rounds := int(cfg.ConsecutiveFailures) + int(cfg.HalfOpenMaxRequests)
	for range rounds {
		var now time.Time
		if h := b.health(&now); h == usable || h == down {
			return
		}
		done, err := b.Allow()
		if err != nil {
			return // another probe holds the half-open slots, or the fleet does
		}
		ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
		start := time.Now()
		err = m.ping.PingContext(ctx)
		cancel()
		if err != nil && p.ctx.Err() != nil {
			done(Excluded(err), time.Since(start)) // Close cut it: not the replica's fault
			return
		}
		done(err, time.Since(start))
		if err != nil {
			t := time.NewTimer(probeGap)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
		}
	}
}
