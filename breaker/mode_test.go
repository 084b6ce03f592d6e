package breaker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/replyrocket/gormsession/breaker"
)

func TestModeForcedOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("replica-1", testConfig(), nil)
		b.SetMode(breaker.ModeForcedOpen)
		wantState(t, b, breaker.StateForcedOpen)
		for range 3 {
			err := call(t, b, nil, 0)
			oe := openError(t, err)
			if oe.State != breaker.StateForcedOpen || err.Error() != `breaker "replica-1" forced-open: set by operator, retry after its mode is set back to normal` {
				t.Fatalf("forced-open rejection %+v: %q", oe, err)
			}
		}
		if c := b.Counts(); c.Rejected != 3 {
			t.Fatalf("Rejected = %d, want 3", c.Rejected)
		}
		b.SetMode(breaker.ModeNormal)
		wantState(t, b, breaker.StateClosed)
		calls(t, b, 5, nil)
	})
}

func TestModeDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		b.SetMode(breaker.ModeDisabled)
		calls(t, b, 100, errPool)
		wantState(t, b, breaker.StateClosed)
		if c := b.Counts(); c != (breaker.Counts{}) {
			t.Fatalf("disabled breaker counted: %+v", c)
		}

		// Disabled while a half-open probe is in flight: its done frees
		// the slot without counting.
		b.SetMode(breaker.ModeNormal)
		open(t, b)
		time.Sleep(31 * time.Second)
		probe, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		b.SetMode(breaker.ModeDisabled)
		probe(errPool, 0)
		b.SetMode(breaker.ModeNormal)
		wantState(t, b, breaker.StateHalfOpen)
		calls(t, b, 1, nil)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestConfigDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Disabled = true
		b := breaker.NewSet(cfg, nil).Get("primary")
		if b.Mode() != breaker.ModeDisabled {
			t.Fatalf("mode = %s, want disabled", b.Mode())
		}
		calls(t, b, 100, errPool)
		wantState(t, b, breaker.StateClosed)
	})
}

func TestModeMetricsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logger, logs := observed(zapcore.InfoLevel)
		b := breaker.New("primary", testConfig(), logger)
		b.SetMode(breaker.ModeMetricsOnly)
		calls(t, b, 3, errPool)
		wantState(t, b, breaker.StateOpen) // it would be open...
		calls(t, b, 4, errPool)            // ...but lets everything through
		if c := b.Counts(); c.Rejected != 4 {
			t.Fatalf("Rejected (would-be) = %d, want 4", c.Rejected)
		}
		opened := logs.FilterMessage("circuit breaker would turn open (metrics-only mode)").All()
		if len(opened) != 1 || opened[0].Level != zapcore.WarnLevel || opened[0].ContextMap()["mode"] != "metrics-only" {
			t.Fatalf("metrics-only open log = %+v", opened)
		}

		time.Sleep(31 * time.Second)
		wantState(t, b, breaker.StateHalfOpen)
		probe, _ := b.Allow()   // the probe gobreaker admits
		calls(t, b, 3, errPool) // the rest pass uncounted
		probe(nil, time.Millisecond)
		wantState(t, b, breaker.StateClosed)
		if n := b.Transitions(); n != 3 {
			t.Fatalf("transitions = %d, want 3 (open, half-open, closed)", n)
		}
	})
}

func TestSetModeUnknownIgnored(t *testing.T) {
	logger, logs := observed(zapcore.ErrorLevel)
	b := breaker.New("primary", testConfig(), logger)
	b.SetMode(breaker.Mode(42))
	if b.Mode() != breaker.ModeNormal || logs.Len() != 1 {
		t.Fatalf("mode %s after SetMode(42), %d error lines", b.Mode(), logs.Len())
	}
}

func TestParseMode(t *testing.T) {
	for m := breaker.ModeNormal; m <= breaker.ModeMetricsOnly; m++ {
		got, err := breaker.ParseMode(m.String())
		if err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := breaker.ParseMode("off"); err == nil {
		t.Fatal(`ParseMode("off") succeeded`)
	}
}

func TestReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hooked []string
		b := breaker.New("primary", testConfig(), nil, breaker.WithOnStateChange(
			func(source string, from, to breaker.State, c breaker.Counts) {
				hooked = append(hooked, from.String()+">"+to.String())
			}))
		calls(t, b, 2, errPool)
		late, _ := b.Allow() // admitted before Reset, ends after
		calls(t, b, 1, errPool)
		wantState(t, b, breaker.StateOpen)

		b.Reset()
		wantState(t, b, breaker.StateClosed)
		if c := b.Counts(); c != (breaker.Counts{}) {
			t.Fatalf("counts after Reset = %+v", c)
		}
		late(errPool, 0) // belongs to the old breaker: ignored
		calls(t, b, 2, errPool)
		wantState(t, b, breaker.StateClosed)
		if c := b.Counts(); c.Failures != 2 {
			t.Fatalf("failures after Reset = %d, want 2", c.Failures)
		}
		if want := []string{"closed>open", "open>closed"}; len(hooked) != 2 || hooked[0] != want[0] || hooked[1] != want[1] {
			t.Fatalf("hook saw %v, want %v", hooked, want)
		}
		if b.Transitions() != 2 {
			t.Fatalf("transitions = %d", b.Transitions())
		}

		// Reset keeps the mode.
		b.SetMode(breaker.ModeForcedOpen)
		b.Reset()
		wantState(t, b, breaker.StateForcedOpen)
	})
}
