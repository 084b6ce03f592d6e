package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libtnb/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/opentelemetry/tracing"
	gormprom "gorm.io/plugin/prometheus"

	"github.com/replyrocket/gormsession/internal/clock"
	"github.com/replyrocket/gormsession/internal/scope"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// openSQLite is the SQLite driver: the one line to change to compare
// drivers (the same as internal/testdb: github.com/libtnb/sqlite, modernc.org/sqlite).
var openSQLite = sqlite.Open

// kinds are the databases every workload runs on. PostgreSQL comes from
// GORMSESSION_TEST_POSTGRES (loopback by default); unreachable, its
// benchmarks are skipped, or fail when CI=true.
var kinds = []testdb.Kind{testdb.SQLite, testdb.Postgres}

// Item is the table the reads use: seeded with nRows rows.
type Item struct {
	ID    uint   `gorm:"primaryKey"`
	Name  string `gorm:"size:64;not null"`
	Price int
}

// Write is the table Create and the transactions insert into, so the
// reads always see nRows rows.
type Write struct {
	ID    uint   `gorm:"primaryKey"`
	Name  string `gorm:"size:64;not null"`
	Price int
}

const nRows = 1000

// variant is one way of running GORM: bare, or with a plugin installed.
type variant struct {
	name    string
	install func(b *testing.B, db *gorm.DB) *sessionplugin.Plugin
}

var (
	vBare     = variant{"bare", func(*testing.B, *gorm.DB) *sessionplugin.Plugin { return nil }}
	vDefaults = variant{"defaults", installDefaults}
	vAll      = variant{"all", installAll}
	vOtel     = variant{"otel", installOtel}
	vProm     = variant{"prom", installProm}
)

// variants, bare first: benchstat -col /v compares every column with it.
var variants = []variant{vBare, vDefaults, vAll, vOtel, vProm}

// installDefaults is gormsession with DefaultConfig: 30s statement and 60s
// transaction deadlines, 30s pool timeout, breaker on, monitor running
// (30s long-running, 10s idle-in-transaction), no logger.
func installDefaults(b *testing.B, db *gorm.DB) *sessionplugin.Plugin {
	return use(b, db, sessionplugin.DefaultConfig())
}

// installAll is gormsession with everything on: a real zap JSON logger at
// info (to io.Discard), the monitor scanning every 250ms, slow-call
// tripping in the breaker, and the Prometheus collector registered on a
// private registry.
func installAll(b *testing.B, db *gorm.DB) *sessionplugin.Plugin {
	cfg := sessionplugin.DefaultConfig()
	cfg.Logger = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	cfg.LongRunningThreshold = time.Second
	cfg.IdleInTxThreshold = time.Second
	cfg.Breaker.SlowCallThreshold = time.Second
	p := use(b, db, cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collector())
	if _, err := reg.Gather(); err != nil {
		b.Fatal(err)
	}
	return p
}

func use(b *testing.B, db *gorm.DB, cfg sessionplugin.Config) *sessionplugin.Plugin {
	b.Helper()
	p := sessionplugin.New(cfg)
	if err := db.Use(p); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// installOtel is gorm.io/plugin/opentelemetry's tracing with an SDK tracer
// provider that samples every span and exports none: the span is built and
// ended, nothing leaves the process.
func installOtel(b *testing.B, db *gorm.DB) *sessionplugin.Plugin {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
	if err := db.Use(tracing.NewPlugin(tracing.WithTracerProvider(tp))); err != nil {
		b.Fatal(err)
	}
	return nil
}

// installProm is gorm.io/plugin/prometheus: it polls sql.DBStats every 15s
// and does nothing per statement. (Its polling goroutine cannot be stopped.)
func installProm(b *testing.B, db *gorm.DB) *sessionplugin.Plugin {
	if err := db.Use(gormprom.New(gormprom.Config{DBName: "bench", RefreshInterval: 15})); err != nil {
		b.Fatal(err)
	}
	return nil
}

// cpuBurn is how long installCPU's callback keeps the CPU busy.
const cpuBurn = 2 * time.Microsecond

// installCPU is a yardstick, not a plugin: a query callback that only
// keeps the CPU busy for cpuBurn (wall time), touching no memory. Its
// extra-ns/op and ratio show how large a known cost looks on the machine
// of the run, to read the plugin's figures against (BENCHMARKS.md, round 6).
func installCPU(b *testing.B, db *gorm.DB) *sessionplugin.Plugin {
	if err := db.Callback().Query().Before("gorm:query").Register("bench:cpu", func(*gorm.DB) { burn(cpuBurn) }); err != nil {
		b.Fatal(err)
	}
	return nil
}

// scopeCtx is installScope's per-statement state: the statement's context
// and its scope in one allocation, as the plugin keeps them.
type scopeCtx struct {
	context.Context
	parent context.Context
	s      scope.Scope
}

// scopeSink keeps installScope's elapsed times from being optimised away.
var scopeSink atomic.Int64

// installScope is a yardstick, not a plugin: each query tracked as a scope
// the way the plugin tracks it, and nothing more. Its before step allocates
// the state, reads the clock, captures the caller and stack and opens the
// scope in a registry; its after step ends and closes it and reads the
// clock for the duration. No deadline, breaker, connection, metrics or
// logging: the floor under the plugin's own cost on the machine of the run
// (BENCHMARKS.md, round 7). On queries, creates, updates and deletes; a
// transaction is not tracked, only its statements.
func installScope(b *testing.B, db *gorm.DB) *sessionplugin.Plugin {
	reg := new(scope.Registry)
	before := func(db *gorm.DB) {
		parent := db.Statement.Context
		sc := &scopeCtx{Context: parent, parent: parent}
		sc.s = scope.Scope{Kind: scope.Statement, Op: "statement", Table: db.Statement.Table, Start: clock.Now(), Ctx: parent, Owner: sc}
		scope.Capture(&sc.s, 1)
		reg.Open(&sc.s)
		db.Statement.Context = sc
	}
	after := func(db *gorm.DB) {
		sc, ok := db.Statement.Context.(*scopeCtx)
		if !ok {
			return
		}
		db.Statement.Context = sc.parent
		sc.s.End()
		scopeSink.Store(int64(clock.Now().Sub(sc.s.Start)))
		reg.Close(&sc.s)
	}
	cb := db.Callback()
	type register = func(name string, fn func(*gorm.DB)) error
	for _, c := range []struct {
		name          string
		before, after register
	}{
		{"query", cb.Query().Before("gorm:query").Register, cb.Query().After("*").Register},
		{"create", cb.Create().Before("gorm:create").Register, cb.Create().After("*").Register},
		{"update", cb.Update().Before("gorm:update").Register, cb.Update().After("*").Register},
		{"delete", cb.Delete().Before("gorm:delete").Register, cb.Delete().After("*").Register},
	} {
		if err := c.before("bench:scope_before_"+c.name, before); err != nil {
			b.Fatal(err)
		}
		if err := c.after("bench:scope_after_"+c.name, after); err != nil {
			b.Fatal(err)
		}
	}
	return nil
}

// burn spins for d.
func burn(d time.Duration) {
	for t0 := time.Now(); time.Since(t0) < d; {
	}
}

// fixture is one seeded database that every variant opens its own pool on.
type fixture struct {
	kind testdb.Kind
	dsn  string
}

var memSeq atomic.Uint64

// newFixture creates a database of kind with nRows Items. SQLite is a
// named in-memory database in shared-cache mode, so every pool of every
// variant sees the same data; it lives until the fixture's anchor
// connection closes at cleanup. PostgreSQL is a fresh schema.
func newFixture(b *testing.B, kind testdb.Kind) *fixture {
	b.Helper()
	f := &fixture{kind: kind}
	switch kind {
	case testdb.SQLite:
		f.dsn = fmt.Sprintf("file:bench%d_%d?mode=memory&cache=shared", os.Getpid(), memSeq.Add(1))
	default:
		f.dsn = testdb.Fresh(b, kind).DSN
	}
	anchor := openGorm(b, f.dialector()) // keeps the in-memory database alive
	if err := anchor.AutoMigrate(&Item{}, &Write{}); err != nil {
		b.Fatal(err)
	}
	items := make([]Item, nRows)
	for i := range items {
		items[i] = Item{Name: fmt.Sprintf("item-%04d", i), Price: i}
	}
	if err := anchor.CreateInBatches(items, 200).Error; err != nil {
		b.Fatal(err)
	}
	return f
}

func (f *fixture) dialector() gorm.Dialector {
	if f.kind == testdb.SQLite {
		return openSQLite(f.dsn)
	}
	return testdb.Dialector(f.kind, f.dsn)
}

// open returns a new *gorm.DB on the fixture with v installed. Every
// variant gets the pool gormsession's defaults give (5 idle, 15 open), so
// only the plugin differs; GORM's own logger is silent in all of them.
func (f *fixture) open(b *testing.B, v variant) *gorm.DB {
	b.Helper()
	db := openGorm(b, f.dialector())
	v.install(b, db)
	warm(b, db)
	return db
}

func openGorm(b *testing.B, d gorm.Dialector) *gorm.DB {
	b.Helper()
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard, DisableAutomaticPing: true})
	if err != nil {
		b.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		b.Fatal(err)
	}
	def := sessionplugin.DefaultConfig()
	sqlDB.SetMaxOpenConns(def.PoolSize + def.MaxOverflow)
	sqlDB.SetMaxIdleConns(def.PoolSize)
	sqlDB.SetConnMaxLifetime(def.PoolRecycle)
	sqlDB.SetConnMaxIdleTime(def.ConnMaxIdleTime)
	b.Cleanup(func() { sqlDB.Close() })
	return db
}

// warm opens a connection and fills GORM's schema cache.
func warm(b *testing.B, db *gorm.DB) {
	b.Helper()
	var it Item
	if err := db.First(&it).Error; err != nil && err != gorm.ErrRecordNotFound {
		b.Fatalf("warm-up: %v", err)
	}
}

// perVariant runs fn as a sub-benchmark "db=kind/v=name" for each variant
// on a fresh fixture per kind.
func perVariant(b *testing.B, vs []variant, fn func(b *testing.B, db *gorm.DB, v variant)) {
	for _, kind := range kinds {
		b.Run("db="+string(kind), func(b *testing.B) {
			f := newFixture(b, kind)
			for _, v := range vs {
				db := f.open(b, v)
				b.Run("v="+v.name, func(b *testing.B) {
					b.ReportAllocs()
					fn(b, db, v)
				})
			}
		})
	}
}

// parallel runs b.N calls of fn spread over exactly g goroutines (unlike
// RunParallel, whose goroutine count is a multiple of GOMAXPROCS). ns/op is
// wall time over all of them: the inverse of throughput.
func parallel(b *testing.B, g int, fn func(i int) error) {
	var next atomic.Int64
	var failed atomic.Pointer[error]
	done := make(chan struct{})
	n := int64(b.N)
	b.ResetTimer()
	for range g {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				if err := fn(int(i)); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	for range g {
		<-done
	}
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
}
