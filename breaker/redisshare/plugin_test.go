package redisshare_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/breaker/redisshare"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

type item struct {
	ID   uint `gorm:"primaryKey"`
	Name string
}

// service is one instance of a service: its own pool on the database, its
// own plugin, its own Fleet on the shared Redis.
type service struct {
	db    *gorm.DB
	p     *sessionplugin.Plugin
	fleet *redisshare.Fleet
	logs  *observer.ObservedLogs
}

func startService(t *testing.T, tg testdb.Target, addr, instance, prefix string, rdb *redis.Client) *service {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	fleet, err := redisshare.New(rdb, redisshare.Options{
		Prefix: prefix, Instance: instance, Logger: zap.New(core),
		PollInterval: 200 * time.Millisecond, Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fleet.Close() }) // after the plugin's Close, registered below
	db := testdb.OpenTarget(t, testdb.Target{Kind: tg.Kind, DSN: tg.WithAddr(addr), Addr: addr})
	cfg := sessionplugin.DefaultConfig()
	cfg.Logger = zap.New(core)
	cfg.PoolTimeout = 2 * time.Second
	cfg.Breaker.ConsecutiveFailures = 3
	cfg.Breaker.OpenTimeout = 500 * time.Millisecond
	cfg.SharedBreaker = fleet
	p := sessionplugin.New(cfg)
	if err := db.Use(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &service{db: db, p: p, fleet: fleet, logs: logs}
}

// Two instances of a service on one PostgreSQL database: instance 1 reaches
// it through a FaultProxy, instance 2 directly. When instance 1's network
// to the database fails, its breaker opens and instance 2, whose own
// connection is fine, fails fast with circuit_open without sending
// anything; when the database is reachable again one probe closes both.
func TestPluginsShareTheBreakerOnPostgres(t *testing.T) {
	opt := redisOptions(t) // skip before creating the schema
	tg := testdb.Fresh(t, testdb.Postgres)
	proxy, err := sessiontest.NewFaultProxy(tg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	p := prefix(t)
	s1 := startService(t, tg, proxy.Addr(), "web-1", p, client(t, opt, ""))
	s2 := startService(t, tg, tg.Addr, "web-2", p, client(t, opt, ""))
	if err := s1.db.AutoMigrate(&item{}); err != nil {
		t.Fatal(err)
	}
	find := func(s *service) error {
		var it []item
		return s.db.Limit(1).Find(&it).Error
	}
	for _, s := range []*service{s1, s2} {
		if err := find(s); err != nil {
			t.Fatal(err)
		}
	}

	proxy.SetRefuse(true)
	proxy.ResetAll()
	for i := range 3 {
		if c := sessionplugin.Classify(find(s1)); c != sessionplugin.CategoryConnection {
			t.Fatalf("web-1 failure %d: category %q, want connection", i, c)
		}
	}
	if st := s1.p.Breaker("primary").State(); st != breaker.StateOpen {
		t.Fatalf("web-1 breaker %s after 3 connection failures", st)
	}
	took := waitFor(t, "web-2's breaker to open", func() bool { return s2.p.Breaker("primary").State() == breaker.StateOpen })
	t.Logf("web-2 opened %s after web-1", took)

	err = find(s2)
	if !errors.Is(err, sessionplugin.ErrCircuitOpen) || sessionplugin.Classify(err) != sessionplugin.CategoryCircuitOpen {
		t.Fatalf("web-2 while the fleet is open: %v (%s), want circuit_open", err, sessionplugin.Classify(err))
	}
	if !strings.Contains(err.Error(), "shared from web-1") {
		t.Fatalf("web-2's error %q does not say where the outage was seen", err)
	}
	if err := sessionplugin.Transaction(t.Context(), s2.db, func(*gorm.DB) error { return nil }); !errors.Is(err, sessionplugin.ErrCircuitOpen) {
		t.Fatalf("web-2 Transaction while open: %v, want ErrCircuitOpen", err)
	}
	if n := s2.p.Stats().Errors[sessionplugin.CategoryConnection]; n != 0 {
		t.Fatalf("web-2 saw %d connection errors; it should never have tried", n)
	}

	// Back: web-2 (whose path always worked) takes the probe, and its
	// success closes web-1's breaker too.
	proxy.SetRefuse(false)
	waitFor(t, "web-2's probe to succeed", func() bool { return find(s2) == nil })
	waitFor(t, "web-1's breaker to close", func() bool { return s1.p.Breaker("primary").State() == breaker.StateClosed })
	if err := find(s1); err != nil {
		t.Fatalf("web-1 after the fleet closed: %v", err)
	}
	if n := s1.logs.FilterMessage("circuit breaker closed by another instance").Len(); n != 1 {
		t.Fatalf("web-1 logged %d remote closings, want 1", n)
	}
}

// Redis unreachable: the plugin's statements behave exactly as without
// sharing; the Fleet says so once.
func TestPluginWithRedisDown(t *testing.T) {
	tg := testdb.Fresh(t, testdb.Postgres)
	s := startService(t, tg, tg.Addr, "web-1", prefix(t), client(t, &redis.Options{}, testdb.ClosedAddr(t)))
	if err := s.db.AutoMigrate(&item{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Fleet to notice", s.fleet.Degraded)
	for i := range 50 {
		if err := s.db.Create(&item{Name: "x"}).Error; err != nil {
			t.Fatalf("statement %d with Redis down: %v", i, err)
		}
	}
	if n := s.logs.FilterMessage("shared circuit breaker: Redis unreachable; each breaker works on its own until it is back").Len(); n != 1 {
		t.Fatalf("%d Redis-unreachable lines, want 1", n)
	}
}
