// Package sessionplugin is gormsession's public API: a GORM plugin that
// makes every statement and transaction a tracked scope with a deadline,
// puts every failure in a Category and logs it once with zap, gates each
// source with a circuit breaker, sets the pool up safely, and offers a
// Transaction helper that commits on success and rolls back on error or
// panic.
//
//	cfg := sessionplugin.DefaultConfig()
//	cfg.Logger = zapLogger
//	if err := db.Use(sessionplugin.New(cfg)); err != nil { ... }
package sessionplugin

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks"
	"github.com/replyrocket/gormsession/internal/scope"
)

// PluginName is the name the plugin registers under in gorm.Config.Plugins.
const PluginName = "gormsession"

// reclaimAfter is callbacks.Options.ReclaimAfter; tests shorten it.
var reclaimAfter = callbacks.DefaultReclaimAfter

// leakCheckAfter is callbacks.Options.LeakCheckAfter; tests change it.
var leakCheckAfter = callbacks.DefaultLeakCheckAfter

// Plugin is the installed session plugin. Create it with New and install
// it with db.Use. Its methods are safe for concurrent use.
type Plugin struct {
	cfg      Config
	log      *zap.Logger
	reg      scope.Registry
	breakers *breaker.Set
	rt       *callbacks.Runtime
	errs     errorCounts
	mon      *monitor

	mu       sync.Mutex
	db       *gorm.DB
	policies []*ReplicaPolicy // closed by Close
	closed   atomic.Bool
	// ready is stored last in Initialize: a reader that sees it true sees
	// breakers, rt and mon set (the atomic orders them), so Stats, Breaker
	// and the collector are safe to call before and during Initialize.
	ready atomic.Bool
}

var _ gorm.Plugin = (*Plugin)(nil)

// New returns a plugin for cfg. It does not validate cfg: db.Use(New(cfg))
// returns cfg.Validate()'s error and installs nothing when cfg is invalid.
// A nil cfg.Logger means zap.NewNop().
func New(cfg Config) *Plugin {
	p := &Plugin{cfg: cfg, log: zap.NewNop()}
	if cfg.Logger != nil {
		// Our lines carry the user's caller and, where useful, the stack
		// that opened the scope; zap's own caller and stacktrace would point
		// into gormsession and clash with the "caller" field.
		p.log = cfg.Logger.WithOptions(zap.WithCaller(false),
			zap.AddStacktrace(zap.LevelEnablerFunc(func(zapcore.Level) bool { return false })))
	}
	return p
}

// Name returns PluginName.
func (p *Plugin) Name() string { return PluginName }

// Initialize is called by db.Use. It validates the config, registers the
// callbacks, applies the pool settings to every underlying *sql.DB
// (dbresolver's sources and replicas too) and wraps the connection pool so
// transactions are tracked.
//
// On any error nothing is installed and db is left as it was: its callback
// chains, ConnPool and pool settings unchanged. The errors: an invalid
// Config (every bad field named, see Config.Validate), a nil or unopened
// *gorm.DB, a ConnPool that is not a *sql.DB, a callback chain GORM cannot
// order with the plugin's callbacks in it, a plugin already initialized (one
// plugin per *gorm.DB: db.Use of the same plugin on a second db fails; the
// internal *gorm.DBs dbresolver opens with a copy of db's config, when it
// is installed after the plugin, get nil and nothing installed), and
// a closed plugin. db.Use of a second plugin on the same db never gets here:
// GORM returns gorm.ErrRegistered.
func (p *Plugin) Initialize(db *gorm.DB) error {
	if db == nil {
		return errors.New("sessionplugin: Initialize: nil *gorm.DB")
	}
	if db.Config == nil || db.Callback() == nil || db.Statement == nil {
		return errors.New("sessionplugin: Initialize: *gorm.DB not opened with gorm.Open")
	}
	if err := p.cfg.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return errors.New("sessionplugin: plugin is closed; create a new one with New")
	}
	if p.db != nil {
		if sameMap(db.Config.Plugins, p.db.Config.Plugins) {
			// A *gorm.DB sharing p's config: dbresolver, installed after
			// the plugin, opens each source with a copy of the config,
			// which initializes its plugins again. Statements run through
			// the main db's callbacks; nothing to install here.
			return nil
		}
		return errors.New("sessionplugin: plugin already initialized; create one plugin per *gorm.DB with New")
	}
	sqlDB, prepared, err := underlying(db.ConnPool)
	if err != nil {
		return err
	}
	p.breakers = breaker.NewSet(p.cfg.Breaker, p.log, breaker.WithShared(p.cfg.SharedBreaker))
	p.mon = newMonitor(p)
	p.rt = callbacks.NewRuntime(p.runtimeOptions())
	// Registering is the last step that can fail: do it before any pool
	// is touched, and undo it on failure.
	if err := p.rt.Register(db); err != nil {
		return fmt.Errorf("sessionplugin: %w (nothing installed)", err)
	}
	src := p.rt.AddSource(sqlDB, "primary", true)
	if dr, ok := db.Config.Plugins["gorm:db_resolver"].(*dbresolver.DBResolver); ok {
		_ = dr.Call(func(cp gorm.ConnPool) error {
			if s, ok := cp.(*sql.DB); ok && s != sqlDB {
				p.configurePool(s)
			}
			return nil
		})
	}
	pool := p.rt.Wrap(src)
	if prepared != nil {
		prepared.ConnPool = pool
	} else {
		db.ConnPool = pool
		db.Statement.ConnPool = pool
	}
	if gl, ok := db.Logger.(*GormLogger); ok {
		gl.pluginLogs.Store(true)
	}
	p.mon.start()
	p.db = db
	p.ready.Store(true)
	return nil
}

// underlying finds the *sql.DB behind gorm's ConnPool.
func underlying(cp gorm.ConnPool) (*sql.DB, *gorm.PreparedStmtDB, error) {
	switch c := cp.(type) {
	case *sql.DB:
		return c, nil, nil
	case *gorm.PreparedStmtDB:
		if s, ok := c.ConnPool.(*sql.DB); ok {
			return s, c, nil
		}
	}
	return nil, nil, fmt.Errorf("sessionplugin: gorm ConnPool is %T, want *sql.DB (open gorm with a database/sql driver)", cp)
}

func (p *Plugin) configurePool(db *sql.DB) {
	db.SetMaxOpenConns(p.cfg.PoolSize + p.cfg.MaxOverflow)
	db.SetMaxIdleConns(p.cfg.PoolSize)
	db.SetConnMaxLifetime(p.cfg.PoolRecycle)
	db.SetConnMaxIdleTime(p.cfg.ConnMaxIdleTime)
}

func (p *Plugin) runtimeOptions() callbacks.Options {
	o := callbacks.Options{
		Logger:             p.log,
		LogParams:          p.cfg.LogParams,
		PoolTimeout:        p.cfg.PoolTimeout,
		QueryTimeout:       p.cfg.QueryTimeout,
		TransactionTimeout: p.cfg.TransactionTimeout,
		SlowThreshold:      p.cfg.SlowThreshold,
		Registry:           &p.reg,
		ConfigurePool:      p.configurePool,
		OnEnd: func(_ *scope.Scope, err error, _ time.Duration) {
			if err != nil {
				p.errs.add(Classify(err))
			}
		},
		OnLeak:         func(*scope.Scope) { p.mon.leaked.Add(1) },
		ReclaimAfter:   reclaimAfter,
		LeakCheckAfter: leakCheckAfter,
	}
	ot := p.cfg.OperationTimeouts
	o.OpTimeouts = [...]time.Duration{
		callbacks.OpCreate: ot.Create, callbacks.OpQuery: ot.Query, callbacks.OpUpdate: ot.Update,
		callbacks.OpDelete: ot.Delete, callbacks.OpRow: ot.Row, callbacks.OpRaw: ot.Raw,
	}
	if !p.cfg.Breaker.Disabled {
		o.Breakers = p.breakers.Get
	}
	return o
}

// FromDB returns the plugin installed on db, and whether there is one. A
// nil db gives (nil, false).
func FromDB(db *gorm.DB) (*Plugin, bool) {
	if db == nil || db.Config == nil {
		return nil, false
	}
	p, ok := db.Config.Plugins[PluginName].(*Plugin)
	return p, ok
}

// Config returns the plugin's configuration.
func (p *Plugin) Config() Config { return p.cfg }

// Breaker returns the circuit breaker of source ("primary", or a dbresolver
// source's name), creating it if needed, for inspection and manual control.
// It returns nil before Initialize.
func (p *Plugin) Breaker(source string) *breaker.Breaker {
	if !p.ready.Load() {
		return nil
	}
	return p.breakers.Get(source)
}

// NameSource names a dbresolver source or replica's *sql.DB in logs, stats
// and breakers (by default they are "pool-1", "replica-1", ... in order of
// first use). Call it after Initialize and before traffic; a nil db or an
// uninitialized plugin is an error.
func (p *Plugin) NameSource(db *sql.DB, name string) error {
	if db == nil || name == "" {
		return fmt.Errorf("sessionplugin: NameSource(%v, %q): need a *sql.DB and a name", db, name)
	}
	if !p.ready.Load() {
		return errors.New("sessionplugin: NameSource before Initialize")
	}
	p.rt.AddSource(db, name, false)
	return nil
}

// Close stops the plugin's background work (the monitor: long-running and
// idle-in-transaction reports, and taking back abandoned statements; the
// health checks of the ReplicaPolicies it made) and waits for it to exit. It is idempotent,
// safe to call concurrently and before Initialize, and returns nil.
//
// It does not uninstall the plugin: GORM has no way to remove a plugin, so
// the callbacks keep working after it (statements and transactions are
// still tracked, timed, gated by the breaker and logged), and Stats,
// ActiveScopes, Handler and Collector keep answering. Only the monitor's
// work stops. A closed plugin cannot be installed: db.Use returns an
// error and installs nothing. Close it after the last use of the pool,
// alongside sql.DB's Close.
func (p *Plugin) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	p.mu.Lock()
	m, policies, rt := p.mon, p.policies, p.rt
	p.mu.Unlock()
	if m != nil {
		m.close()
	}
	if rt != nil {
		rt.Close()
	}
	for _, r := range policies {
		_ = r.Close()
	}
	return nil
}

// sameMap reports whether a and b are the same map (not equal ones): a
// copy of a gorm.Config shares its Plugins map, which is how dbresolver's
// internal *gorm.DBs are told from a second database.
func sameMap(a, b map[string]gorm.Plugin) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}
