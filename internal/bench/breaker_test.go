package bench

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// BenchmarkBreakerOpen is a point select against a PostgreSQL server that
// is down (a loopback port nothing listens on):
//
//   - path=fastfail: the plugin with its breaker open (tripped by real
//     connection-refused failures): the call fails at the gate, before the
//     pool and the network;
//   - path=dial: bare GORM, each call dialling and being refused;
//   - path=gorm-refused: bare GORM refusing the statement in a callback
//     where the plugin's gate sits: what GORM itself costs on that path;
//   - path=gate: the breaker's own Allow on an open breaker, without GORM.
func BenchmarkBreakerOpen(b *testing.B) {
	tg := testdb.Target{Kind: testdb.Postgres, DSN: testdb.BaseDSN(testdb.Postgres)}
	dsn := tg.WithAddr(testdb.ClosedAddr(b))

	b.Run("path=fastfail", func(b *testing.B) {
		db := openGorm(b, testdb.Dialector(testdb.Postgres, dsn))
		cfg := sessionplugin.DefaultConfig()
		cfg.Breaker.OpenTimeout = time.Hour // stays open for the whole run
		p := use(b, db, cfg)
		for range cfg.Breaker.ConsecutiveFailures {
			var it Item
			db.First(&it, 1)
		}
		if st := p.Breaker("primary").State(); st != breaker.StateOpen {
			b.Fatalf("breaker %s after %d refused dials, want open", st, cfg.Breaker.ConsecutiveFailures)
		}
		b.ReportAllocs()
		for b.Loop() {
			var it Item
			if err := db.First(&it, 1).Error; !errors.Is(err, sessionplugin.ErrCircuitOpen) {
				b.Fatalf("err %v, want ErrCircuitOpen", err)
			}
		}
	})

	b.Run("path=dial", func(b *testing.B) {
		db := openGorm(b, testdb.Dialector(testdb.Postgres, dsn))
		b.ReportAllocs()
		for b.Loop() {
			var it Item
			if err := db.First(&it, 1).Error; err == nil || !strings.Contains(err.Error(), "refused") {
				b.Fatalf("err %v, want connection refused", err)
			}
		}
	})

	b.Run("path=gorm-refused", func(b *testing.B) {
		// GORM's own share of a refused statement: bare GORM with a
		// callback that refuses every query where the plugin's gate sits.
		db := openGorm(b, testdb.Dialector(testdb.Postgres, dsn))
		refuse := func(db *gorm.DB) { db.AddError(errRefused) }
		if err := db.Callback().Query().Before("gorm:query").Register("bench:refuse", refuse); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var it Item
			if err := db.First(&it, 1).Error; err != errRefused {
				b.Fatalf("err %v, want the refusal", err)
			}
		}
	})

	b.Run("path=gate", func(b *testing.B) {
		br := breaker.New("primary", breaker.Config{OpenTimeout: time.Hour}, nil)
		for range 5 {
			done, _ := br.Allow()
			done(errRefused, 0)
		}
		if br.State() != breaker.StateOpen {
			b.Fatalf("gate breaker %s, want open", br.State())
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Allow(); err == nil {
				b.Fatal("admitted")
			}
		}
	})
}

// errRefused is a refused dial: an infrastructure failure to the breaker.
var errRefused error = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
