package callbacks

import (
	"database/sql"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/hist"
	"github.com/replyrocket/gormsession/internal/interrupt"
	"github.com/replyrocket/gormsession/internal/scope"
)

// Op is the kind of statement a GORM callback chain runs.
type Op uint8

// The GORM processors gormsession hooks.
const (
	OpCreate Op = iota
	OpQuery
	OpUpdate
	OpDelete
	OpRow
	OpRaw
	numOps
)

var opNames = [numOps]string{"create", "query", "update", "delete", "row", "raw"}

// String returns the operation's name, as used in logs and metrics.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Options configures a Runtime. The zero value works: no deadlines, no pool
// timeout, no breaker, a no-op logger.
type Options struct {
	Logger    *zap.Logger // nil: zap.NewNop()
	LogParams bool

	PoolTimeout        time.Duration
	QueryTimeout       time.Duration
	OpTimeouts         [numOps]time.Duration // 0: QueryTimeout; <0: none
	TransactionTimeout time.Duration
	SlowThreshold      time.Duration

	Registry *scope.Registry // nil: a private one
	// Breakers returns the circuit breaker of a source, by name, asked
	// once per source when the runtime first meets it; nil (or a nil
	// *breaker.Breaker) means statements there are never refused.
	Breakers func(source string) *breaker.Breaker
	// ConfigurePool is called once for every *sql.DB the runtime meets
	// (the primary, and each dbresolver source or replica), before use.
	ConfigurePool func(*sql.DB)
	// OnEnd, if set, is called once per ended scope (statement or
	// transaction) with its final error; used for metrics. Rows() that
	// the statement's deadline later cuts while the caller reads them
	// call it a second time, with the *TimeoutError.
	OnEnd func(s *scope.Scope, err error, elapsed time.Duration)
	// OnLeak, if set, is called once per transaction garbage-collected
	// without Commit or Rollback, after it was reported and rolled back.
	OnLeak func(s *scope.Scope)
	// ReclaimAfter is how long Reclaim waits, after a statement's context
	// ended, for its after-step before taking the statement back; Rows()
	// still open ReclaimAfter past their deadline are closed then ("database
	// rows never closed") (0: DefaultReclaimAfter).
	ReclaimAfter time.Duration
	// LeakCheckAfter is how long a tracked transaction may stay open
	// before it gets garbage-collection leak detection (leakwatch.go);
	// 0: DefaultLeakCheckAfter; negative: at once, for every transaction.
	LeakCheckAfter time.Duration
}

// Runtime is the state the callbacks share: options, the sources they have
// seen, the scope registry. Safe for concurrent use.
type Runtime struct {
	opts    Options
	log     *zap.Logger
	reg     *scope.Registry
	primary atomic.Pointer[Source]

	mu      sync.Mutex // guards naming of new sources only
	sources sync.Map   // *sql.DB -> *Source
	counts  map[string]int

	onLeak      func(leak) // r.leaked, bound once rather than per transaction
	leakWatched atomic.Uint64
	sw          sweeper
}

// Source is one database the runtime sends statements to: the primary, or a
// dbresolver source or replica.
type Source struct {
	Name string
	DB   *sql.DB
	// ctxlessEnd: the driver's Commit and Rollback take no context
	// (go-sql-driver/mysql), so a transaction's deadline cannot cut them.
	ctxlessEnd bool
	brk        *breaker.Breaker // gates its statements and BEGINs; nil: none
	waiting    atomic.Int64
	gate       atomic.Pointer[gate]
	method     atomic.Int32               // can its statements be stopped out of band
	durations  [numOps + 1]hist.Histogram // per Op, then transactions
}

// Durations returns the duration histogram of each operation ("create",
// ..., "raw", "transaction") on s, skipping those never seen.
func (s *Source) Durations() map[string]hist.Snapshot {
	out := make(map[string]hist.Snapshot, len(s.durations))
	for i := range s.durations {
		snap := s.durations[i].Snapshot()
		if snap.Count == 0 {
			continue
		}
		name := "transaction"
		if i < int(numOps) {
			name = opNames[i]
		}
		out[name] = snap
	}
	return out
}

// Waiting returns the number of callers waiting for a connection of s now.
func (s *Source) Waiting() int64 { return s.waiting.Load() }

// NewRuntime returns a Runtime for opts.
func NewRuntime(opts Options) *Runtime {
	r := &Runtime{opts: opts, log: opts.Logger, reg: opts.Registry, counts: map[string]int{}}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.reg == nil {
		r.reg = &scope.Registry{}
	}
	r.onLeak = r.leaked
	r.sw.init()
	return r
}

// Registry returns the scope registry.
func (r *Runtime) Registry() *scope.Registry { return r.reg }

// Sources returns every source seen so far, sorted by name.
func (r *Runtime) Sources() []*Source {
	var out []*Source
	r.sources.Range(func(_, v any) bool {
		out = append(out, v.(*Source))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AddSource registers db under name (configuring its pool) and returns it.
// If db is already known, it is renamed. The first source added with
// primary=true is the primary.
func (r *Runtime) AddSource(db *sql.DB, name string, primary bool) *Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.sources.Load(db); ok {
		s := v.(*Source)
		if name != "" && name != s.Name {
			ns := &Source{Name: name, DB: db, ctxlessEnd: s.ctxlessEnd, brk: r.breakerOf(name)}
			r.sources.Store(db, ns)
			s = ns
		}
		if primary {
			r.primary.CompareAndSwap(nil, s)
		}
		return s
	}
	if name == "" {
		name = r.nextName("pool")
	}
	s := &Source{Name: name, DB: db, ctxlessEnd: endIgnoresContext(db), brk: r.breakerOf(name)}
	if r.opts.ConfigurePool != nil {
		r.opts.ConfigurePool(db)
	}
	r.sources.Store(db, s)
	if primary {
		r.primary.CompareAndSwap(nil, s)
	}
	return s
}

func (r *Runtime) breakerOf(source string) *breaker.Breaker {
	if r.opts.Breakers == nil {
		return nil
	}
	return r.opts.Breakers(source)
}

// endIgnoresContext reports whether db's driver runs COMMIT and ROLLBACK
// without a context: go-sql-driver/mysql's do (driver.Tx has none), so
// nothing but the network ends a COMMIT sent into a dead link.
func endIgnoresContext(db *sql.DB) bool {
	t := reflect.TypeOf(db.Driver())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.PkgPath() == "github.com/go-sql-driver/mysql"
}

// Primary returns the primary source, or nil before one is added.
func (r *Runtime) Primary() *Source { return r.primary.Load() }

func (r *Runtime) nextName(kind string) string {
	r.counts[kind]++
	return fmt.Sprintf("%s-%d", kind, r.counts[kind])
}

// source returns the Source for db, registering it on first sight under
// the name hint gives ("replica" or "source" from dbresolver's trace mode).
func (r *Runtime) source(db *sql.DB, hint string) *Source {
	if v, ok := r.sources.Load(db); ok {
		return v.(*Source)
	}
	r.mu.Lock()
	if v, ok := r.sources.Load(db); ok {
		r.mu.Unlock()
		return v.(*Source)
	}
	if hint == "" {
		hint = "pool"
	}
	name := r.nextName(hint)
	r.mu.Unlock()
	return r.AddSource(db, name, false)
}

func (r *Runtime) primaryName() string {
	if p := r.primary.Load(); p != nil {
		return p.Name
	}
	return "primary"
}

// Wrap returns the connection pool to install as gorm's ConnPool in place
// of db: it begins tracked transactions and keeps db.DB() working.
func (r *Runtime) Wrap(src *Source) *Pool { return &Pool{rt: r, src: src} }

var _ gorm.ConnPool = (*Pool)(nil)

// stoppable reports whether statements on the driver connection dc can be
// stopped out of band; the answer is the same for every connection of s,
// so it is asked once.
func (s *Source) stoppable(dc any) bool {
	switch s.method.Load() {
	case methodYes:
		return true
	case methodNo:
		return false
	}
	if interrupt.MethodOf(dc) == interrupt.None {
		s.method.Store(methodNo)
		return false
	}
	s.method.Store(methodYes)
	return true
}

// Source.method values.
const (
	methodUnknown int32 = iota
	methodYes
	methodNo
)
