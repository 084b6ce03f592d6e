package breaker_test

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
)

// memFleet is a breaker.Shared for instances in one process: what
// breaker/redisshare does across processes through Redis, without the
// network. Each instance gets its own Shared from instance.
type memFleet struct {
	mu     sync.Mutex
	links  []*memLink
	holder map[string]*memLink // source → the instance holding the probe token
}

func newMemFleet() *memFleet { return &memFleet{holder: map[string]*memLink{}} }

// instance returns the Shared of the instance called name.
func (f *memFleet) instance(name string) breaker.Shared { return memInstance{f, name} }

type memInstance struct {
	f    *memFleet
	name string
}

func (i memInstance) Attach(b *breaker.Breaker) breaker.SharedLink {
	l := &memLink{f: i.f, name: i.name, b: b}
	i.f.mu.Lock()
	i.f.links = append(i.f.links, l)
	i.f.mu.Unlock()
	return l
}

// memLink is one Breaker's link. It counts what it was told and asked.
type memLink struct {
	f       *memFleet
	name    string
	b       *breaker.Breaker
	reports atomic.Int64
	asks    atomic.Int64
}

// Report spreads opening and closing to the other instances' Breakers of
// the same source, and gives the probe token back.
func (l *memLink) Report(t breaker.Transition) {
	l.reports.Add(1)
	if t.To != breaker.StateOpen && t.To != breaker.StateClosed {
		return
	}
	l.f.mu.Lock()
	if l.f.holder[t.Source] == l {
		delete(l.f.holder, t.Source)
	}
	var others []*memLink
	for _, o := range l.f.links {
		if o != l && o.b.Name() == t.Source {
			others = append(others, o)
		}
	}
	l.f.mu.Unlock()
	for _, o := range others {
		if t.To == breaker.StateOpen {
			o.b.OpenedElsewhere(l.name, t.Reason, 0)
		} else {
			o.b.ClosedElsewhere(l.name)
		}
	}
}

// ProbeAllowed hands the source's probe token to the first instance that
// asks, until it reports the probe's outcome.
func (l *memLink) ProbeAllowed() bool {
	l.asks.Add(1)
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	src := l.b.Name()
	if l.f.holder[src] == nil {
		l.f.holder[src] = l
	}
	return l.f.holder[src] == l
}

// Two instances of a service share the breaker of their database: the
// first one's failures open the second one's breaker too. The Shared here
// lives in memory; breaker/redisshare is the one to use across processes.
func ExampleWithShared() {
	fleet := newMemFleet()
	cfg := breaker.DefaultConfig()
	cfg.ConsecutiveFailures = 3
	web1 := breaker.New("primary", cfg, nil, breaker.WithShared(fleet.instance("web-1")))
	web2 := breaker.New("primary", cfg, nil, breaker.WithShared(fleet.instance("web-2")))

	for range 3 {
		done, _ := web1.Allow()
		done(fmt.Errorf("dial tcp 10.0.0.5:5432: %w", errclass.ErrPoolTimeout), 0)
	}
	_, err := web2.Allow() // web-2 never failed
	fmt.Println(web1.State(), web2.State())
	fmt.Println(err)
	// Output:
	// open open
	// breaker "primary" open: shared from web-1: 3 consecutive failures (dial tcp 10.0.0.5:5432: pool timeout), retry in 30s
}
