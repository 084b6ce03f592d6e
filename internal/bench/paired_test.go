package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// BenchmarkPaired measures each variant's time against bare GORM the way
// the targets are stated, as a paired ratio: in rounds, a block of
// operations on bare GORM and a block on the variant, one after the other
// (ABBA order, so a drift in machine speed hits both alike), the ratio of
// the two blocks' times per round, and the median over rounds. On a
// shared or noisy machine this is far steadier than comparing two
// benchmarks' ns/op taken seconds apart.
//
// Reported: ratio (the median), ns/op (the variant's mean), bare-ns/op,
// and extra-ns/op (the median over rounds of the time the variant adds to
// one operation; with g goroutines, to the wall time per operation).
// One iteration is one operation on each side; blocks last about 2ms.
func BenchmarkPaired(b *testing.B) {
	ctx := context.Background()
	req, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	first := func(c context.Context) func(db *gorm.DB, i int) error {
		return func(db *gorm.DB, i int) error {
			var it Item
			if c != nil {
				db = db.WithContext(c)
			}
			return db.First(&it, i%nRows+1).Error
		}
	}
	create := func(db *gorm.DB, _ int) error { return db.Create(&Write{Name: "w", Price: 1}).Error }
	gormTx := func(db *gorm.DB, i int) error {
		return db.Transaction(func(tx *gorm.DB) error { return txWork(tx, i%nRows+1) })
	}
	ourTx := func(db *gorm.DB, i int) error {
		return sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error { return txWork(tx, i%nRows+1) })
	}
	rows := func(db *gorm.DB, _ int) error { return readRows(db) }
	// withDeadline is bare GORM given the plugin's default statement
	// deadline and nothing else: what the deadline alone costs.
	withDeadline := func(c context.Context) func(db *gorm.DB, i int) error {
		return func(db *gorm.DB, i int) error {
			dc, cancel := context.WithTimeout(c, sessionplugin.DefaultConfig().QueryTimeout)
			defer cancel()
			return first(dc)(db, i)
		}
	}
	vDeadline := variant{"bare+deadline", vBare.install}
	vCPU := variant{"bare+cpu2us", installCPU}
	vScope := variant{"bare+scope", installScope}

	type workload struct {
		name      string
		base, run func(db *gorm.DB, i int) error
		vs        []variant // beside bare; nil: every plugin variant
		g         int       // goroutines; 0 means 1, sequential
	}
	ws := []workload{
		{name: "First/ctx=background", base: first(nil), run: first(nil)},
		{name: "First/ctx=request", base: first(req), run: first(req)},
		{name: "First/ctx=background", base: first(nil), run: withDeadline(ctx), vs: []variant{vDeadline}},
		{name: "First/ctx=request", base: first(req), run: withDeadline(req), vs: []variant{vDeadline}},
		{name: "First/ctx=background", base: first(nil), run: first(nil), vs: []variant{vCPU}},
		{name: "First/ctx=request", base: first(req), run: first(req), vs: []variant{vCPU}},
		{name: "First/ctx=background", base: first(nil), run: first(nil), vs: []variant{vScope}},
		{name: "First/ctx=request", base: first(req), run: first(req), vs: []variant{vScope}},
		{name: "Create", base: create, run: create},
		{name: "Tx3/api=db.Transaction", base: gormTx, run: gormTx, vs: []variant{vScope}},
		{name: "Tx3/api=db.Transaction", base: gormTx, run: gormTx},
		// sessionplugin.Transaction with the plugin installed, against
		// bare GORM's db.Transaction.
		{name: "Tx3/api=Transaction", base: gormTx, run: ourTx, vs: []variant{vDefaults, vAll}},
		{name: "Rows1000", base: rows, run: rows},
	}
	for _, g := range []int{1, 8, 64} {
		ws = append(ws, workload{name: fmt.Sprintf("ParallelFirst/g=%d", g), base: first(nil), run: first(nil), g: g})
	}
	for _, kind := range kinds {
		b.Run("db="+string(kind), func(b *testing.B) {
			f := newFixture(b, kind)
			bare := f.open(b, vBare)
			for _, v := range append(variants[1:], vDeadline, vCPU, vScope) {
				db := f.open(b, v)
				for _, w := range ws {
					vs := w.vs
					if vs == nil {
						vs = variants[1:]
					}
					if !slices.ContainsFunc(vs, func(x variant) bool { return x.name == v.name }) {
						continue
					}
					b.Run(w.name+"/v="+v.name, func(b *testing.B) {
						pairedRun(b, max(w.g, 1), func(i int) error { return w.base(bare, i) }, func(i int) error { return w.run(db, i) })
					})
				}
			}
		})
	}
}

// pairedRun runs b.N operations of each of base and v, in blocks of about
// 2ms each, alternating, on g goroutines; see BenchmarkPaired.
func pairedRun(b *testing.B, g int, base, v func(i int) error) {
	// Size the blocks from a short warm-up of each side.
	var warm time.Duration
	for _, fn := range []func(int) error{base, v} {
		t0 := time.Now()
		if err := runBlock(g, 0, 8*g, fn); err != nil {
			b.Fatal(err)
		}
		warm += time.Since(t0)
	}
	per := max(warm/time.Duration(16*g), time.Microsecond)
	block := max(int(2*time.Millisecond/per)*g, g)

	b.ResetTimer()
	var ratios, extras []float64
	var tBase, tVar time.Duration
	for done, round := 0, 0; done < b.N; round++ {
		n := min(block, b.N-done)
		first, second := base, v
		if round%2 == 1 {
			first, second = v, base
		}
		t0 := time.Now()
		if err := runBlock(g, done, n, first); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := runBlock(g, done, n, second); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		a, c := t1.Sub(t0), t2.Sub(t1)
		if round%2 == 1 {
			a, c = c, a
		}
		tBase, tVar = tBase+a, tVar+c
		ratios = append(ratios, float64(c)/float64(a))
		extras = append(extras, float64((c-a).Nanoseconds())/float64(n))
		done += n
	}
	b.StopTimer()
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(float64(tVar.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(tBase.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(median(extras), "extra-ns/op")
}

// median returns the median of xs, which it sorts; xs is not empty.
func median(xs []float64) float64 {
	slices.Sort(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + m) / 2
	}
	return m
}

// runBlock runs fn for i in [from, from+n) on g goroutines (g=1: inline).
func runBlock(g, from, n int, fn func(i int) error) error {
	if g <= 1 {
		for i := from; i < from+n; i++ {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	next.Store(int64(from))
	end := int64(from + n)
	var (
		wg   sync.WaitGroup
		once sync.Once
		err  error
	)
	for range g {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= end {
					return
				}
				if e := fn(int(i)); e != nil {
					once.Do(func() { err = e })
					return
				}
			}
		})
	}
	wg.Wait()
	return err
}
