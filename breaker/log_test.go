package breaker_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/replyrocket/gormsession/breaker"
)

type change struct {
	source   string
	from, to breaker.State
	counts   breaker.Counts
}

func TestStateChangesLoggedWithCountsBeforeTheChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logger, logs := observed(zapcore.DebugLevel)
		var changes []change
		var b *breaker.Breaker
		b = breaker.New("primary", testConfig(), logger, breaker.WithOnStateChange(
			func(source string, from, to breaker.State, c breaker.Counts) {
				_ = b.State() // calling back into the breaker must not deadlock
				changes = append(changes, change{source, from, to, c})
			}))

		calls(t, b, 1, nil)
		calls(t, b, 1, context.Canceled) // excluded
		calls(t, b, 3, errPool)
		time.Sleep(10 * time.Second)
		call(t, b, nil, 0)
		call(t, b, nil, 0)
		time.Sleep(21 * time.Second)
		calls(t, b, 1, nil)

		lines := logs.All()
		if len(lines) != 3 {
			t.Fatalf("got %d log lines, want 3: %+v", len(lines), lines)
		}
		wantLine := func(i int, level zapcore.Level, msg, from, to string, counts map[string]any) {
			t.Helper()
			l := lines[i]
			f := l.ContextMap()
			if l.Level != level || l.Message != msg || f["source"] != "primary" || f["from"] != from || f["to"] != to {
				t.Fatalf("line %d = %s %q %v", i, l.Level, l.Message, f)
			}
			got := f["counts"].(map[string]any)
			for k, v := range counts {
				if got[k] != v {
					t.Fatalf("line %d counts.%s = %v, want %v (all %v)", i, k, got[k], v, got)
				}
			}
		}
		wantLine(0, zapcore.WarnLevel, "circuit breaker opened", "closed", "open", map[string]any{
			"requests": uint32(5), "successes": uint32(1), "failures": uint32(3),
			"excluded": uint32(1), "consecutive_failures": uint32(3),
		})
		if r := lines[0].ContextMap()["reason"].(string); !strings.HasPrefix(r, "3 consecutive failures (acquire connection: pool timeout)") {
			t.Fatalf("reason %q", r)
		}
		if d := lines[0].ContextMap()["retry_in"]; d != 30*time.Second {
			t.Fatalf("retry_in %v", d)
		}
		wantLine(1, zapcore.InfoLevel, "circuit breaker half-open", "open", "half-open", map[string]any{
			"requests": uint32(0), "rejected": uint32(2),
		})
		wantLine(2, zapcore.InfoLevel, "circuit breaker closed", "half-open", "closed", map[string]any{
			"requests": uint32(1), "successes": uint32(1),
		})

		want := []change{
			{"primary", breaker.StateClosed, breaker.StateOpen, breaker.Counts{Requests: 5, Successes: 1, Failures: 3, Excluded: 1, ConsecutiveFailures: 3}},
			{"primary", breaker.StateOpen, breaker.StateHalfOpen, breaker.Counts{Rejected: 2}},
			{"primary", breaker.StateHalfOpen, breaker.StateClosed, breaker.Counts{Requests: 1, Successes: 1}},
		}
		if !reflect.DeepEqual(changes, want) {
			t.Fatalf("hook saw\n%+v\nwant\n%+v", changes, want)
		}
		if b.Transitions() != 3 {
			t.Fatalf("transitions = %d", b.Transitions())
		}
		st := b.Status()
		if st.State != breaker.StateClosed || !st.Since.Equal(time.Now()) || st.Transitions != 3 {
			t.Fatalf("status = %+v", st)
		}
	})
}

func TestForcedOpenLogged(t *testing.T) {
	logger, logs := observed(zapcore.InfoLevel)
	b := breaker.New("primary", testConfig(), logger)
	b.SetMode(breaker.ModeForcedOpen)
	b.SetMode(breaker.ModeNormal)
	changed := logs.FilterMessage("circuit breaker mode changed").All()
	if len(changed) != 2 || changed[0].Level != zapcore.WarnLevel || changed[0].ContextMap()["to"] != "forced-open" ||
		changed[1].ContextMap()["to"] != "closed" {
		t.Fatalf("mode change lines: %+v", changed)
	}
}
