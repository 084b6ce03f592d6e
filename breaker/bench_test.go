package breaker_test

import (
	"testing"
	"time"

	"github.com/replyrocket/gormsession/breaker"
)

// BenchmarkAllowDone is the hot path: a closed breaker, every statement
// admitted and reported, from all Ps at once.
func BenchmarkAllowDone(b *testing.B) {
	cfg := breaker.DefaultConfig()
	cfg.SlowCallThreshold = time.Second
	br := breaker.NewSet(cfg, nil).Get("primary")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := br.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(nil, time.Millisecond)
		}
	})
}

// BenchmarkAllowRejected is the fail-fast path of an open breaker.
func BenchmarkAllowRejected(b *testing.B) {
	br := breaker.New("primary", breaker.DefaultConfig(), nil)
	for range 5 {
		done, _ := br.Allow()
		done(errPool, 0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.Allow(); err == nil {
				b.Fatal("admitted")
			}
		}
	})
}

// BenchmarkDisabled is the cost of a breaker turned off.
func BenchmarkDisabled(b *testing.B) {
	br := breaker.NewSet(breaker.Config{Disabled: true}, nil).Get("primary")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, _ := br.Allow()
			done(nil, 0)
		}
	})
}
