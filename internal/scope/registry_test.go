package scope

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// ids returns the IDs of scopes, sorted.
func ids(scopes []*Scope) []uint64 {
	out := make([]uint64, len(scopes))
	for i, s := range scopes {
		out[i] = s.ID
	}
	slices.Sort(out)
	return out
}

// eachIDs returns the IDs Each visits, sorted.
func eachIDs(r *Registry) []uint64 {
	var seen []*Scope
	r.Each(func(s *Scope) { seen = append(seen, s) })
	return ids(seen)
}

func TestRegistryOpenClose(t *testing.T) {
	type step struct {
		op   string // open, close
		i    int    // which scope
		want bool   // close's result
	}
	cases := []struct {
		name  string
		n     int // scopes
		steps []step
		open  []int // the scopes open at the end
	}{
		{"open close", 1, []step{{"open", 0, false}, {"close", 0, true}}, nil},
		{"close never opened", 1, []step{{"close", 0, false}}, nil},
		{"double close", 1, []step{{"open", 0, false}, {"close", 0, true}, {"close", 0, false}}, nil},
		{"reopen after close", 1, []step{{"open", 0, false}, {"close", 0, true}, {"open", 0, false}}, []int{0}},
		{"reopen then close", 1, []step{{"open", 0, false}, {"close", 0, true}, {"open", 0, false}, {"close", 0, true}, {"close", 0, false}}, nil},
		{"close head", 3, []step{{"open", 0, false}, {"open", 1, false}, {"open", 2, false}, {"close", 2, true}}, []int{0, 1}},
		{"close middle", 3, []step{{"open", 0, false}, {"open", 1, false}, {"open", 2, false}, {"close", 1, true}}, []int{0, 2}},
		{"close tail", 3, []step{{"open", 0, false}, {"open", 1, false}, {"open", 2, false}, {"close", 0, true}}, []int{1, 2}},
		{"close all", 3, []step{{"open", 0, false}, {"open", 1, false}, {"open", 2, false}, {"close", 1, true}, {"close", 0, true}, {"close", 2, true}}, nil},
		// 65 scopes: two land in the same shard (IDs 1 and 65).
		{"same shard", 65, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Registry
			scopes := make([]*Scope, tc.n)
			for i := range scopes {
				scopes[i] = &Scope{Start: time.Unix(0, int64(i))}
			}
			steps := tc.steps
			if steps == nil && tc.n > 3 {
				for i := range tc.n {
					steps = append(steps, step{"open", i, false})
				}
				for i := range tc.n {
					steps = append(steps, step{"close", i, true})
				}
			}
			var opened, closed uint64
			for _, st := range steps {
				switch st.op {
				case "open":
					r.Open(scopes[st.i])
					opened++
				case "close":
					if got := r.Close(scopes[st.i]); got != st.want {
						t.Fatalf("Close(scope %d) = %v, want %v", st.i, got, st.want)
					}
					if st.want {
						closed++
					}
				}
			}
			want := make([]*Scope, len(tc.open))
			for i, j := range tc.open {
				want[i] = scopes[j]
			}
			if got := r.Active(); !slices.Equal(got, want) {
				t.Fatalf("Active() = %v, want %v", ids(got), ids(want))
			}
			if got := eachIDs(&r); !slices.Equal(got, ids(want)) {
				t.Fatalf("Each saw %v, want %v", got, ids(want))
			}
			c := r.Counts()
			if c.Opened != opened || c.Closed != closed || c.Active != int64(len(tc.open)) {
				t.Fatalf("Counts() = %+v, want opened %d, closed %d, active %d", c, opened, closed, len(tc.open))
			}
		})
	}
}

func TestRegistryNil(t *testing.T) {
	var r Registry
	r.Open(nil)
	if r.Close(nil) {
		t.Fatal("Close(nil) = true")
	}
	if c := r.Counts(); c != (Counts{}) {
		t.Fatalf("Counts() = %+v after nil Open and Close", c)
	}
}

// A scope belongs to the registry that opened it: another one neither
// closes it nor counts it.
func TestRegistryCloseInOther(t *testing.T) {
	var a, b Registry
	first, s := &Scope{}, &Scope{}
	a.Open(first)
	a.Open(s) // not the head of its shard's list in a
	b.Open(&Scope{})
	b.Open(&Scope{}) // b's shard for s.ID is not empty
	if b.Close(s) {
		t.Fatal("b closed a scope a opened")
	}
	if got := eachIDs(&a); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("a holds %v, want [1 2]", got)
	}
	if !a.Close(s) || !a.Close(first) {
		t.Fatal("a did not close its own scopes")
	}
	if c := b.Counts(); c.Active != 2 || c.Closed != 0 {
		t.Fatalf("b's counts %+v", c)
	}
}

// Active lists oldest first, by Start then ID, whatever the shards.
func TestRegistryActiveOrder(t *testing.T) {
	var r Registry
	base := time.Now()
	starts := []time.Duration{5, 1, 3, 1, 0, 9, 2, 2, 7}
	var scopes []*Scope
	for i := range 200 {
		s := &Scope{Start: base.Add(starts[i%len(starts)] * time.Millisecond)}
		r.Open(s)
		scopes = append(scopes, s)
	}
	for _, s := range scopes[:50] {
		r.Close(s)
	}
	got := r.Active()
	if len(got) != 150 {
		t.Fatalf("%d active, want 150", len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b *Scope) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return int(a.ID) - int(b.ID)
	}) {
		t.Fatal("Active() is not oldest first")
	}
	if !slices.Equal(ids(got), ids(scopes[50:])) {
		t.Fatal("Active() does not hold exactly the open scopes")
	}
}

// Concurrent Open, Close (twice, racing) and listings keep the counts and
// the open set exact; run with -race.
func TestRegistryConcurrent(t *testing.T) {
	var r Registry
	const workers, per = 8, 2000
	keep := make([][]*Scope, workers) // left open by each worker
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var listers sync.WaitGroup
	listers.Add(1)
	go func() {
		defer listers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r.Active()
			r.Each(func(s *Scope) { _ = s.Caller })
			r.Counts()
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				s := &Scope{Caller: fmt.Sprint(w, i), Start: time.Now()}
				r.Open(s)
				if i%10 == 0 {
					keep[w] = append(keep[w], s)
					continue
				}
				// Two closers race; exactly one wins.
				var won sync.WaitGroup
				results := make([]bool, 2)
				for j := range results {
					won.Add(1)
					go func() { defer won.Done(); results[j] = r.Close(s) }()
				}
				won.Wait()
				if results[0] == results[1] {
					t.Errorf("racing Close returned %v", results)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	listers.Wait()
	var want []*Scope
	for _, k := range keep {
		want = append(want, k...)
	}
	if got := ids(r.Active()); !slices.Equal(got, ids(want)) {
		t.Fatalf("%d active, want %d", len(got), len(want))
	}
	if got := eachIDs(&r); !slices.Equal(got, ids(want)) {
		t.Fatalf("Each saw %d, want %d", len(got), len(want))
	}
	c := r.Counts()
	if c.Opened != workers*per || c.Closed != uint64(workers*per-len(want)) || c.Active != int64(len(want)) || c.Peak < c.Active {
		t.Fatalf("Counts() = %+v", c)
	}
}

// BenchmarkOpenClose is the registry's part of every statement: Open, then
// Close, with a few hundred other scopes open.
func BenchmarkOpenClose(b *testing.B) {
	const others = 256
	setup := func() *Registry {
		r := &Registry{}
		for range others {
			r.Open(&Scope{})
		}
		return r
	}
	b.Run("sequential", func(b *testing.B) {
		r := setup()
		s := &Scope{}
		for b.Loop() {
			r.Open(s)
			r.Close(s)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		r := setup()
		b.RunParallel(func(pb *testing.PB) {
			s := &Scope{}
			for pb.Next() {
				r.Open(s)
				r.Close(s)
			}
		})
	})
}

// Opening a scope that is still open moves it: it is in one list once, and
// the counts stay whole (opened - closed == active).
func TestRegistryReopenWhileOpen(t *testing.T) {
	for _, other := range []bool{false, true} {
		t.Run(fmt.Sprint("other registry=", other), func(t *testing.T) {
			var a, b Registry
			r := &a
			if other {
				r = &b
			}
			s, neighbour := &Scope{}, &Scope{}
			a.Open(s)
			a.Open(neighbour)
			r.Open(s)
			if r.Close(neighbour) != !other {
				t.Fatal("wrong registry closed the neighbour")
			}
			for _, reg := range []*Registry{&a, &b} {
				c := reg.Counts()
				if int64(c.Opened-c.Closed) != c.Active {
					t.Fatalf("counts %+v", c)
				}
			}
			if got := eachIDs(r); !slices.Equal(got, []uint64{s.ID}) {
				t.Fatalf("registry holds %v, want [%d]", got, s.ID)
			}
			if !r.Close(s) || r.Close(s) {
				t.Fatal("reopened scope did not close exactly once")
			}
		})
	}
}

// A stale copy of an open scope's links (what copying a Scope value
// gives) is not taken for the scope itself.
func TestRegistryCloseCopy(t *testing.T) {
	for _, pos := range []string{"head", "middle", "tail"} {
		t.Run(pos, func(t *testing.T) {
			var r Registry
			// IDs 1, 65, 129: one shard, listed 129, 65, 1.
			scopes := make([]*Scope, 129)
			for i := range scopes {
				scopes[i] = &Scope{}
				r.Open(scopes[i])
			}
			s := map[string]*Scope{"head": scopes[128], "middle": scopes[64], "tail": scopes[0]}[pos]
			forged := &Scope{ID: s.ID}
			forged.list, forged.prev, forged.next = s.list, s.prev, s.next
			if r.Close(forged) {
				t.Fatal("closed a copy")
			}
			if got := len(eachIDs(&r)); got != len(scopes) {
				t.Fatalf("%d scopes listed, want %d", got, len(scopes))
			}
			if !r.Close(s) {
				t.Fatal("could not close the original")
			}
		})
	}
}

// Close goes by the ID s has now: a scope whose ID was changed while open
// is not found (as with the map it replaced), and the list is not touched.
func TestRegistryCloseChangedID(t *testing.T) {
	var r Registry
	s := &Scope{}
	r.Open(s)
	r.Open(&Scope{})
	id := s.ID
	s.ID = 2
	if r.Close(s) {
		t.Fatal("closed under another ID")
	}
	s.ID = id
	if !r.Close(s) || len(eachIDs(&r)) != 1 {
		t.Fatal("list damaged")
	}
}

// A closed scope keeps no other scope reachable.
func TestRegistryCloseClearsLinks(t *testing.T) {
	var r Registry
	var scopes [3]*Scope
	for i := range scopes {
		scopes[i] = &Scope{}
		r.Open(scopes[i])
	}
	for _, s := range scopes {
		r.Close(s)
		if s.list != nil || s.prev != nil || s.next != nil {
			t.Fatalf("closed scope %d keeps links", s.ID)
		}
	}
}
