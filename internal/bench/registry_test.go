package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/scope"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// openScopes is how many scopes BenchmarkScopes holds open.
const openScopes = 10_000

// BenchmarkScopes measures the scope registry with open=1 scope (a held
// transaction) and with open=10000 (the transaction plus 9,999 point
// selects waiting for the pool's only connection: real scopes, opened by
// the plugin, the way an overloaded service piles them up):
//
//   - op=scope: one more statement, inside the held transaction (no pool
//     wait): its scope is opened and closed among the others;
//   - op=Stats: Plugin.Stats();
//   - op=ActiveScopes: Plugin.ActiveScopes(), every open scope, sorted;
//   - op=collect: a Prometheus scrape of Plugin.Collector();
//   - op=scope-while-listing: op=scope while another goroutine calls
//     ActiveScopes in a loop: the hot path is not stopped by a listing.
func BenchmarkScopes(b *testing.B) {
	for _, open := range []int{1, openScopes} {
		b.Run(fmt.Sprintf("open=%d", open), func(b *testing.B) {
			f := newFixture(b, testdb.SQLite)
			db := openGorm(b, f.dialector())
			cfg := sessionplugin.DefaultConfig()
			cfg.PoolSize, cfg.MaxOverflow = 1, 0
			// Long enough that nothing times out or is reported mid-run.
			cfg.PoolTimeout, cfg.QueryTimeout, cfg.TransactionTimeout = time.Hour, time.Hour, time.Hour
			cfg.LongRunningThreshold = time.Hour
			p := use(b, db, cfg)
			tx := db.Begin()
			if tx.Error != nil {
				b.Fatal(tx.Error)
			}
			stop := holdScopes(b, db, p, open-1)
			defer func() {
				stop()
				tx.Rollback()
			}()
			if n := p.Stats().Active; n != int64(open) {
				b.Fatalf("%d scopes open, want %d", n, open)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(p.Collector())

			oneMore := func(b *testing.B) {
				var it Item
				if err := tx.First(&it, 1).Error; err != nil {
					b.Fatal(err)
				}
			}
			b.Run("op=scope", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					oneMore(b)
				}
			})
			b.Run("op=Stats", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_ = p.Stats()
				}
			})
			b.Run("op=ActiveScopes", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if n := len(p.ActiveScopes()); n < open {
						b.Fatalf("%d active scopes, want %d", n, open)
					}
				}
			})
			b.Run("op=collect", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := reg.Gather(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=scope-while-listing", func(b *testing.B) {
				var done atomic.Bool
				var wg sync.WaitGroup
				wg.Go(func() {
					for !done.Load() {
						_ = p.ActiveScopes()
					}
				})
				b.ReportAllocs()
				for b.Loop() {
					oneMore(b)
				}
				done.Store(true)
				wg.Wait()
			})
		})
	}
}

// holdScopes starts n point selects on db that wait for a connection (the
// held transaction has the only one) and returns once all n scopes are
// open. stop cancels them and waits for them to return.
func holdScopes(b *testing.B, db *gorm.DB, p *sessionplugin.Plugin, n int) (stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	base := p.Stats().Active
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			var it Item
			db.WithContext(ctx).First(&it, 1) // fails with context canceled at stop
		})
	}
	deadline := time.Now().Add(time.Minute)
	for p.Stats().Active < base+int64(n) {
		if time.Now().After(deadline) {
			cancel()
			b.Fatalf("only %d of %d scopes opened", p.Stats().Active-base, n)
		}
		time.Sleep(time.Millisecond)
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// BenchmarkRegistry is the registry alone (internal/scope), without GORM:
// open and close one scope among open others, and list them all.
func BenchmarkRegistry(b *testing.B) {
	for _, open := range []int{0, openScopes} {
		var r scope.Registry
		held := make([]scope.Scope, open)
		for i := range held {
			held[i].Start = time.Now()
			r.Open(&held[i])
		}
		b.Run(fmt.Sprintf("op=open-close/open=%d", open), func(b *testing.B) {
			b.ReportAllocs()
			var s scope.Scope
			for b.Loop() {
				s.Start = time.Now()
				r.Open(&s)
				r.Close(&s)
			}
		})
		b.Run(fmt.Sprintf("op=open-close-parallel/open=%d", open), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var s scope.Scope
				for pb.Next() {
					s.Start = time.Now()
					r.Open(&s)
					r.Close(&s)
				}
			})
		})
		b.Run(fmt.Sprintf("op=active/open=%d", open), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(r.Active()) != open {
					b.Fatal("lost a scope")
				}
			}
		})
	}
}
