package breaker_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/replyrocket/gormsession/breaker"
)

func TestValidate(t *testing.T) {
	if err := breaker.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if err := (breaker.Config{}).Validate(); err != nil {
		t.Fatalf("zero Config (all defaults): %v", err)
	}
	bad := breaker.Config{
		FailureRatio:      1.5,
		SlowCallRate:      math.NaN(),
		Interval:          -time.Second,
		OpenTimeout:       -time.Minute,
		SlowCallThreshold: -time.Millisecond,
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad Config")
	}
	for _, want := range []string{
		"FailureRatio 1.5: must be in (0,1]",
		"SlowCallRate NaN: must be in (0,1]",
		"Interval -1s: must not be negative",
		"OpenTimeout -1m0s: must not be negative",
		"SlowCallThreshold -1ms: must not be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q:\n%v", want, err)
		}
	}
	if err := (breaker.Config{FailureRatio: -0.1}).Validate(); err == nil {
		t.Error("negative FailureRatio accepted")
	}
}

func TestDefaultsFillZeroAndInvalid(t *testing.T) {
	got := breaker.New("x", breaker.Config{FailureRatio: 7, Interval: -1}, nil).Config()
	if got != breaker.DefaultConfig() {
		t.Fatalf("New filled in %+v, want %+v", got, breaker.DefaultConfig())
	}
}
