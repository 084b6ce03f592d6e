package breaker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/replyrocket/gormsession/breaker"
)

// Admit fills the caller's Permit and counts like Allow; it refuses with
// the same *OpenError; the zero Permit and a refused one do nothing on Done.
func TestAdmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := breaker.New("primary", testConfig(), nil)
		for range 3 {
			var p breaker.Permit
			if err := b.Admit(&p); err != nil {
				t.Fatal(err)
			}
			p.Done(errTimeout, time.Millisecond)
			p.Done(nil, time.Millisecond) // only the first counts
		}
		wantState(t, b, breaker.StateOpen)
		var refused breaker.Permit
		err := b.Admit(&refused)
		if openError(t, err).State != breaker.StateOpen {
			t.Fatalf("Admit on an open breaker: %v", err)
		}
		refused.Done(nil, 0) // does nothing: not admitted
		var zero breaker.Permit
		zero.Done(errTimeout, 0)
		if c := b.Counts(); c.Rejected != 1 {
			t.Errorf("Counts = %+v, want one rejection", c)
		}
	})
}

func TestAdmitEdges(t *testing.T) {
	var nilBreaker *breaker.Breaker
	var p breaker.Permit
	if err := nilBreaker.Admit(&p); err != nil {
		t.Errorf("nil breaker: %v, want admitted", err)
	}
	p.Done(errTimeout, 0)
	b := breaker.New("primary", testConfig(), nil)
	if err := b.Admit(nil); err == nil || err.Error() != "breaker: Admit with a nil *Permit" {
		t.Errorf("Admit(nil) = %v", err)
	}
	if c := b.Counts(); c.Requests != 0 {
		t.Errorf("Admit(nil) counted: %+v", c)
	}
	b.SetMode(breaker.ModeDisabled)
	if err := b.Admit(&p); err != nil {
		t.Errorf("disabled: %v", err)
	}
}

// The point of Admit: a closed breaker admits a statement with no
// allocation at all.
func TestAdmitAllocatesNothing(t *testing.T) {
	b := breaker.New("primary", testConfig(), nil)
	var p breaker.Permit
	n := testing.AllocsPerRun(1000, func() {
		p = breaker.Permit{}
		if err := b.Admit(&p); err != nil {
			t.Fatal(err)
		}
		p.Done(nil, time.Millisecond)
	})
	if n != 0 {
		t.Errorf("Admit+Done: %v allocs, want 0", n)
	}
}
