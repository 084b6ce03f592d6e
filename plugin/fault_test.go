package sessionplugin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// behindProxy opens a fresh database of kind through a FaultProxy and
// installs the plugin.
func behindProxy(t *testing.T, kind testdb.Kind, mutate func(*sessionplugin.Config)) (*gorm.DB, *sessionplugin.Plugin, *sessiontest.FaultProxy) {
	t.Helper()
	tg := testdb.Fresh(t, kind)
	proxy, err := sessiontest.NewFaultProxy(tg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	db := testdb.OpenTarget(t, testdb.Target{Kind: kind, DSN: tg.WithAddr(proxy.Addr()), Addr: proxy.Addr()})
	db, p, _ := installOn(t, db, mutate)
	return db, p, proxy
}

var serverKinds = []testdb.Kind{testdb.Postgres, testdb.MySQL}

// The breaker opens on real connection failures, fails fast without dialing
// while open, and closes itself once the server is reachable again.
func TestBreakerOpensAndRecoversThroughProxy(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(string(kind), func(t *testing.T) {
			db, p, proxy := behindProxy(t, kind, func(c *sessionplugin.Config) {
				c.Breaker.ConsecutiveFailures = 3
				c.Breaker.OpenTimeout = 300 * time.Millisecond
				c.PoolTimeout = 2 * time.Second
			})
			var it Item
			if err := db.Limit(1).Find(&it).Error; err != nil {
				t.Fatal(err)
			}
			proxy.SetRefuse(true)
			proxy.ResetAll()
			for i := 0; i < 3; i++ {
				err := db.Limit(1).Find(&it).Error
				if c := sessionplugin.Classify(err); c != sessionplugin.CategoryConnection {
					t.Fatalf("failure %d: Classify(%v) = %q, want connection", i, err, c)
				}
			}
			b := p.Breaker("primary")
			if b.State() != breaker.StateOpen {
				t.Fatalf("breaker %v after 3 connection failures, want open", b.State())
			}
			// Counted on the client: the proxy's own count also sees dials
			// of other test processes that reuse its port while it refuses.
			sqlDB, err := db.DB()
			if err != nil {
				t.Fatal(err)
			}
			open := sqlDB.Stats().OpenConnections
			proxy.SetRefuse(false) // reachable, but the breaker must not try yet
			for i := 0; i < 20; i++ {
				if err := db.Limit(1).Find(&it).Error; !errors.Is(err, sessionplugin.ErrCircuitOpen) {
					t.Fatalf("while open: %v, want ErrCircuitOpen", err)
				}
			}
			if err := sessionplugin.Transaction(context.Background(), db, func(*gorm.DB) error { return nil }); !errors.Is(err, sessionplugin.ErrCircuitOpen) {
				t.Fatalf("Transaction while open: %v, want ErrCircuitOpen", err)
			}
			// A dial now would succeed and leave its connection in the pool.
			if n := sqlDB.Stats().OpenConnections; n > open {
				t.Fatalf("the pool opened %d connections while the breaker was open, want 0", n-open)
			}
			waitFor(t, func() bool { return db.Limit(1).Find(&it).Error == nil }, "the half-open probe to succeed")
			if b.State() != breaker.StateClosed {
				t.Fatalf("breaker %v after a successful probe, want closed", b.State())
			}
		})
	}
}

// A connection lost while COMMIT is in flight is commit_unknown.
func TestCommitOnLostConnectionIsUnknown(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(string(kind), func(t *testing.T) {
			db, _, proxy := behindProxy(t, kind, nil)
			err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				if err := tx.Create(&Item{Name: "maybe"}).Error; err != nil {
					return err
				}
				proxy.ResetAll()
				return nil
			}, sessionplugin.WithRetry(3, time.Millisecond))
			if !errors.Is(err, sessionplugin.ErrCommitUnknown) || sessionplugin.Classify(err) != sessionplugin.CategoryCommitUnknown {
				t.Fatalf("err = %v (%s); want commit_unknown", err, sessionplugin.Classify(err))
			}
			if sessionplugin.IsRetryable(err) {
				t.Error("commit_unknown must never be retryable")
			}
		})
	}
}
