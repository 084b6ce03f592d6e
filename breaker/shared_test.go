package breaker_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/replyrocket/gormsession/breaker"
)

// fleetOf returns n Breakers of source "primary", instances "web-1" to
// "web-n", sharing one memFleet, each logging to its own observer.
func fleetOf(t *testing.T, n int, cfg breaker.Config, opts ...breaker.Option) ([]*breaker.Breaker, []*memLink, []*observer.ObservedLogs) {
	t.Helper()
	f := newMemFleet()
	bs := make([]*breaker.Breaker, n)
	logs := make([]*observer.ObservedLogs, n)
	for i := range n {
		var log *zap.Logger
		log, logs[i] = observed(zapcore.DebugLevel)
		bs[i] = breaker.New("primary", cfg, log, append(opts, breaker.WithShared(f.instance(fmt.Sprintf("web-%d", i+1))))...)
		if !bs[i].Shared() {
			t.Fatalf("breaker %d not shared", i)
		}
	}
	return bs, f.links, logs
}

func TestSharedOpenAndCloseSpread(t *testing.T) {
	for _, probes := range []uint32{1, 3} {
		t.Run(map[uint32]string{1: "one probe", 3: "three probes"}[probes], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.HalfOpenMaxRequests = probes
				bs, links, logs := fleetOf(t, 3, cfg)

				open(t, bs[0])
				for i, b := range bs[1:] {
					wantState(t, b, breaker.StateOpen)
					oe := openError(t, call(t, b, nil, 0))
					if !strings.HasPrefix(oe.Reason, "shared from web-1: 3 consecutive failures") || oe.RetryIn != 30*time.Second {
						t.Fatalf("web-%d rejection: %+v", i+2, oe)
					}
					if n := logs[i+1].FilterMessage("circuit breaker opened by another instance").Len(); n != 1 {
						t.Fatalf("web-%d logged %d remote openings, want 1", i+2, n)
					}
				}
				// Only web-1's own change is reported; the mirrored ones are not.
				if r := []int64{links[0].reports.Load(), links[1].reports.Load(), links[2].reports.Load()}; r[0] != 1 || r[1] != 0 || r[2] != 0 {
					t.Fatalf("reports = %v, want [1 0 0]", r)
				}

				// After OpenTimeout the first to ask gets the probes; the
				// others keep failing fast.
				time.Sleep(31 * time.Second)
				var dones []func(error, time.Duration)
				admitted := map[int]int{}
				for range 5 {
					for i, b := range []*breaker.Breaker{bs[2], bs[0], bs[1]} {
						done, err := b.Allow()
						if err != nil {
							oe := openError(t, err)
							if oe.State != breaker.StateHalfOpen {
								t.Fatalf("rejection while the fleet probes: %+v", oe)
							}
							continue
						}
						admitted[i]++
						dones = append(dones, done)
					}
				}
				if len(admitted) != 1 || admitted[0] != int(probes) {
					t.Fatalf("admitted by instance %v, want %d probes by web-3 alone", admitted, probes)
				}
				_, err := bs[0].Allow()
				if oe := openError(t, err); !strings.Contains(oe.Error(), "fleet's probe token") {
					t.Fatalf("non-holder rejection %q", oe.Error())
				}
				for _, done := range dones {
					done(nil, time.Millisecond)
				}
				for i, b := range bs {
					wantState(t, b, breaker.StateClosed)
					if i != 2 && logs[i].FilterMessage("circuit breaker closed by another instance").Len() != 1 {
						t.Fatalf("web-%d did not log the remote close", i+1)
					}
				}
				calls(t, bs[0], 10, nil)
			})
		})
	}
}

// A failed probe reopens every instance for a full OpenTimeout, and the
// next probe again goes to one instance only.
func TestSharedFailedProbeReopensAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, _, _ := fleetOf(t, 2, testConfig())
		open(t, bs[0])
		time.Sleep(31 * time.Second)
		probe, err := bs[1].Allow()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs[0].Allow(); err == nil {
			t.Fatal("web-1 admitted a second probe")
		}
		probe(errPool, time.Millisecond)
		for _, b := range bs {
			wantState(t, b, breaker.StateOpen)
			oe := openError(t, call(t, b, nil, 0))
			if oe.RetryIn != 30*time.Second {
				t.Fatalf("%+v: want a fresh 30s", oe)
			}
		}
		time.Sleep(31 * time.Second)
		n := 0
		for range 3 {
			for _, b := range bs {
				if done, err := b.Allow(); err == nil {
					n++
					defer done(nil, 0)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d probes after the reopening, want 1", n)
		}
	})
}

// The closed state never asks the fleet: the hot path is unchanged. Nor
// does an open breaker before its OpenTimeout: gobreaker answers.
func TestSharedAsksOnlyWhenDueToProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, links, _ := fleetOf(t, 2, testConfig())
		calls(t, bs[0], 1000, nil)
		open(t, bs[0])
		for range 100 {
			call(t, bs[0], nil, 0)
			call(t, bs[1], nil, 0)
		}
		if a, b := links[0].asks.Load(), links[1].asks.Load(); a+b != 0 {
			t.Fatalf("asked the fleet %d+%d times before OpenTimeout, want 0", a, b)
		}
		time.Sleep(31 * time.Second)
		call(t, bs[0], nil, 0)
		if links[0].asks.Load() != 1 {
			t.Fatalf("asks = %d after OpenTimeout, want 1", links[0].asks.Load())
		}
	})
}

func TestSharedModes(t *testing.T) {
	tests := []struct {
		name      string
		mode      breaker.Mode
		wantOpen  bool          // OpenedElsewhere's result
		wantState breaker.State // of web-2 after web-1 opened
		wantAllow bool          // web-2 admits a statement after web-1 opened
		asks      int64         // times web-2 asks for the probe past OpenTimeout
		reports   int64         // changes web-2 reports: only its own, in ModeNormal
	}{
		{"normal", breaker.ModeNormal, true, breaker.StateOpen, false, 1, 1},
		{"metrics-only", breaker.ModeMetricsOnly, true, breaker.StateOpen, true, 0, 0},
		{"forced-open", breaker.ModeForcedOpen, true, breaker.StateForcedOpen, false, 0, 0},
		{"disabled", breaker.ModeDisabled, false, breaker.StateClosed, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				bs, links, _ := fleetOf(t, 2, testConfig())
				bs[1].SetMode(tt.mode)
				if got := bs[1].OpenedElsewhere("web-1", "3 consecutive failures", 0); got != tt.wantOpen {
					t.Fatalf("OpenedElsewhere = %v, want %v", got, tt.wantOpen)
				}
				wantState(t, bs[1], tt.wantState)
				if _, err := bs[1].Allow(); (err == nil) != tt.wantAllow {
					t.Fatalf("Allow err = %v, want admitted %v", err, tt.wantAllow)
				}
				// Past OpenTimeout only ModeNormal asks for the probe (and
				// reports its own turn to half-open): metrics-only never
				// rejects, forced-open never probes.
				time.Sleep(31 * time.Second)
				if done, err := bs[1].Allow(); err == nil {
					done(nil, 0)
				}
				if a, r := links[1].asks.Load(), links[1].reports.Load(); a != tt.asks || r < tt.reports || (tt.reports == 0 && r != 0) {
					t.Fatalf("asks %d, reports %d; want %d, %d", a, r, tt.asks, tt.reports)
				}
			})
		})
	}
}

// Changes a metrics-only breaker would make are not spread: the others
// would reject for real.
func TestSharedMetricsOnlyDoesNotReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs, links, _ := fleetOf(t, 2, testConfig())
		bs[0].SetMode(breaker.ModeMetricsOnly)
		calls(t, bs[0], 3, errPool)
		wantState(t, bs[0], breaker.StateOpen)
		wantState(t, bs[1], breaker.StateClosed)
		if links[0].reports.Load() != 0 {
			t.Fatal("metrics-only change reported")
		}
	})
}

func TestSharedRemoteChangesReachTheHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []string
		hook := breaker.WithOnStateChange(func(_ string, from, to breaker.State, _ breaker.Counts) {
			got = append(got, from.String()+">"+to.String())
		})
		f := newMemFleet()
		b := breaker.New("primary", testConfig(), nil, hook, breaker.WithShared(f.instance("web-2")))
		if !b.OpenedElsewhere("web-1", "x", 0) || b.OpenedElsewhere("web-1", "again", 0) {
			t.Fatal("OpenedElsewhere: want true, then false while open")
		}
		if !b.ClosedElsewhere("web-1") || b.ClosedElsewhere("web-1") {
			t.Fatal("ClosedElsewhere: want true, then false while closed")
		}
		if strings.Join(got, " ") != "closed>open open>closed" || b.Transitions() != 2 {
			t.Fatalf("hook saw %v, %d transitions", got, b.Transitions())
		}
	})
}

type nilShared struct{ attached atomic.Int64 }

func (n *nilShared) Attach(*breaker.Breaker) breaker.SharedLink { n.attached.Add(1); return nil }

func TestSharedNil(t *testing.T) {
	ns := &nilShared{}
	for name, b := range map[string]*breaker.Breaker{
		"WithShared(nil)": breaker.New("primary", testConfig(), nil, breaker.WithShared(nil)),
		"nil link":        breaker.New("primary", testConfig(), nil, breaker.WithShared(ns)),
		"no option":       breaker.New("primary", testConfig(), nil),
	} {
		if b.Shared() {
			t.Errorf("%s: Shared() = true", name)
		}
	}
	if ns.attached.Load() != 1 {
		t.Errorf("Attach called %d times, want 1", ns.attached.Load())
	}
	var nb *breaker.Breaker
	if nb.OpenedElsewhere("a", "b", 0) || nb.ClosedElsewhere("a") || nb.Shared() {
		t.Error("nil Breaker: want false everywhere")
	}
}

// An open breaker is opened anew only when the fleet stays open longer
// than its own timer: a poll that reads the open key again must not keep
// extending it.
func TestOpenedElsewhereWhileOpen(t *testing.T) {
	tests := []struct {
		name        string
		elapsed     time.Duration // since this breaker opened
		retryIn     time.Duration // the fleet's open period left
		wantRetryIn time.Duration // RetryIn afterwards
	}{
		{"fresh timer, fresh fleet open", 0, 30 * time.Second, 30 * time.Second},
		{"timer covers the fleet's", 10 * time.Second, 18 * time.Second, 20 * time.Second},
		{"fleet reopened later", 20 * time.Second, 30 * time.Second, 30 * time.Second},
		{"timer run out, unknown period", 31 * time.Second, 0, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				log, logs := observed(zapcore.DebugLevel)
				b := breaker.New("primary", testConfig(), log, breaker.WithShared(newMemFleet().instance("web-2")))
				open(t, b)
				time.Sleep(tt.elapsed)
				before := b.Transitions()
				if b.OpenedElsewhere("web-1", "x", tt.retryIn) {
					t.Fatal("OpenedElsewhere on an open breaker reported a change")
				}
				oe := openError(t, call(t, b, nil, 0))
				if oe.State != breaker.StateOpen || oe.RetryIn != tt.wantRetryIn {
					t.Fatalf("after: %+v, want open, retry in %s", oe, tt.wantRetryIn)
				}
				if b.Transitions() != before || logs.FilterMessage("circuit breaker half-open").Len() != 0 {
					t.Fatalf("opening anew was logged as a change: %d transitions, logs %v", b.Transitions()-before, logs.All())
				}
			})
		})
	}
}

// Statements on three shared breakers, with every outcome and short
// timeouts, while the fleet opens and closes them from other goroutines.
// Run with -race: afterwards each breaker must still work.
func TestSharedConcurrent(t *testing.T) {
	cfg := breaker.Config{ConsecutiveFailures: 3, OpenTimeout: 2 * time.Millisecond, HalfOpenMaxRequests: 2, Interval: 20 * time.Millisecond}
	bs, _, _ := fleetOf(t, 3, cfg)
	outcomes := []error{nil, nil, errPool, errTimeout}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var admitted atomic.Int64
	for i, b := range bs {
		for g := range 4 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					if done, err := b.Allow(); err == nil {
						admitted.Add(1)
						done(outcomes[(n+g+i)%len(outcomes)], time.Duration(n%3)*time.Millisecond)
					}
				}
			})
		}
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				if n%2 == 0 {
					b.OpenedElsewhere("chaos", "test", time.Duration(n%5)*time.Millisecond)
				} else {
					b.ClosedElsewhere("chaos")
				}
				_ = b.Status()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if admitted.Load() == 0 {
		t.Fatal("nothing admitted")
	}
	for _, b := range bs {
		b.ClosedElsewhere("test")
		wantState(t, b, breaker.StateClosed)
		calls(t, b, 5, nil)
	}
}
