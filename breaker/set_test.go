package breaker_test

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/replyrocket/gormsession/breaker"
)

func TestSetOneBreakerPerSource(t *testing.T) {
	s := breaker.NewSet(testConfig(), nil)
	const goroutines = 64
	got := make([][]*breaker.Breaker, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range 8 {
				got[g] = append(got[g], s.Get(fmt.Sprintf("replica-%d", i)))
			}
		})
	}
	wg.Wait()
	for g := range goroutines {
		for i, b := range got[g] {
			if b != got[0][i] {
				t.Fatalf("goroutine %d got a different Breaker for replica-%d", g, i)
			}
			if b.Name() != fmt.Sprintf("replica-%d", i) {
				t.Fatalf("Breaker name %q", b.Name())
			}
		}
	}
	if n := len(s.All()); n != 8 {
		t.Fatalf("All() has %d breakers, want 8", n)
	}
}

func TestSetSnapshotSorted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := breaker.NewSet(testConfig(), nil)
		for _, name := range []string{"replica-2", "primary", "replica-1"} {
			s.Get(name)
		}
		calls(t, s.Get("replica-1"), 3, errPool)
		s.Get("replica-2").SetMode(breaker.ModeMetricsOnly)
		time.Sleep(5 * time.Second)

		snap := s.Snapshot()
		if len(snap) != 3 || snap[0].Source != "primary" || snap[1].Source != "replica-1" || snap[2].Source != "replica-2" {
			t.Fatalf("snapshot order: %+v", snap)
		}
		r1 := snap[1]
		if r1.State != breaker.StateOpen || r1.Counts.Rejected != 0 || r1.RetryIn != 25*time.Second ||
			r1.Reason == "" || r1.Transitions != 1 || !r1.Since.Equal(time.Now().Add(-5*time.Second)) {
			t.Fatalf("replica-1 status = %+v", r1)
		}
		if snap[2].Mode != breaker.ModeMetricsOnly || snap[0].State != breaker.StateClosed {
			t.Fatalf("statuses = %+v", snap)
		}
	})
}

func TestSetGetDoesNotAllocate(t *testing.T) {
	s := breaker.NewSet(testConfig(), nil)
	s.Get("primary")
	if n := testing.AllocsPerRun(100, func() { s.Get("primary") }); n != 0 {
		t.Fatalf("Get of an existing source allocates %v times", n)
	}
}
