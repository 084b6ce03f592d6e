package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// A GORM callback gates each statement with Allow and reports with done.
func Example() {
	cfg := breaker.DefaultConfig()
	cfg.ConsecutiveFailures = 3
	set := breaker.NewSet(cfg, nil)

	statement := func(ctx context.Context, run func() error) error {
		done, err := set.Get("primary").Allow()
		if err != nil {
			return err // not sent: the source is failing
		}
		start := time.Now()
		err = run()
		if ctx.Err() != nil {
			// The caller gave up: not the database's fault.
			done(breaker.Excluded(err), time.Since(start))
		} else {
			done(err, time.Since(start))
		}
		return err
	}

	ctx := context.Background()
	for range 3 {
		statement(ctx, func() error {
			return fmt.Errorf("SELECT 1 ran past 2s: %w", errclass.ErrQueryTimeout)
		})
	}
	err := statement(ctx, func() error { return nil })
	fmt.Println(set.Get("primary").State())
	fmt.Println(errors.Is(err, errclass.ErrCircuitOpen))
	fmt.Println(err)
	// Output:
	// open
	// true
	// breaker "primary" open: 3 consecutive failures (SELECT 1 ran past 2s: query timeout), retry in 30s
}

// An operator takes a replica out of rotation, then puts it back.
func ExampleBreaker_SetMode() {
	b := breaker.New("replica-1", breaker.DefaultConfig(), nil)
	b.SetMode(breaker.ModeForcedOpen)
	_, err := b.Allow()
	fmt.Println(err)
	b.SetMode(breaker.ModeNormal)
	_, err = b.Allow()
	fmt.Println(b.State(), err)
	// Output:
	// breaker "replica-1" forced-open: set by operator, retry after its mode is set back to normal
	// closed <nil>
}
