package breaker_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/replyrocket/gormsession/breaker"
)

func slowConfig() breaker.Config {
	cfg := testConfig()
	cfg.SlowCallThreshold = 100 * time.Millisecond
	cfg.SlowCallRate = 0.5
	return cfg
}

func TestSlowCallRateOpens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", slowConfig(), nil)
		for range 4 {
			call(t, b, nil, time.Second)         // slow
			call(t, b, nil, 10*time.Millisecond) // fast
		}
		call(t, b, nil, 100*time.Millisecond) // exactly the threshold: not slow
		wantState(t, b, breaker.StateClosed)
		if c := b.Counts(); c.Slow != 4 || c.Successes != 9 || c.Failures != 0 {
			t.Fatalf("counts = %+v: slow calls are successes, counted apart", c)
		}
		// A slow answer with an error is still the database answering slowly.
		call(t, b, &pgconn.PgError{Code: "23505"}, 2*time.Second) // 5 of 10
		wantState(t, b, breaker.StateOpen)
		oe := openError(t, call(t, b, nil, 0))
		if want := "slow-call rate 50% (5 of 10 slower than 100ms) reached 50%"; oe.Reason != want {
			t.Fatalf("reason %q, want %q", oe.Reason, want)
		}
	})
}

func TestSlowCallsBelowRateOrMinRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", slowConfig(), nil)
		for range 9 {
			call(t, b, nil, time.Second) // 9 of 9, under MinRequests
		}
		wantState(t, b, breaker.StateClosed)
		time.Sleep(2 * time.Minute) // new window
		for range 100 {
			call(t, b, nil, time.Second)
			call(t, b, nil, time.Millisecond)
			call(t, b, nil, time.Millisecond) // a third slow
		}
		wantState(t, b, breaker.StateClosed)
	})
}

func TestSlowCallsOffByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		for range 100 {
			call(t, b, nil, time.Hour)
		}
		wantState(t, b, breaker.StateClosed)
		if c := b.Counts(); c.Slow != 0 {
			t.Fatalf("Slow = %d with SlowCallThreshold 0", c.Slow)
		}
	})
}

func TestSlowProbeReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := slowConfig()
		cfg.HalfOpenMaxRequests = 2
		b := breaker.New("primary", cfg, nil)
		open(t, b)
		time.Sleep(31 * time.Second)
		p1, _ := b.Allow()
		p2, _ := b.Allow()
		p1(nil, time.Second) // 1 of 1 slow, but 2 probes are due
		wantState(t, b, breaker.StateHalfOpen)
		p2(nil, time.Millisecond) // 1 of 2 slow: 50% reaches the rate
		wantState(t, b, breaker.StateOpen)
		oe := openError(t, call(t, b, nil, 0))
		if !strings.HasPrefix(oe.Reason, "1 of 2 half-open probes slower than 100ms") {
			t.Fatalf("reason %q", oe.Reason)
		}

		time.Sleep(31 * time.Second)
		call(t, b, nil, time.Millisecond)
		call(t, b, nil, time.Millisecond)
		wantState(t, b, breaker.StateClosed)
	})
}
