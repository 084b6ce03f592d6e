package breaker_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
)

// fakePool stands for a replica's *sql.DB: a named gorm.ConnPool whose
// PingContext answers as told. Statements are never run on it: the policy
// only routes.
type fakePool struct {
	name  string
	pings atomic.Int64
	// pingErr is what PingContext returns; nil means success.
	pingErr atomic.Pointer[error]
	// gate, when set (before use), holds every ping until it is closed or
	// the ping's context ends.
	gate chan struct{}
}

var errNoStatements = errors.New("fakePool runs no statements")

func (f *fakePool) PrepareContext(context.Context, string) (*sql.Stmt, error) {
	return nil, errNoStatements
}
func (f *fakePool) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errNoStatements
}
func (f *fakePool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errNoStatements
}
func (f *fakePool) QueryRowContext(context.Context, string, ...any) *sql.Row { return nil }

func (f *fakePool) PingContext(ctx context.Context) error {
	f.pings.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if e := f.pingErr.Load(); e != nil {
		return *e
	}
	return nil
}

func (f *fakePool) failPings(err error) { f.pingErr.Store(&err) }

// unpingable is a named replica without PingContext.
type unpingable struct {
	gorm.ConnPool
	name string
}

func (u unpingable) Name() string { return u.name }

func nameOf(pool gorm.ConnPool) string {
	switch p := pool.(type) {
	case *fakePool:
		return p.name
	case interface{ Name() string }:
		return p.Name()
	}
	return ""
}

// policyConfig trips after 3 failures in a row and probes after 200ms.
func policyConfig() breaker.Config {
	c := testConfig()
	c.OpenTimeout = 200 * time.Millisecond
	return c
}

// put drives b into one of the states the policy ranks.
func put(t *testing.T, b *breaker.Breaker, state string) {
	t.Helper()
	switch state {
	case "usable":
	case "suspect":
		calls(t, b, 1, errPool)
	case "open":
		calls(t, b, 3, errPool)
		wantState(t, b, breaker.StateOpen)
	case "due": // open past its OpenTimeout
		calls(t, b, 3, errPool)
		time.Sleep(b.Config().OpenTimeout + 10*time.Millisecond)
	case "forced-open":
		b.SetMode(breaker.ModeForcedOpen)
	case "disabled":
		calls(t, b, 3, errPool)
		b.SetMode(breaker.ModeDisabled)
	case "metrics-only":
		calls(t, b, 3, errPool)
		b.SetMode(breaker.ModeMetricsOnly)
	default:
		t.Fatalf("unknown state %q", state)
	}
}

// picks calls Resolve n times and returns the names it got, sorted and
// without repeats.
func picks(pol *breaker.Policy, pools []gorm.ConnPool, n int) []string {
	var got []string
	for range n {
		got = append(got, nameOf(pol.Resolve(pools)))
	}
	slices.Sort(got)
	return slices.Compact(got)
}

// Where reads go, by the state of each replica's breaker and of the
// primary's. Probes hang here (until Close), so states do not move.
func TestPolicyRouting(t *testing.T) {
	tests := []struct {
		name         string
		r1, r2       string
		primary      string // state of the primary's breaker
		primaryIn    bool   // the primary is in dbresolver's list too
		noPrimary    bool   // no PolicyConfig.Primary
		want         []string
		wantProbedR1 bool
	}{
		{name: "all usable", r1: "usable", r2: "usable", primary: "usable", want: []string{"r1", "r2"}},
		{name: "all usable, primary listed", r1: "usable", r2: "usable", primary: "usable", primaryIn: true, want: []string{"r1", "r2"}},
		{name: "one suspect", r1: "suspect", r2: "usable", primary: "usable", want: []string{"r2"}, wantProbedR1: true},
		{name: "one open", r1: "open", r2: "usable", primary: "usable", want: []string{"r2"}},
		{name: "one due", r1: "due", r2: "usable", primary: "usable", want: []string{"r2"}, wantProbedR1: true},
		{name: "one forced open", r1: "forced-open", r2: "usable", primary: "usable", want: []string{"r2"}},
		{name: "disabled breaker is usable", r1: "disabled", r2: "open", primary: "usable", want: []string{"r1"}},
		{name: "metrics-only breaker is usable", r1: "metrics-only", r2: "open", primary: "usable", want: []string{"r1"}},
		{name: "all open: primary", r1: "open", r2: "forced-open", primary: "usable", want: []string{"primary"}},
		{name: "all open: listed primary", r1: "open", r2: "open", primary: "usable", primaryIn: true, want: []string{"primary"}},
		{name: "suspects only: primary first", r1: "suspect", r2: "suspect", primary: "usable", want: []string{"primary"}, wantProbedR1: true},
		{name: "suspect primary still preferred", r1: "suspect", r2: "open", primary: "suspect", want: []string{"primary"}, wantProbedR1: true},
		{name: "primary open: suspects", r1: "suspect", r2: "open", primary: "open", want: []string{"r1"}, wantProbedR1: true},
		{name: "everything open: primary fails fast", r1: "open", r2: "open", primary: "open", want: []string{"primary"}},
		{name: "no primary, all open: a replica fails fast", r1: "open", r2: "open", noPrimary: true, want: []string{"r1", "r2"}},
		{name: "no primary, suspects", r1: "suspect", r2: "open", noPrimary: true, want: []string{"r1"}, wantProbedR1: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := breaker.NewSet(policyConfig(), nil)
			primary, r1, r2 := &fakePool{name: "primary"}, &fakePool{name: "r1"}, &fakePool{name: "r2"}
			for _, f := range []*fakePool{primary, r1, r2} {
				f.gate = make(chan struct{}) // never closed: probes hang until Close
			}
			cfg := breaker.PolicyConfig{Name: nameOf, ProbeTimeout: time.Minute}
			if !tt.noPrimary {
				cfg.Primary = primary
			}
			pol := breaker.NewPolicy(set, cfg)
			put(t, set.Get("r1"), tt.r1)
			put(t, set.Get("r2"), tt.r2)
			if !tt.noPrimary {
				put(t, set.Get("primary"), tt.primary)
			}
			pools := []gorm.ConnPool{r1, r2}
			if tt.primaryIn {
				pools = []gorm.ConnPool{primary, r1, r2}
			}
			got := picks(pol, pools, 200)
			if !slices.Equal(got, tt.want) {
				t.Errorf("reads went to %v, want %v", got, tt.want)
			}
			pol.Close()
			if probed := r1.pings.Load() > 0; probed != tt.wantProbedR1 {
				t.Errorf("r1 pinged %d times, want probed=%v", r1.pings.Load(), tt.wantProbedR1)
			}
			if n := primary.pings.Load(); n != 0 {
				t.Errorf("the primary was pinged %d times: the policy never probes it", n)
			}
			// Close cut the hanging probe: it counts for nothing.
			if c := set.Get("r1").Counts(); tt.wantProbedR1 && c.Failures > 3 {
				t.Errorf("r1 counts after Close %+v: a cut probe counted as a failure", c)
			}
		})
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testdb.WaitFor(t, 5*time.Second, what, cond)
}

// What the health check does to a replica's breaker, and when the replica
// gets reads again.
func TestPolicyProbes(t *testing.T) {
	tests := []struct {
		name      string
		from      string
		pingErr   error
		wantState breaker.State
		wantBack  bool // r1 gets reads again
	}{
		{name: "suspect, ping ok: back in rotation", from: "suspect", wantState: breaker.StateClosed, wantBack: true},
		{name: "suspect, ping refused: opened by pings", from: "suspect", pingErr: errPool, wantState: breaker.StateOpen},
		{name: "suspect, ping timeout: opened by pings", from: "suspect", pingErr: context.DeadlineExceeded, wantState: breaker.StateOpen},
		{name: "due, ping ok: closed without a user read", from: "due", wantState: breaker.StateClosed, wantBack: true},
		{name: "due, ping fails: open again", from: "due", pingErr: errPool, wantState: breaker.StateOpen},
		{name: "suspect, ping answered by the database: success", from: "suspect", pingErr: errors.New("ERROR: permission denied (SQLSTATE 42501)"), wantState: breaker.StateClosed, wantBack: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := policyConfig()
			cfg.OpenTimeout = time.Hour // a reopened breaker stays open for the check
			if tt.from == "due" {
				cfg.OpenTimeout = 30 * time.Millisecond
			}
			set := breaker.NewSet(cfg, nil)
			primary, r1, r2 := &fakePool{name: "primary"}, &fakePool{name: "r1", gate: make(chan struct{})}, &fakePool{name: "r2"}
			if tt.pingErr != nil {
				r1.failPings(tt.pingErr)
			}
			pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf, Primary: primary, ProbeTimeout: time.Second})
			defer pol.Close()
			b := set.Get("r1")
			put(t, b, tt.from)
			before := b.Transitions()
			pools := []gorm.ConnPool{r1, r2}
			if got := picks(pol, pools, 50); slices.Contains(got, "r1") {
				t.Fatalf("reads went to %v while r1 is %s", got, tt.from)
			}
			close(r1.gate) // the probe answers
			if tt.from == "due" && tt.pingErr != nil {
				// Reopened: wait for the half-open probe's verdict.
				waitFor(t, "the probe to reopen r1", func() bool { return b.Transitions() >= before+2 })
			}
			waitFor(t, "r1's breaker to settle", func() bool {
				s := b.State()
				switch {
				case tt.wantState == breaker.StateClosed:
					return s == breaker.StateClosed && b.Counts().ConsecutiveFailures == 0
				case tt.from == "due":
					// Reopened; past its short OpenTimeout it reads half-open.
					return s == breaker.StateOpen || s == breaker.StateHalfOpen
				}
				return s == tt.wantState
			})
			pol.Close() // waits for the probe to end
			got := picks(pol, pools, 200)
			if back := slices.Contains(got, "r1"); back != tt.wantBack {
				t.Errorf("after the probe reads went to %v; want r1 among them: %v", got, tt.wantBack)
			}
			if r1.pings.Load() == 0 {
				t.Error("r1 was never pinged")
			}
			if r2.pings.Load() != 0 {
				t.Errorf("the usable r2 was pinged %d times", r2.pings.Load())
			}
		})
	}
}

// A replica without PingContext cannot be probed: user reads probe it, as
// they would without the policy.
func TestPolicyUnpingable(t *testing.T) {
	tests := []struct {
		state string
		want  []string
	}{
		{"suspect", []string{"r1"}},  // suspect counts as usable
		{"due", []string{"primary"}}, // due counts as suspect: after the primary
		{"open", []string{"primary"}},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			set := breaker.NewSet(policyConfig(), nil)
			primary := &fakePool{name: "primary"}
			r1, r2 := unpingable{&fakePool{}, "r1"}, &fakePool{name: "r2"}
			pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf, Primary: primary})
			defer pol.Close()
			put(t, set.Get("r1"), tt.state)
			put(t, set.Get("r2"), "open")
			if got := picks(pol, []gorm.ConnPool{r1, r2}, 200); !slices.Equal(got, tt.want) {
				t.Errorf("reads went to %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("due, no primary: the user read is the probe", func(t *testing.T) {
		set := breaker.NewSet(policyConfig(), nil)
		r1, r2 := unpingable{&fakePool{}, "r1"}, &fakePool{name: "r2"}
		pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf})
		defer pol.Close()
		put(t, set.Get("r1"), "due")
		put(t, set.Get("r2"), "open")
		if got := picks(pol, []gorm.ConnPool{r1, r2}, 50); !slices.Equal(got, []string{"r1"}) {
			t.Errorf("reads went to %v, want [r1]", got)
		}
	})
}

// Probing off (negative ProbeTimeout): same as no PingContext.
func TestPolicyProbesOff(t *testing.T) {
	set := breaker.NewSet(policyConfig(), nil)
	primary, r1, r2 := &fakePool{name: "primary"}, &fakePool{name: "r1"}, &fakePool{name: "r2"}
	pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf, Primary: primary, ProbeTimeout: -1})
	defer pol.Close()
	put(t, set.Get("r1"), "suspect")
	if got := picks(pol, []gorm.ConnPool{r1, r2}, 200); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("reads went to %v, want [r1 r2]", got)
	}
	if n := r1.pings.Load(); n != 0 {
		t.Errorf("r1 pinged %d times with probes off", n)
	}
}

// Nil and zero inputs.
func TestPolicyZeroValues(t *testing.T) {
	r1, r2 := &fakePool{name: "r1"}, &fakePool{name: "r2"}
	pools := []gorm.ConnPool{r1, r2}
	t.Run("nil policy picks at random", func(t *testing.T) {
		var pol *breaker.Policy
		if got := picks(pol, pools, 200); !slices.Equal(got, []string{"r1", "r2"}) {
			t.Errorf("reads went to %v", got)
		}
		if pol.Resolve(nil) != nil {
			t.Error("nil policy, empty list: want nil")
		}
		if err := pol.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Run("nil set: only the primary is kept out", func(t *testing.T) {
		primary := &fakePool{name: "primary"}
		pol := breaker.NewPolicy(nil, breaker.PolicyConfig{Name: nameOf, Primary: primary})
		defer pol.Close()
		if got := picks(pol, []gorm.ConnPool{primary, r1, r2}, 200); !slices.Equal(got, []string{"r1", "r2"}) {
			t.Errorf("reads went to %v", got)
		}
	})
	t.Run("no name: never avoided", func(t *testing.T) {
		set := breaker.NewSet(policyConfig(), nil)
		pol := breaker.NewPolicy(set, breaker.PolicyConfig{})
		defer pol.Close()
		set.Get("r1").SetMode(breaker.ModeForcedOpen)
		if got := picks(pol, pools, 200); !slices.Equal(got, []string{"r1", "r2"}) {
			t.Errorf("reads went to %v", got)
		}
	})
	t.Run("empty list gives the primary", func(t *testing.T) {
		primary := &fakePool{name: "primary"}
		pol := breaker.NewPolicy(nil, breaker.PolicyConfig{Primary: primary})
		defer pol.Close()
		if got := pol.Resolve(nil); got != gorm.ConnPool(primary) {
			t.Errorf("Resolve(nil) = %v, want the primary", got)
		}
	})
	t.Run("list of only the primary", func(t *testing.T) {
		primary := &fakePool{name: "primary"}
		pol := breaker.NewPolicy(nil, breaker.PolicyConfig{Name: nameOf, Primary: primary})
		defer pol.Close()
		if got := pol.Resolve([]gorm.ConnPool{primary}); got != gorm.ConnPool(primary) {
			t.Errorf("got %v, want the primary", got)
		}
	})
	t.Run("Close twice, Resolve after Close", func(t *testing.T) {
		set := breaker.NewSet(policyConfig(), nil)
		pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf})
		pol.Close()
		pol.Close()
		put(t, set.Get("r1"), "suspect")
		if got := picks(pol, pools, 50); !slices.Equal(got, []string{"r2"}) {
			t.Errorf("reads went to %v", got)
		}
		if n := r1.pings.Load(); n != 0 {
			t.Errorf("closed policy pinged r1 %d times", n)
		}
	})
}

// Name is called once per pool of a list, however often and from however
// many goroutines the list is resolved; a new slice with the same pools is
// a new list (bounded).
func TestPolicyNamesOnce(t *testing.T) {
	var calls atomic.Int64
	name := func(p gorm.ConnPool) string { calls.Add(1); return nameOf(p) }
	pol := breaker.NewPolicy(breaker.NewSet(policyConfig(), nil), breaker.PolicyConfig{Name: name})
	defer pol.Close()
	pools := []gorm.ConnPool{&fakePool{name: "r1"}, &fakePool{name: "r2"}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				pol.Resolve(pools)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("Name called %d times, want 2", n)
	}
	for range 200 {
		pol.Resolve(slices.Clone(pools))
	}
	if n := calls.Load(); n > 2+2*200 {
		t.Errorf("Name called %d times", n)
	}
}

// The routing costs no allocation, with every replica usable and with the
// set of usable ones changed (its list is cached).
func TestPolicyAllocs(t *testing.T) {
	set := breaker.NewSet(policyConfig(), nil)
	primary := &fakePool{name: "primary"}
	pools := []gorm.ConnPool{primary, &fakePool{name: "r1"}, &fakePool{name: "r2"}, &fakePool{name: "r3"}}
	pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf, Primary: primary, Choose: dbresolver.StrictRoundRobinPolicy()})
	defer pol.Close()
	for _, tt := range []struct {
		name  string
		setup func()
	}{
		{"all usable", func() {}},
		{"one forced open", func() { set.Get("r2").SetMode(breaker.ModeForcedOpen) }},
		{"all forced open", func() {
			set.Get("r1").SetMode(breaker.ModeForcedOpen)
			set.Get("r3").SetMode(breaker.ModeForcedOpen)
		}},
	} {
		tt.setup()
		pol.Resolve(pools) // learn the list and the subset
		if n := testing.AllocsPerRun(200, func() { pol.Resolve(pools) }); n != 0 {
			t.Errorf("%s: %v allocations per Resolve, want 0", tt.name, n)
		}
	}
}

// Resolve races with state changes, probes and Close (run with -race).
func TestPolicyConcurrent(t *testing.T) {
	cfg := policyConfig()
	cfg.OpenTimeout = 5 * time.Millisecond
	set := breaker.NewSet(cfg, nil)
	primary := &fakePool{name: "primary"}
	reps := []*fakePool{{name: "r1"}, {name: "r2"}, {name: "r3"}}
	reps[0].failPings(errPool)
	pools := []gorm.ConnPool{primary, reps[0], reps[1], reps[2]}
	pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf, Primary: primary, ProbeTimeout: 50 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				got := pol.Resolve(pools)
				if got == nil {
					t.Error("Resolve returned nil")
					return
				}
				// Statements on the chosen replica: some fail.
				if f := got.(*fakePool); f != primary {
					var err error
					if f == reps[0] || (g+i)%7 == 0 {
						err = errPool
					}
					if done, aerr := set.Get(f.name).Allow(); aerr == nil {
						done(err, time.Millisecond)
					}
				}
			}
		})
	}
	wg.Go(func() {
		modes := []breaker.Mode{breaker.ModeForcedOpen, breaker.ModeNormal, breaker.ModeMetricsOnly, breaker.ModeNormal}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			set.Get(reps[1+i%2].name).SetMode(modes[i%len(modes)])
		}
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := pol.Close(); err != nil {
		t.Fatal(err)
	}
	if reps[0].pings.Load() == 0 {
		t.Error("the failing r1 was never probed")
	}
	t.Logf("pings: r1 %d, r2 %d, r3 %d", reps[0].pings.Load(), reps[1].pings.Load(), reps[2].pings.Load())
}

// Resolve's cost per read, with three replicas and one of them open.
func BenchmarkPolicyResolve(b *testing.B) {
	set := breaker.NewSet(policyConfig(), nil)
	primary := &fakePool{name: "primary"}
	pools := []gorm.ConnPool{&fakePool{name: "r1"}, &fakePool{name: "r2"}, &fakePool{name: "r3"}}
	for _, bc := range []struct {
		name  string
		setup func()
	}{
		{"all usable", func() {}},
		{"one forced open", func() { set.Get("r2").SetMode(breaker.ModeForcedOpen) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pol := breaker.NewPolicy(set, breaker.PolicyConfig{Name: nameOf, Primary: primary})
			defer pol.Close()
			bc.setup()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pol.Resolve(pools)
				}
			})
		})
	}
	b.Run("dbresolver.RandomPolicy", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				dbresolver.RandomPolicy{}.Resolve(pools)
			}
		})
	})
}
