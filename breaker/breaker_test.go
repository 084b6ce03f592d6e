package breaker_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
)

func TestConsecutiveFailuresOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		calls(t, b, 2, errPool)
		calls(t, b, 1, nil) // a success breaks the run
		calls(t, b, 2, errTimeout)
		wantState(t, b, breaker.StateClosed)
		calls(t, b, 1, errTimeout)
		wantState(t, b, breaker.StateOpen)

		time.Sleep(18 * time.Second)
		err := call(t, b, nil, 0)
		oe := openError(t, err)
		if oe.Source != "primary" || oe.State != breaker.StateOpen || oe.RetryIn != 12*time.Second {
			t.Fatalf("OpenError = %+v", oe)
		}
		want := `breaker "primary" open: 3 consecutive failures (SELECT * FROM users: query timeout), retry in 12s`
		if err.Error() != want {
			t.Fatalf("error text\n got %s\nwant %s", err, want)
		}
		if c := errclass.Classify(err); c != errclass.CircuitOpen {
			t.Fatalf("Classify(rejection) = %q, want circuit_open", c)
		}
		if got := b.Counts().Rejected; got != 1 {
			t.Fatalf("Rejected = %d, want 1", got)
		}
	})
}

func TestFailureRatioOpens(t *testing.T) {
	cfg := testConfig()
	cfg.ConsecutiveFailures = 1000
	t.Run("on a failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", cfg, nil)
			for range 4 { // 4 of 8, under MinRequests
				calls(t, b, 1, nil)
				calls(t, b, 1, errPool)
			}
			calls(t, b, 1, nil) // 4 of 9
			wantState(t, b, breaker.StateClosed)
			calls(t, b, 1, errPool) // 5 of 10
			wantState(t, b, breaker.StateOpen)
			oe := openError(t, call(t, b, nil, 0))
			if !strings.HasPrefix(oe.Reason, "failure ratio 50% (5 of 10) reached 50%") {
				t.Fatalf("reason %q", oe.Reason)
			}
		})
	})
	t.Run("on the success that reaches MinRequests", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", cfg, nil)
			calls(t, b, 5, errPool)
			calls(t, b, 4, nil)
			wantState(t, b, breaker.StateClosed)
			calls(t, b, 1, nil) // 5 of 10
			wantState(t, b, breaker.StateOpen)
		})
	})
	t.Run("below the ratio", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", cfg, nil)
			for range 50 {
				calls(t, b, 1, errPool)
				calls(t, b, 2, nil)
			}
			wantState(t, b, breaker.StateClosed)
		})
	})
}

func TestIntervalStartsAFreshWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		calls(t, b, 2, errPool)
		time.Sleep(time.Minute + time.Second)
		calls(t, b, 2, errPool) // 2 in a row in this window, not 4
		wantState(t, b, breaker.StateClosed)
		if c := b.Counts(); c.Failures != 2 || c.ConsecutiveFailures != 2 || c.Requests != 2 {
			t.Fatalf("counts after the interval = %+v, want 2 requests, 2 failures", c)
		}
		calls(t, b, 1, errPool)
		wantState(t, b, breaker.StateOpen)
	})
}

// The database answered: whatever it said, it is up.
func TestDatabaseAnswersNeverOpen(t *testing.T) {
	answers := []error{
		&mysql.MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}, Message: "Duplicate entry 'a@b.c' for key 'users.email'"},
		&pgconn.PgError{Severity: "ERROR", Code: "23505", Message: `duplicate key value violates unique constraint "users_email_key"`},
		&pgconn.PgError{Severity: "ERROR", Code: "42601", Message: `syntax error at or near "SELEC"`},
		&pgconn.PgError{Severity: "ERROR", Code: "40P01", Message: "deadlock detected"},
		&mysql.MySQLError{Number: 1146, Message: "Table 'test.nope' doesn't exist"},
		gorm.ErrRecordNotFound,
		fmt.Errorf("load user 7: %w", gorm.ErrRecordNotFound),
		sql.ErrNoRows,
	}
	for _, answer := range answers {
		t.Run(fmt.Sprintf("%T %v", answer, answer), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.ConsecutiveFailures = 1
				b := breaker.New("primary", cfg, nil)
				calls(t, b, 100, answer)
				wantState(t, b, breaker.StateClosed)
				if c := b.Counts(); c.Successes != 100 || c.Failures != 0 {
					t.Fatalf("counts = %+v, want 100 successes", c)
				}
			})
		})
	}
}

func TestCallerGivingUpNeverCounts(t *testing.T) {
	expired, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-expired.Done()
	ownCancel, cancel2 := context.WithCancel(context.Background())
	cancel2()
	excluded := []error{
		context.Canceled,
		fmt.Errorf("SELECT 1: %w", ownCancel.Err()),
		errors.Join(errors.New("read tcp: use of closed connection"), context.Canceled),
		breaker.Excluded(expired.Err()),
		breaker.Excluded(fmt.Errorf("SELECT 1: %w", errclass.ErrQueryTimeout)),
		fmt.Errorf("gorm: %w", breaker.Excluded(context.DeadlineExceeded)),
	}
	for _, err := range excluded {
		t.Run(err.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.ConsecutiveFailures = 1
				b := breaker.New("primary", cfg, nil)
				calls(t, b, 50, err)
				wantState(t, b, breaker.StateClosed)
				if c := b.Counts(); c.Excluded != 50 || c.Successes+c.Failures != 0 {
					t.Fatalf("counts = %+v, want 50 excluded", c)
				}
			})
		})
	}
	t.Run("does not break a run of failures", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", testConfig(), nil)
			calls(t, b, 2, errPool)
			calls(t, b, 5, context.Canceled)
			calls(t, b, 1, errPool)
			wantState(t, b, breaker.StateOpen)
		})
	})
	t.Run("a deadline not marked Excluded is a timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", testConfig(), nil)
			calls(t, b, 3, context.DeadlineExceeded)
			wantState(t, b, breaker.StateOpen)
		})
	})
	if breaker.Excluded(nil) != nil {
		t.Fatal("Excluded(nil) != nil")
	}
	if e := breaker.Excluded(context.DeadlineExceeded); !errors.Is(e, context.DeadlineExceeded) || e.Error() != context.DeadlineExceeded.Error() {
		t.Fatalf("Excluded hides its error: %v", e)
	}
}

// open trips b with failures and checks it.
func open(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	calls(t, b, int(b.Config().ConsecutiveFailures), errPool)
	wantState(t, b, breaker.StateOpen)
}

func TestHalfOpen(t *testing.T) {
	t.Run("success closes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", testConfig(), nil)
			open(t, b)
			time.Sleep(30*time.Second - time.Nanosecond)
			oe := openError(t, call(t, b, nil, 0))
			if oe.RetryIn != time.Nanosecond || !strings.HasSuffix(oe.Error(), "retry in 1ms") {
				t.Fatalf("just before OpenTimeout: %+v %q", oe, oe.Error())
			}
			time.Sleep(2 * time.Nanosecond) // gobreaker: strictly after OpenTimeout
			wantState(t, b, breaker.StateHalfOpen)

			probe, err := b.Allow()
			if err != nil {
				t.Fatalf("half-open rejected the probe: %v", err)
			}
			oe = openError(t, call(t, b, nil, 0)) // the one probe is in flight
			if oe.State != breaker.StateHalfOpen || oe.Error() != `breaker "primary" half-open: all 1 half-open probes in flight, retry now` {
				t.Fatalf("second statement while half-open: %+v %q", oe, oe.Error())
			}
			probe(nil, time.Millisecond)
			wantState(t, b, breaker.StateClosed)
			calls(t, b, 10, nil)
		})
	})
	t.Run("failure reopens", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", testConfig(), nil)
			open(t, b)
			time.Sleep(31 * time.Second)
			calls(t, b, 1, errTimeout)
			wantState(t, b, breaker.StateOpen)
			oe := openError(t, call(t, b, nil, 0))
			if oe.RetryIn != 30*time.Second || !strings.HasPrefix(oe.Reason, "half-open probe failed (SELECT * FROM users: query timeout)") {
				t.Fatalf("after a failed probe: %+v", oe)
			}
		})
	})
	t.Run("answered error closes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", testConfig(), nil)
			open(t, b)
			time.Sleep(31 * time.Second)
			calls(t, b, 1, gorm.ErrRecordNotFound)
			wantState(t, b, breaker.StateClosed)
		})
	})
	t.Run("canceled probe frees its slot", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := breaker.New("primary", testConfig(), nil)
			open(t, b)
			time.Sleep(31 * time.Second)
			calls(t, b, 1, context.Canceled)
			wantState(t, b, breaker.StateHalfOpen)
			calls(t, b, 1, nil)
			wantState(t, b, breaker.StateClosed)
		})
	})
}

func TestHalfOpenMaxRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.HalfOpenMaxRequests = 3
		b := breaker.New("primary", cfg, nil)
		open(t, b)
		time.Sleep(31 * time.Second)
		var probes []func(error, time.Duration)
		for range 3 {
			done, err := b.Allow()
			if err != nil {
				t.Fatalf("probe %d rejected: %v", len(probes)+1, err)
			}
			probes = append(probes, done)
		}
		for range 5 {
			oe := openError(t, call(t, b, nil, 0))
			if oe.State != breaker.StateHalfOpen {
				t.Fatalf("4th statement: %+v", oe)
			}
		}
		probes[0](nil, 0)
		probes[1](nil, 0)
		wantState(t, b, breaker.StateHalfOpen)
		if c := b.Counts(); c.Requests != 3 || c.Successes != 2 || c.Rejected != 5 {
			t.Fatalf("half-open counts = %+v", c)
		}
		probes[2](nil, 0)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestDoneIsIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		done, _ := b.Allow()
		done(errPool, 0)
		done(errPool, 0)
		done(nil, 0)
		if c := b.Counts(); c.Failures != 1 || c.Successes != 0 || c.ConsecutiveFailures != 1 {
			t.Fatalf("counts after done x3 = %+v, want one failure", c)
		}

		// A second done of a half-open probe must not close the breaker
		// behind a newer probe's back, nor count twice.
		calls(t, b, 2, errPool)
		wantState(t, b, breaker.StateOpen)
		time.Sleep(31 * time.Second)
		probe, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		probe(errPool, 0)
		wantState(t, b, breaker.StateOpen)
		probe(nil, 0)
		wantState(t, b, breaker.StateOpen)
	})
}

func TestDoneOnEveryPath(t *testing.T) {
	// A statement that panics still reports through done (deferred, as
	// the plugin's callbacks do), so half-open ends.
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		open(t, b)
		time.Sleep(31 * time.Second)
		func() {
			defer func() { _ = recover() }()
			done, err := b.Allow()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var stmtErr error = errPool
			defer func() { done(stmtErr, time.Since(start)) }()
			panic("scan into a nil pointer")
		}()
		wantState(t, b, breaker.StateOpen)
		time.Sleep(31 * time.Second)
		calls(t, b, 1, nil)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestNilBreakerAndSet(t *testing.T) {
	var s *breaker.Set
	b := s.Get("primary")
	if b != nil {
		t.Fatal("nil Set returned a Breaker")
	}
	calls(t, b, 10, errPool)
	if b.State() != breaker.StateClosed || b.Mode() != breaker.ModeNormal || b.Counts() != (breaker.Counts{}) {
		t.Fatal("nil Breaker is not a closed no-op")
	}
	b.SetMode(breaker.ModeForcedOpen)
	b.Reset()
	if s.All() != nil || len(s.Snapshot()) != 0 {
		t.Fatal("nil Set lists Breakers")
	}
}
