package sessionplugin

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
)

// ReplicaOption configures Plugin.ReplicaPolicy.
type ReplicaOption func(*breaker.PolicyConfig)

// ReplicaChoose sets the policy that picks among the usable replicas, for
// example dbresolver.StrictRoundRobinPolicy(). nil means
// dbresolver.RandomPolicy{}.
func ReplicaChoose(pol dbresolver.Policy) ReplicaOption {
	return func(c *breaker.PolicyConfig) { c.Choose = pol }
}

// ReplicaProbeTimeout bounds each health-check ping of a replica. 0 means
// breaker.DefaultProbeTimeout (2s); a negative d turns the health checks
// off, and user reads probe suspect or half-open replicas instead.
func ReplicaProbeTimeout(d time.Duration) ReplicaOption {
	return func(c *breaker.PolicyConfig) { c.ProbeTimeout = d }
}

// ReplicaPolicy is the dbresolver.Policy Plugin.ReplicaPolicy returns: a
// breaker.Policy over the plugin's breakers, which it builds once the plugin
// is initialized. Until then it picks like its Choose policy. Safe for
// concurrent use.
type ReplicaPolicy struct {
	p     *Plugin
	cfg   breaker.PolicyConfig
	inner atomic.Pointer[breaker.Policy]

	mu     sync.Mutex // guards building inner, and closed
	closed bool
}

var _ dbresolver.Policy = (*ReplicaPolicy)(nil)

// ReplicaPolicy returns a dbresolver.Policy that keeps reads off replicas
// whose circuit breaker is open or whose last statement failed, health-
// checks them in the background until they are back, and sends reads to
// the primary when no replica is left (see breaker.Policy). Give it to
// dbresolver.Config.Policy and install dbresolver before the plugin: the
// policy may be made before db.Use of the plugin, and builds itself on its
// first read after it. nil options are ignored.
//
// dbresolver calls a policy only for a list of two pools or more: with one
// replica, list the primary too (postgres.New(postgres.Config{Conn:
// sqlDB}), where sqlDB is db.DB()'s): the policy keeps it out of the
// rotation and uses it only as the fallback.
//
// It names each replica it meets that has no name yet replica-1,
// replica-2, ... (the lowest numbers no source has), in list order, before
// its first statement: names given with NameSource beforehand are kept.
//
// Close it (ReplicaPolicy.Close) when closing the database, or close the
// plugin, which closes every policy it made: that stops the health checks. A nil *Plugin gives a policy that only picks with
// ReplicaChoose's policy.
func (p *Plugin) ReplicaPolicy(opts ...ReplicaOption) *ReplicaPolicy {
	r := &ReplicaPolicy{p: p}
	for _, o := range opts {
		if o != nil {
			o(&r.cfg)
		}
	}
	if r.cfg.Choose == nil {
		r.cfg.Choose = dbresolver.RandomPolicy{}
	}
	if p != nil {
		p.mu.Lock()
		p.policies = append(p.policies, r)
		p.mu.Unlock()
	}
	return r
}

// Resolve returns the pool for one statement; dbresolver calls it. Before
// the plugin is initialized, or after Close, it picks with Choose alone.
// It returns nil only for an empty list, which dbresolver never passes.
func (r *ReplicaPolicy) Resolve(pools []gorm.ConnPool) gorm.ConnPool {
	if bp := r.inner.Load(); bp != nil {
		return bp.Resolve(pools)
	}
	if bp := r.build(); bp != nil {
		return bp.Resolve(pools)
	}
	if len(pools) == 0 {
		return nil
	}
	return r.cfg.Choose.Resolve(pools)
}

// build makes the breaker.Policy once the plugin is ready; nil before.
func (r *ReplicaPolicy) build() *breaker.Policy {
	if r.p == nil || !r.p.ready.Load() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if bp := r.inner.Load(); bp != nil || r.closed {
		return bp
	}
	cfg := r.cfg
	cfg.Name = r.sourceName
	if prim := r.p.rt.Primary(); prim != nil {
		cfg.Primary = prim.DB
	}
	bp := breaker.NewPolicy(r.p.breakers, cfg)
	r.inner.Store(bp)
	return bp
}

// Close stops the policy's health checks and waits for the pings in flight
// to return. The policy keeps routing after it. It is idempotent, safe
// before the plugin is initialized, and returns nil.
func (r *ReplicaPolicy) Close() error {
	r.mu.Lock()
	r.closed = true
	bp := r.inner.Load()
	r.mu.Unlock()
	return bp.Close()
}

// naming serialises the search for a free replica-N name across policies.
var naming sync.Mutex

// sourceName returns the plugin's name for pool, naming it replica-N if
// the plugin has not met it yet: the callbacks name a pool on its first
// statement, and without dbresolver's mark (gorm's Scan drops it) they
// would call it pool-N.
func (r *ReplicaPolicy) sourceName(pool gorm.ConnPool) string {
	db := sqlDBOf(pool)
	if db == nil {
		return ""
	}
	naming.Lock()
	defer naming.Unlock()
	taken := map[string]bool{}
	for _, s := range r.p.rt.Sources() {
		if s.DB == db {
			return s.Name
		}
		taken[s.Name] = true
	}
	for n := 1; ; n++ {
		if name := "replica-" + strconv.Itoa(n); !taken[name] {
			return r.p.rt.AddSource(db, name, false).Name
		}
	}
}

// sqlDBOf returns the *sql.DB behind a pool dbresolver holds, or nil.
func sqlDBOf(pool gorm.ConnPool) *sql.DB {
	for range 4 { // unwrap a few layers, never loop
		switch c := pool.(type) {
		case *sql.DB:
			return c
		case *gorm.PreparedStmtDB:
			pool = c.ConnPool
		case gorm.GetDBConnector:
			db, err := c.GetDBConn()
			if err != nil {
				return nil
			}
			return db
		default:
			return nil
		}
	}
	return nil
}

// Read runs fn, which must only read, with db.WithContext(ctx). When fn
// fails with category connection, timeout, pool_exhausted or circuit_open,
// not from the primary itself (an *OpenError or *TimeoutError naming the
// primary), and ctx has not ended, Read runs fn once more on the primary
// (dbresolver.Write, so every statement of fn goes there) and returns that
// run's error. A ReplicaPolicy keeps reads off a failing replica, but it
// chooses before a statement runs: the reads already sent to a replica
// when it dies, and the first ones to find out, fail. Read is what makes
// them succeed.
//
// fn may run twice, so it must be safe to repeat: reset what it fills.
// There is no second run without dbresolver, inside a transaction (db is a
// tx), or for any other category (a missing row, read_only, the caller's
// own cancel or deadline). A nil ctx means the context db already carries
// (its WithTimeout or WithLogFields settings included; a non-nil ctx
// replaces them, as db.WithContext does). A nil db or fn, or a *gorm.DB not
// made by gorm.Open, is an error naming it, and fn does not run.
func Read(ctx context.Context, db *gorm.DB, fn func(db *gorm.DB) error) error {
	if db == nil {
		return errors.New("sessionplugin: Read: nil *gorm.DB")
	}
	if db.Config == nil || db.Statement == nil {
		return errors.New("sessionplugin: Read: *gorm.DB not opened with gorm.Open")
	}
	if fn == nil {
		return errors.New("sessionplugin: Read: nil fn")
	}
	if ctx == nil {
		ctx = ctxOf(db)
	}
	err := fn(db.WithContext(ctx))
	if err == nil || !failover(ctx, db, err) {
		return err
	}
	// Session: each chain fn starts gets its own statement, with the
	// Write setting cloned into it.
	return fn(db.WithContext(ctx).Clauses(dbresolver.Write).Session(&gorm.Session{}))
}

// failover reports whether a read that failed with err should run again on
// the primary.
func failover(ctx context.Context, db *gorm.DB, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if _, ok := db.Config.Plugins["gorm:db_resolver"]; !ok {
		return false
	}
	if _, ok := db.Statement.ConnPool.(gorm.TxCommitter); ok {
		return false
	}
	switch Classify(err) {
	case CategoryConnection, CategoryTimeout, CategoryPoolExhausted, CategoryCircuitOpen:
	default:
		return false
	}
	primary := "primary"
	if p, ok := FromDB(db); ok && p.ready.Load() {
		if s := p.rt.Primary(); s != nil {
			primary = s.Name
		}
	}
	var oe *breaker.OpenError
	if errors.As(err, &oe) && oe.Source == primary {
		return false
	}
	var te *TimeoutError
	if errors.As(err, &te) && te.Source == primary {
		return false
	}
	return true
}
