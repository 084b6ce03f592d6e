package redisshare_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/breaker/redisshare"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

const (
	msgDown = "shared circuit breaker: Redis unreachable; each breaker works on its own until it is back"
	msgUp   = "shared circuit breaker: Redis reachable again; breakers are shared again"
)

// Failures seen by one instance open the other's breaker; whichever probes
// after OpenTimeout, its success closes both.
func TestTwoInstancesOpenAndCloseTogether(t *testing.T) {
	for _, tt := range []struct {
		name   string
		prober int // the member that sends the probe
	}{
		{"the other instance probes", 1},
		{"the instance that opened probes", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opt := redisOptions(t)
			p := prefix(t)
			ms := []*member{
				newMember(t, client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-1"}, testConfig()),
				newMember(t, client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-2"}, testConfig()),
			}
			trip(t, ms[0].b)
			took := waitFor(t, "web-2 to open", func() bool { return ms[1].b.State() == breaker.StateOpen })
			t.Logf("web-2 opened %s after web-1", took)
			_, err := ms[1].b.Allow()
			var oe *breaker.OpenError
			if !errors.As(err, &oe) || !strings.HasPrefix(oe.Reason, "shared from web-1: 3 consecutive failures") {
				t.Fatalf("web-2 Allow: %v, want a rejection naming web-1", err)
			}
			if n := ms[1].logs.FilterMessage("circuit breaker opened by another instance").Len(); n != 1 {
				t.Fatalf("web-2 logged %d remote openings, want 1", n)
			}

			other := ms[1-tt.prober]
			done := probe(t, ms[tt.prober].b)
			if _, err := other.b.Allow(); err == nil {
				t.Fatal("a second instance was admitted while the probe is in flight")
			}
			done(nil, time.Millisecond)
			waitFor(t, "both to close", func() bool {
				return ms[0].b.State() == breaker.StateClosed && ms[1].b.State() == breaker.StateClosed
			})
			if n := other.logs.FilterMessage("circuit breaker closed by another instance").Len(); n != 1 {
				t.Fatalf("the other instance logged %d remote closings, want 1", n)
			}
			for _, m := range ms {
				if m.fleet.Degraded() || m.logs.FilterMessage(msgDown).Len() != 0 {
					t.Fatal("a healthy Redis was reported unreachable")
				}
			}
		})
	}
}

// Five instances hammer their breakers while the fleet is due to probe:
// exactly one statement goes through, across all of them, until the
// probe's outcome is known; a failed probe reopens all for a full
// OpenTimeout, and the next round again admits exactly one.
func TestOneProbeAcrossInstances(t *testing.T) {
	opt := redisOptions(t)
	p := prefix(t)
	const n = 5
	ms := make([]*member, n)
	for i := range ms {
		ms[i] = newMember(t, client(t, opt, ""), redisshare.Options{Prefix: p, Instance: fmt.Sprintf("web-%d", i+1), ProbeLease: 10 * time.Second}, testConfig())
	}
	trip(t, ms[0].b)
	waitFor(t, "all to open", func() bool {
		for _, m := range ms {
			if m.b.State() != breaker.StateOpen {
				return false
			}
		}
		return true
	})

	// round hammers every member for d and returns the dones admitted.
	round := func(d time.Duration) []func(error, time.Duration) {
		var mu sync.Mutex
		var dones []func(error, time.Duration)
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for _, m := range ms {
			for range 4 {
				wg.Go(func() {
					for time.Now().Before(stop) {
						if done, err := m.b.Allow(); err == nil {
							mu.Lock()
							dones = append(dones, done)
							mu.Unlock()
						}
						time.Sleep(200 * time.Microsecond)
					}
				})
			}
		}
		wg.Wait()
		return dones
	}

	// The open period (400ms) passes inside the round.
	dones := round(1200 * time.Millisecond)
	if len(dones) != 1 {
		t.Fatalf("%d statements admitted across %d instances, want the one probe", len(dones), n)
	}
	dones[0](errPool, time.Millisecond) // the probe fails: all reopen
	for _, m := range ms {
		if _, err := m.b.Allow(); err == nil {
			t.Fatal("admitted right after the failed probe")
		}
	}
	dones = round(time.Second)
	if len(dones) != 1 {
		t.Fatalf("second round: %d admitted, want 1", len(dones))
	}
	dones[0](nil, time.Millisecond)
	took := waitFor(t, "all to close", func() bool {
		for _, m := range ms {
			if m.b.State() != breaker.StateClosed {
				return false
			}
		}
		return true
	})
	t.Logf("every instance closed %s after the probe succeeded", took)
}

// A breaker created after the fleet opened (a new instance starting, or a
// source first used) opens from the open key, without a push.
func TestLateInstanceReadsTheOpenKey(t *testing.T) {
	opt := redisOptions(t)
	p := prefix(t)
	cfg := testConfig()
	cfg.OpenTimeout = 5 * time.Second
	first := newMember(t, client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-1"}, cfg)
	trip(t, first.b)
	// web-1's push has gone out before web-2 subscribed; only the key tells.
	time.Sleep(100 * time.Millisecond)
	late := newMember(t, client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-2"}, cfg)
	waitFor(t, "the late instance to open", func() bool { return late.b.State() == breaker.StateOpen })
}

// Redis down from the start: each breaker works on its own, the Fleet says
// so once, and no statement waits for Redis.
func TestRedisUnreachableFallsBackToLocal(t *testing.T) {
	opt := &redis.Options{}
	m := newMember(t, client(t, opt, testdb.ClosedAddr(t)), redisshare.Options{Prefix: prefix(t), Instance: "web-1"}, testConfig())
	waitFor(t, "the Fleet to notice", m.fleet.Degraded)

	var slowest time.Duration
	timed := func() (func(error, time.Duration), error) {
		start := time.Now()
		done, err := m.b.Allow()
		slowest = max(slowest, time.Since(start))
		return done, err
	}
	for range 3 {
		done, err := timed()
		if err != nil {
			t.Fatal(err)
		}
		done(errPool, time.Millisecond)
	}
	time.Sleep(testConfig().OpenTimeout + 50*time.Millisecond)
	// The probe goes through at once, without a token.
	done, err := timed()
	if err != nil {
		t.Fatalf("probe with Redis down: %v", err)
	}
	done(nil, time.Millisecond)
	if s := m.b.State(); s != breaker.StateClosed {
		t.Fatalf("state %s after the local probe, want closed", s)
	}
	for range 1000 {
		done, err := timed()
		if err != nil {
			t.Fatal(err)
		}
		done(nil, 0)
	}
	time.Sleep(500 * time.Millisecond) // more polls and reconnects fail meanwhile
	if n := m.logs.FilterMessage(msgDown).Len(); n != 1 {
		t.Fatalf("%d %q lines, want 1", n, msgDown)
	}
	// Waiting on Redis would take its Timeout (1s); -race on a loaded
	// machine can stall a call for tens of ms.
	if slowest > 500*time.Millisecond {
		t.Fatalf("slowest Allow took %s with Redis down", slowest)
	}
}

// Redis cut in the middle of a run (through a FaultProxy), in two ways:
// refused and reset, or silently blackholed. The cut instance works on its
// own and says so once; once Redis is back, sharing resumes.
func TestRedisCutMidRun(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cut, fix func(*sessiontest.FaultProxy)
	}{
		{"refused and reset",
			func(p *sessiontest.FaultProxy) { p.SetRefuse(true); p.ResetAll() },
			func(p *sessiontest.FaultProxy) { p.SetRefuse(false) }},
		{"blackholed",
			func(p *sessiontest.FaultProxy) { p.SetBlackhole(true) },
			func(p *sessiontest.FaultProxy) { p.SetBlackhole(false); p.ResetAll() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opt := redisOptions(t)
			proxy, err := sessiontest.NewFaultProxy(opt.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			p := prefix(t)
			cut := newMember(t, client(t, opt, proxy.Addr()), redisshare.Options{Prefix: p, Instance: "web-1"}, testConfig())
			other := newMember(t, client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-2"}, testConfig())

			// Shared while Redis is there.
			trip(t, cut.b)
			waitFor(t, "web-2 to open", func() bool { return other.b.State() == breaker.StateOpen })
			probe(t, other.b)(nil, time.Millisecond)
			waitFor(t, "web-1 to close", func() bool { return cut.b.State() == breaker.StateClosed })

			tt.cut(proxy)
			// Statements keep flowing at full speed while the Fleet finds out.
			var slowest time.Duration
			waitFor(t, "web-1 to notice", func() bool {
				start := time.Now()
				done, err := cut.b.Allow()
				if err != nil {
					t.Fatalf("Redis trouble failed a statement: %v", err)
				}
				done(nil, 0)
				slowest = max(slowest, time.Since(start))
				return cut.fleet.Degraded()
			})
			// A call that waited on Redis would take its Timeout (1s); a
			// loaded machine under -race can stall one for tens of ms.
			if slowest > 500*time.Millisecond {
				t.Fatalf("an Allow took %s while Redis was cut", slowest)
			}
			// On its own: web-1 opens and recovers locally, web-2 hears nothing.
			trip(t, cut.b)
			time.Sleep(testConfig().OpenTimeout + 50*time.Millisecond)
			if s := other.b.State(); s != breaker.StateClosed {
				t.Fatalf("web-2 %s: learned of web-1's outage without Redis", s)
			}
			done, err := cut.b.Allow()
			if err != nil {
				t.Fatalf("web-1's local probe: %v", err)
			}
			done(nil, time.Millisecond)
			if n := cut.logs.FilterMessage(msgDown).Len(); n != 1 {
				t.Fatalf("%d %q lines, want 1", n, msgDown)
			}

			tt.fix(proxy)
			waitFor(t, "web-1 to reconnect", func() bool { return !cut.fleet.Degraded() })
			if n := cut.logs.FilterMessage(msgUp).Len(); n != 1 {
				t.Fatalf("%d %q lines, want 1", n, msgUp)
			}
			trip(t, cut.b)
			waitFor(t, "web-2 to open again", func() bool { return other.b.State() == breaker.StateOpen })
		})
	}
}

func TestNewRejects(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: testdb.ClosedAddr(t)})
	defer rdb.Close()
	for _, tt := range []struct {
		name string
		rdb  redis.UniversalClient
		opts redisshare.Options
		want string
	}{
		{"nil client", nil, redisshare.Options{}, "nil Redis client"},
		{"negative PollInterval", rdb, redisshare.Options{PollInterval: -1}, "Options.PollInterval -1ns"},
		{"negative Timeout and ProbeLease", rdb, redisshare.Options{Timeout: -time.Second, ProbeLease: -time.Second}, "Options.Timeout -1s: must not be negative (0 means the default)\nredisshare: Options.ProbeLease -1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := redisshare.New(tt.rdb, tt.opts)
			if f != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want nil and an error containing %q", f, err, tt.want)
			}
		})
	}
}

// After Close the breakers keep working on their own, and the Fleet links
// no new one. A nil Fleet shares nothing.
func TestClose(t *testing.T) {
	core, logs := zapcoreObserver()
	rdb := redis.NewClient(&redis.Options{Addr: testdb.ClosedAddr(t)})
	defer rdb.Close()
	f, err := redisshare.New(rdb, redisshare.Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	b := breaker.New("primary", testConfig(), nil, breaker.WithShared(f))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	trip(t, b)
	time.Sleep(testConfig().OpenTimeout + 50*time.Millisecond)
	done, err := b.Allow()
	if err != nil {
		t.Fatalf("probe after Close: %v", err)
	}
	done(nil, 0)
	if breaker.New("primary", testConfig(), nil, breaker.WithShared(f)).Shared() {
		t.Fatal("a closed Fleet linked a new breaker")
	}
	var nf *redisshare.Fleet
	if nf.Attach(b) != nil || nf.Close() != nil || nf.Degraded() || nf.Instance() != "" {
		t.Fatal("nil Fleet")
	}
	if breaker.New("primary", testConfig(), nil, breaker.WithShared(nf)).Shared() {
		t.Fatal("a nil *Fleet linked a breaker")
	}
	if n := logs.Load(); n > 1 {
		t.Fatalf("%d log lines", n)
	}
}

// zapcoreObserver counts log lines.
func zapcoreObserver() (zapcore.Core, *atomic.Int64) {
	var n atomic.Int64
	return zapcore.RegisterHooks(zapcore.NewNopCore(), func(zapcore.Entry) error { n.Add(1); return nil }), &n
}

// Two breakers of one source on the same Fleet (two plugins in one
// process) share like two processes do, and sources stay apart.
func TestSiblingsAndSources(t *testing.T) {
	opt := redisOptions(t)
	p := prefix(t)
	fa, err := redisshare.New(client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-1", PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fa.Close() })
	fb, err := redisshare.New(client(t, opt, ""), redisshare.Options{Prefix: p, Instance: "web-2", PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fb.Close() })
	sets := []*breaker.Set{
		breaker.NewSet(testConfig(), nil, breaker.WithShared(fa)),
		breaker.NewSet(testConfig(), nil, breaker.WithShared(fa)),
		breaker.NewSet(testConfig(), nil, breaker.WithShared(fb)),
	}
	for _, s := range sets {
		s.Get("primary")
		s.Get("replica-1")
	}
	trip(t, sets[0].Get("replica-1"))
	waitFor(t, "the sibling and web-2 to open replica-1", func() bool {
		return sets[1].Get("replica-1").State() == breaker.StateOpen && sets[2].Get("replica-1").State() == breaker.StateOpen
	})
	for i, s := range sets {
		if st := s.Get("primary").State(); st != breaker.StateClosed {
			t.Fatalf("set %d: primary %s, want closed: sources must not mix", i, st)
		}
	}
}
