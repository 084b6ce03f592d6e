package breaker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// The real-database tests start listener and pool goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Infrastructure errors as the plugin produces them.
var (
	errPool    = fmt.Errorf("acquire connection: %w", errclass.ErrPoolTimeout)
	errTimeout = fmt.Errorf("SELECT * FROM users: %w", errclass.ErrQueryTimeout)
)

// testConfig trips after 3 failures in a row, or at half failures over 10.
func testConfig() breaker.Config {
	return breaker.Config{
		ConsecutiveFailures: 3,
		FailureRatio:        0.5,
		MinRequests:         10,
		Interval:            time.Minute,
		OpenTimeout:         30 * time.Second,
		HalfOpenMaxRequests: 1,
	}
}

// call runs one statement through b that ends with err after elapsed. It
// returns Allow's error, and checks Allow's contract: exactly one of done
// and the error is nil.
func call(t *testing.T, b *breaker.Breaker, err error, elapsed time.Duration) error {
	t.Helper()
	done, aerr := b.Allow()
	if (done == nil) == (aerr == nil) {
		t.Fatalf("Allow returned done=%v err=%v: want exactly one nil", done != nil, aerr)
	}
	if aerr != nil {
		if !errors.Is(aerr, errclass.ErrCircuitOpen) {
			t.Fatalf("Allow error %v does not wrap ErrCircuitOpen", aerr)
		}
		return aerr
	}
	done(err, elapsed)
	return nil
}

// calls runs n statements that all end with err, failing the test if one
// is rejected.
func calls(t *testing.T, b *breaker.Breaker, n int, err error) {
	t.Helper()
	for i := range n {
		if aerr := call(t, b, err, time.Millisecond); aerr != nil {
			t.Fatalf("statement %d of %d rejected: %v", i+1, n, aerr)
		}
	}
}

func wantState(t *testing.T, b *breaker.Breaker, want breaker.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state = %s, want %s (counts %+v)", got, want, b.Counts())
	}
}

func openError(t *testing.T, err error) *breaker.OpenError {
	t.Helper()
	var oe *breaker.OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *OpenError", err, err)
	}
	return oe
}

func observed(level zapcore.Level) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	return zap.New(core), logs
}
