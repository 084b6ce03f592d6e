package sessionplugin_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Allocation budgets of the plugin with DefaultConfig over bare GORM, on
// SQLite (issue 5; BENCHMARKS.md explains every allocation). Allocations
// are deterministic where time is not, so these are tests, not benchmarks.
const (
	// A point select under a request's context (cancellable, as net/http
	// gives): the target.
	firstAllocBudget = 12
	firstByteBudget  = 1536
	// The same select under context.Background(). Above the target: the
	// statement deadline is the first Done channel the statement sees, so
	// database/sql and the SQLite driver start their cancellation watchers
	// (2 goroutines, 8 allocations; one more with modernc.org/sqlite v1.62
	// under libtnb/sqlite) for it, which a request's context already paid
	// for under bare GORM. Kept as a regression guard.
	firstBackgroundAllocBudget = 21
	// sessionplugin.Transaction against db.Transaction on the same *gorm.DB,
	// 3 statements inside.
	txAllocBudget = 15
)

// allocRuns is enough runs for the averages to settle: the race detector
// drops sync.Pool items at random, which adds fractions of an allocation.
const allocRuns = 400

func TestAllocBudget(t *testing.T) {
	bare := testdb.Open(t, testdb.SQLite)
	if err := bare.AutoMigrate(&Item{}); err != nil {
		t.Fatal(err)
	}
	plug, _, _ := install(t, testdb.SQLite, func(c *sessionplugin.Config) { c.Logger = nil })
	for _, db := range []*gorm.DB{bare, plug} {
		if err := db.Create(&Item{Name: "one", Price: 1}).Error; err != nil {
			t.Fatal(err)
		}
	}
	reqCtx, cancel := context.WithCancel(context.Background())
	defer cancel()

	first := func(db *gorm.DB, ctx context.Context) func() {
		return func() {
			var it Item
			q := db
			if ctx != nil {
				q = db.WithContext(ctx)
			}
			if err := q.First(&it, 1).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	txWork := func(tx *gorm.DB) error {
		var it Item
		if err := tx.First(&it, 1).Error; err != nil {
			return err
		}
		if err := tx.Model(&Item{}).Where("id = ?", 1).Update("price", gorm.Expr("price + 1")).Error; err != nil {
			return err
		}
		return tx.Model(&Item{}).Where("id = ?", 1).Update("price", gorm.Expr("price - 1")).Error
	}
	gormTx := func(db *gorm.DB) func() {
		return func() {
			if err := db.Transaction(txWork); err != nil {
				t.Fatal(err)
			}
		}
	}
	ourTx := func(db *gorm.DB) func() {
		return func() {
			if err := sessionplugin.Transaction(context.Background(), db, txWork); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("First/request-context", func(t *testing.T) {
		b, p := allocs(first(bare, reqCtx)), allocs(first(plug, reqCtx))
		t.Logf("bare %v, plugin %v: %+.1f allocs/op, %+.0f B/op", b, p, p.allocs-b.allocs, p.bytes-b.bytes)
		if d := p.allocs - b.allocs; d > firstAllocBudget {
			t.Errorf("plugin adds %.1f allocs/op to First, budget %d", d, firstAllocBudget)
		}
		if d := p.bytes - b.bytes; d > firstByteBudget {
			t.Errorf("plugin adds %.0f B/op to First, budget %d", d, firstByteBudget)
		}
	})
	t.Run("First/background", func(t *testing.T) {
		b, p := allocs(first(bare, nil)), allocs(first(plug, nil))
		t.Logf("bare %v, plugin %v: %+.1f allocs/op, %+.0f B/op", b, p, p.allocs-b.allocs, p.bytes-b.bytes)
		if d := p.allocs - b.allocs; d > firstBackgroundAllocBudget {
			t.Errorf("plugin adds %.0f allocs/op to First under context.Background(), budget %d", d, firstBackgroundAllocBudget)
		}
	})
	t.Run("Transaction", func(t *testing.T) {
		g, o, b := allocs(gormTx(plug)), allocs(ourTx(plug)), allocs(gormTx(bare))
		t.Logf("db.Transaction %v, Transaction %v (%+.1f allocs); bare GORM's db.Transaction %v", g, o, o.allocs-g.allocs, b)
		if d := o.allocs - g.allocs; d > txAllocBudget {
			t.Errorf("Transaction costs %.0f allocs more than db.Transaction, budget %d", d, txAllocBudget)
		}
	})
}

type allocCost struct{ allocs, bytes float64 }

func (c allocCost) String() string { return fmt.Sprintf("%.1f allocs %.0f B", c.allocs, c.bytes) }

// allocs returns fn's mean allocations and bytes per run over allocRuns
// runs, after warm-up runs. Like testing.AllocsPerRun it counts every
// goroutine's allocations (the watchers a statement starts count too), but
// keeps the fraction: a few allocations depend on whether those goroutines
// run before the statement ends.
func allocs(fn func()) allocCost {
	for range 10 {
		fn()
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// One P: the watcher goroutines a statement starts then run at the
	// same points every time, so whether they allocate is not up to the
	// scheduler.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range allocRuns {
		fn()
	}
	runtime.ReadMemStats(&after)
	return allocCost{
		allocs: float64(after.Mallocs-before.Mallocs) / allocRuns,
		bytes:  float64(after.TotalAlloc-before.TotalAlloc) / allocRuns,
	}
}
