package sessionplugin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// A COMMIT sent before the transaction's deadline and cut by it while the
// answer is on its way may have committed: commit_unknown, never a plain
// timeout a caller would read as "rolled back".
func TestCommitCutByDeadlineIsUnknown(t *testing.T) {
	db, _, proxy := behindProxy(t, testdb.Postgres, func(c *sessionplugin.Config) { c.Breaker.Disabled = true })
	start := time.Now()
	err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
		if err := tx.Create(&Item{Name: "maybe"}).Error; err != nil {
			return err
		}
		// COMMIT reaches the server at about 0.8s; its answer would come
		// back at about 1.2s, past the 1s deadline.
		time.Sleep(400*time.Millisecond - time.Since(start))
		proxy.SetLatency(400 * time.Millisecond)
		return nil
	}, sessionplugin.WithTxTimeout(time.Second))
	proxy.SetLatency(0)
	if !errors.Is(err, sessionplugin.ErrCommitUnknown) || sessionplugin.IsRetryable(err) {
		t.Fatalf("err = %v (%s); want commit_unknown, not retryable", err, sessionplugin.Classify(err))
	}
}

type Parent struct {
	ID       uint
	Children []Child
}

type Child struct {
	ID       uint
	ParentID uint
	Toys     []Toy
}

type Toy struct {
	ID      uint
	ChildID uint
}

// With dbresolver, Preload's nested read reuses the outer statement's
// connection instead of waiting for a second one (a pool of 1 would
// deadlock until PoolTimeout).
func TestPreloadWithDBResolverOnePool(t *testing.T) {
	db := resolverOnePool(t, testdb.Postgres, &Parent{Children: []Child{{}, {}}})
	var ps []Parent
	if err := db.Preload("Children").Find(&ps).Error; err != nil || len(ps) != 1 || len(ps[0].Children) != 2 {
		t.Fatalf("Preload = %+v, %v", ps, err)
	}
}

// resolverOnePool opens a database of kind holding parent, with dbresolver
// and the plugin on a pool of one connection.
func resolverOnePool(t *testing.T, kind testdb.Kind, parent *Parent) *gorm.DB {
	t.Helper()
	db := testdb.Open(t, kind)
	if err := db.AutoMigrate(&Parent{}, &Child{}, &Toy{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(parent).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Use(dbresolver.Register(dbresolver.Config{})); err != nil {
		t.Fatal(err)
	}
	db, _, _ = installOn(t, db, func(c *sessionplugin.Config) {
		c.PoolSize, c.MaxOverflow, c.PoolTimeout = 1, 0, 300*time.Millisecond
	})
	return db
}

// Two levels down (a Preload inside a Preload), the nested read still
// finds the connection the outermost statement holds.
func TestNestedPreloadWithDBResolverOnePool(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db := resolverOnePool(t, kind, &Parent{Children: []Child{{Toys: []Toy{{}, {}}}, {}}})
		var ps []Parent
		if err := db.Preload("Children.Toys").Find(&ps).Error; err != nil || len(ps) != 1 || len(ps[0].Children) != 2 {
			t.Fatalf("Preload = %+v, %v", ps, err)
		}
		if n := len(ps[0].Children[0].Toys) + len(ps[0].Children[1].Toys); n != 2 {
			t.Fatalf("%d toys preloaded, want 2", n)
		}
	})
}

// Rows() that fails after the rows were opened must not hang: the rows are
// closed for the caller, and the connection goes back.
func TestRowsWithLateErrorDoesNotHang(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, nil)
	errLate := errors.New("late failure")
	db.Callback().Row().After("gorm:row").Register("test:late_error", func(db *gorm.DB) { db.AddError(errLate) })
	done := make(chan error, 1)
	go func() {
		_, err := db.Model(&Item{}).Rows() //gormleak:ignore the plugin closes rows that come with an error
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errLate) {
			t.Fatalf("Rows err = %v, want the late error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Rows() did not return")
	}
	waitFor(t, func() bool { return p.Stats().Active == 0 }, "the scope to close")
}

// Stats, Breaker and the collector may be called while Initialize runs
// (a metrics endpoint registered before db.Use): no data race.
func TestStatsDuringInitialize(t *testing.T) {
	db := testdb.Open(t, testdb.SQLite)
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	t.Cleanup(func() { p.Close() })
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				p.Stats()
				p.Breaker("primary")
				p.ActiveScopes()
			}
		}
	}()
	if err := db.Use(p); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	if p.Breaker("primary") == nil {
		t.Fatal("no breaker after Initialize")
	}
}
