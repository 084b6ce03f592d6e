package breaker_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
)

// TestConcurrentHammer runs Allow/done from many goroutines, with every
// kind of outcome and short timeouts so the breaker keeps changing state,
// while other goroutines read it, switch modes and reset it. Run with
// -race. Afterwards no half-open slot may be leaked: the breaker must close
// again.
func TestConcurrentHammer(t *testing.T) {
	var hooked atomic.Int64
	cfg := breaker.Config{
		ConsecutiveFailures: 4,
		FailureRatio:        0.3,
		MinRequests:         20,
		Interval:            20 * time.Millisecond,
		OpenTimeout:         2 * time.Millisecond,
		HalfOpenMaxRequests: 3,
		SlowCallThreshold:   500 * time.Microsecond,
		SlowCallRate:        0.8,
	}
	s := breaker.NewSet(cfg, nil, breaker.WithOnStateChange(func(string, breaker.State, breaker.State, breaker.Counts) {
		hooked.Add(1)
	}))
	outcomes := []error{nil, nil, nil, errPool, errTimeout, context.Canceled, gorm.ErrRecordNotFound, breaker.Excluded(context.DeadlineExceeded)}

	stop := make(chan struct{})
	var admitted, finished, rejected atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := s.Get("primary")
				done, err := b.Allow()
				if err != nil {
					rejected.Add(1)
					continue
				}
				admitted.Add(1)
				out := outcomes[rand.IntN(len(outcomes))]
				elapsed := time.Duration(rand.IntN(1000)) * time.Microsecond
				if rand.IntN(2) == 0 {
					go func() { done(out, elapsed); done(out, elapsed); finished.Add(1) }()
				} else {
					done(out, elapsed)
					done(nil, 0)
					finished.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		modes := []breaker.Mode{breaker.ModeNormal, breaker.ModeMetricsOnly, breaker.ModeNormal, breaker.ModeDisabled, breaker.ModeForcedOpen}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			b := s.Get("primary")
			b.SetMode(modes[i%len(modes)])
			if i%7 == 0 {
				b.Reset()
			}
			_ = s.Snapshot()
			_ = b.Counts()
		}
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	for finished.Load() != admitted.Load() {
		time.Sleep(time.Millisecond)
	}

	b := s.Get("primary")
	b.SetMode(breaker.ModeNormal)
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != breaker.StateClosed {
		if time.Now().After(deadline) {
			t.Fatalf("breaker stuck %s (counts %+v): a done was lost", b.State(), b.Counts())
		}
		if done, err := b.Allow(); err == nil {
			done(nil, 0)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("admitted %d, rejected %d, transitions %d (hook %d)", admitted.Load(), rejected.Load(), b.Transitions(), hooked.Load())
	if b.Transitions() == 0 || rejected.Load() == 0 {
		t.Fatal("the hammer never tripped the breaker: the test tests nothing")
	}
}
