package sessionplugin_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/callbacks"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Misuse: every wrong way to install, use or close the plugin gets an error
// naming what was wrong, never a panic, and never a half-installed plugin.

// chainOps are the GORM callback chains the plugin hooks, by callbacks.Op
// name.
var chainOps = []callbacks.Op{callbacks.OpCreate, callbacks.OpQuery, callbacks.OpUpdate,
	callbacks.OpDelete, callbacks.OpRow, callbacks.OpRaw}

// chainGet returns the handler registered as name on op's chain of db, or
// nil.
func chainGet(db *gorm.DB, op callbacks.Op, name string) func(*gorm.DB) {
	cb := db.Callback()
	switch op {
	case callbacks.OpCreate:
		return cb.Create().Get(name)
	case callbacks.OpQuery:
		return cb.Query().Get(name)
	case callbacks.OpUpdate:
		return cb.Update().Get(name)
	case callbacks.OpDelete:
		return cb.Delete().Get(name)
	case callbacks.OpRow:
		return cb.Row().Get(name)
	default:
		return cb.Raw().Get(name)
	}
}

// dbState is what a failed Initialize must leave as it was.
type dbState struct {
	Callbacks map[string]bool // "before_query" -> registered
	ConnPool  gorm.ConnPool
	StmtPool  gorm.ConnPool
	MaxOpen   int
	Plugin    bool
}

func stateOf(t *testing.T, db *gorm.DB, sqlDB *sql.DB) dbState {
	t.Helper()
	s := dbState{Callbacks: map[string]bool{}, ConnPool: db.ConnPool, StmtPool: db.Statement.ConnPool,
		MaxOpen: sqlDB.Stats().MaxOpenConnections}
	for _, op := range chainOps {
		for _, step := range []string{"before_", "after_"} {
			s.Callbacks[step+op.String()] = chainGet(db, op, callbacks.Name+":"+step+op.String()) != nil
		}
	}
	_, s.Plugin = sessionplugin.FromDB(db)
	return s
}

// openPlain opens a fresh SQLite database with Item migrated and a pool
// limit of 3, so a changed pool setting shows.
func openPlain(t *testing.T) (*gorm.DB, *sql.DB) {
	t.Helper()
	db := testdb.Open(t, testdb.SQLite)
	if err := db.AutoMigrate(&Item{}); err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(3)
	return db, sqlDB
}

// checkStillWorks runs every kind of statement the plugin hooks on db and
// checks each had its effect: a chain GORM failed to compile runs no
// callbacks at all, so its statements "succeed" without doing anything.
func checkStillWorks(t *testing.T, db *gorm.DB, name string) {
	t.Helper()
	it := Item{Name: name, Price: 1}
	if err := db.Create(&it).Error; err != nil || it.ID == 0 { // create
		t.Fatalf("Create after a failed Use: id %d, %v", it.ID, err)
	}
	if r := db.Model(&Item{}).Where("id = ?", it.ID).Update("price", 2); r.Error != nil || r.RowsAffected != 1 { // update
		t.Errorf("Update after a failed Use: %d rows, %v", r.RowsAffected, r.Error)
	}
	var got Item
	if err := db.First(&got, it.ID).Error; err != nil || got.Price != 2 { // query
		t.Errorf("First after a failed Use: %+v, %v", got, err)
	}
	if r := db.Exec("UPDATE items SET price = 3 WHERE id = ?", it.ID); r.Error != nil || r.RowsAffected != 1 { // raw
		t.Errorf("Exec after a failed Use: %d rows, %v", r.RowsAffected, r.Error)
	}
	var price int
	if err := db.Raw("SELECT price FROM items WHERE id = ?", it.ID).Row().Scan(&price); err != nil || price != 3 { // row
		t.Errorf("Row after a failed Use: %d, %v", price, err)
	}
	if r := db.Delete(&Item{}, it.ID); r.Error != nil || r.RowsAffected != 1 { // delete
		t.Errorf("Delete after a failed Use: %d rows, %v", r.RowsAffected, r.Error)
	}
}

// otherPool is a gorm.ConnPool that is not a *sql.DB (a user's wrapper).
type otherPool struct{ gorm.ConnPool }

// conflictOn registers, on op's chain, a callback GORM cannot order
// together with the plugin's before-step: it must run before it and after
// the statement, while the plugin's runs before the statement. It is
// harmless alone (it names a callback not yet there).
func conflictOn(t *testing.T, db *gorm.DB, op callbacks.Op) {
	t.Helper()
	ours := callbacks.Name + ":before_" + op.String()
	noop := func(*gorm.DB) {}
	cb := db.Callback()
	var err error
	switch op {
	case callbacks.OpCreate:
		err = cb.Create().Before(ours).After("gorm:begin_transaction").Register("user:conflict", noop)
	case callbacks.OpQuery:
		err = cb.Query().Before(ours).After("gorm:query").Register("user:conflict", noop)
	case callbacks.OpUpdate:
		err = cb.Update().Before(ours).After("gorm:begin_transaction").Register("user:conflict", noop)
	case callbacks.OpDelete:
		err = cb.Delete().Before(ours).After("gorm:begin_transaction").Register("user:conflict", noop)
	case callbacks.OpRow:
		err = cb.Row().Before(ours).After("gorm:row").Register("user:conflict", noop)
	case callbacks.OpRaw:
		err = cb.Raw().Before(ours).After("gorm:raw").Register("user:conflict", noop)
	}
	if err != nil {
		t.Fatalf("registering the conflicting callback: %v", err)
	}
}

var nameSeq atomic.Int64

// uniqueName returns prefix with a number no other call returned.
func uniqueName(prefix string) string {
	return prefix + "-" + strconv.FormatInt(nameSeq.Add(1), 10)
}

// TestFailedInitializeLeavesDBUnchanged: whatever makes db.Use fail, db's
// callback chains, ConnPool and pool settings are as they were, no plugin
// is registered, and every kind of statement still runs.
func TestFailedInitializeLeavesDBUnchanged(t *testing.T) {
	type setup func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin
	valid := func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
		return sessionplugin.New(sessionplugin.DefaultConfig())
	}
	tests := []struct {
		name  string
		setup setup
		want  []string // substrings of the error
	}{
		{"invalid config", func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
			c := sessionplugin.DefaultConfig()
			c.PoolSize, c.Breaker.FailureRatio = 0, 2
			return sessionplugin.New(c)
		}, []string{"Config.PoolSize = 0: must be at least 1", "Config.Breaker.FailureRatio = 2"}},
		{"zero config", func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
			return sessionplugin.New(sessionplugin.Config{})
		}, []string{"Config.PoolSize = 0"}},
		{"conn pool not *sql.DB", func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
			db.ConnPool = otherPool{db.ConnPool}
			db.Statement.ConnPool = db.ConnPool
			return valid(t, db)
		}, []string{"ConnPool is sessionplugin_test.otherPool, want *sql.DB"}},
		{"closed plugin", func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
			p := valid(t, db)
			p.Close()
			return p
		}, []string{"plugin is closed"}},
		{"plugin already on another db", func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
			other, _ := openPlain(t)
			p := valid(t, db)
			if err := other.Use(p); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			return p
		}, []string{"already initialized"}},
	}
	for _, op := range chainOps {
		tests = append(tests, struct {
			name  string
			setup setup
			want  []string
		}{"callback conflict on " + op.String(), func(t *testing.T, db *gorm.DB) *sessionplugin.Plugin {
			conflictOn(t, db, op)
			return valid(t, db)
		}, []string{"sessionplugin: register gormsession:before_" + op.String(), "conflicting callback", "nothing installed"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, sqlDB := openPlain(t)
			p := tt.setup(t, db)
			before := stateOf(t, db, sqlDB)
			err := db.Use(p)
			if err == nil {
				p.Close()
				t.Fatal("db.Use succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after := stateOf(t, db, sqlDB); !reflect.DeepEqual(before, after) {
				t.Errorf("db changed by a failed Use:\nbefore %+v\nafter  %+v", before, after)
			}
			if _, ok := db.ConnPool.(otherPool); ok {
				db.ConnPool = db.ConnPool.(otherPool).ConnPool
				db.Statement.ConnPool = db.ConnPool
			}
			checkStillWorks(t, db, tt.name)
			if st := p.Stats(); st.Opened != 0 && tt.name != "plugin already on another db" {
				t.Errorf("a plugin that failed to install tracked %d scopes", st.Opened)
			}
			p.Close()
		})
	}
}

// TestFailedInitializeThenRetry: after a failed Use (callback conflict), a
// fresh plugin installs cleanly once the conflict is removed.
func TestFailedInitializeThenRetry(t *testing.T) {
	db, _ := openPlain(t)
	conflictOn(t, db, callbacks.OpRaw)
	if err := db.Use(sessionplugin.New(sessionplugin.DefaultConfig())); err == nil {
		t.Fatal("db.Use succeeded despite the conflict")
	}
	if err := db.Callback().Raw().Remove("user:conflict"); err != nil {
		t.Fatal(err)
	}
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	if err := db.Use(p); err != nil {
		t.Fatalf("db.Use after removing the conflict: %v", err)
	}
	defer p.Close()
	checkStillWorks(t, db, "retry")
	// create, update, query, raw, row, delete: each a scope of its own.
	if st := p.Stats(); st.Opened != 6 || st.Active != 0 {
		t.Errorf("Stats = opened %d, active %d; want 6, 0", st.Opened, st.Active)
	}
}

// TestInitializeBadDB: a nil or hand-made *gorm.DB is an error, not a panic.
func TestInitializeBadDB(t *testing.T) {
	for _, tt := range []struct {
		name string
		db   *gorm.DB
		want string
	}{
		{"nil", nil, "sessionplugin: Initialize: nil *gorm.DB"},
		{"zero", &gorm.DB{}, "sessionplugin: Initialize: *gorm.DB not opened with gorm.Open"},
		{"config only", &gorm.DB{Config: &gorm.Config{}}, "sessionplugin: Initialize: *gorm.DB not opened with gorm.Open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := sessionplugin.New(sessionplugin.DefaultConfig())
			defer p.Close()
			if err := p.Initialize(tt.db); err == nil || err.Error() != tt.want {
				t.Errorf("Initialize = %v, want %s", err, tt.want)
			}
			// The plugin is still installable on a good db.
			db, _ := openPlain(t)
			if err := db.Use(p); err != nil {
				t.Errorf("db.Use after a failed Initialize: %v", err)
			}
		})
	}
}

// TestUseTwice covers installing plugins more than once. GORM's db.Use
// returns gorm.ErrRegistered, before calling Initialize, for a second plugin
// named "gormsession" on a db; the plugin itself refuses a second db.
func TestUseTwice(t *testing.T) {
	t.Run("same plugin, same db", func(t *testing.T) {
		db, sqlDB := openPlain(t)
		p := sessionplugin.New(sessionplugin.DefaultConfig())
		if err := db.Use(p); err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		before := stateOf(t, db, sqlDB)
		if err := db.Use(p); !errors.Is(err, gorm.ErrRegistered) {
			t.Errorf("second db.Use = %v, want gorm.ErrRegistered", err)
		}
		if after := stateOf(t, db, sqlDB); !reflect.DeepEqual(before, after) {
			t.Errorf("second Use changed db:\nbefore %+v\nafter  %+v", before, after)
		}
		checkStillWorks(t, db, "same")
		if st := p.Stats(); st.Opened != 6 {
			t.Errorf("opened %d scopes for 6 statements: callbacks registered twice?", st.Opened)
		}
	})
	t.Run("two plugins, one db", func(t *testing.T) {
		db, sqlDB := openPlain(t)
		p1 := sessionplugin.New(sessionplugin.DefaultConfig())
		if err := db.Use(p1); err != nil {
			t.Fatal(err)
		}
		defer p1.Close()
		before := stateOf(t, db, sqlDB)
		p2 := sessionplugin.New(sessionplugin.DefaultConfig())
		defer p2.Close()
		if err := db.Use(p2); !errors.Is(err, gorm.ErrRegistered) {
			t.Errorf("db.Use of a second plugin = %v, want gorm.ErrRegistered", err)
		}
		if after := stateOf(t, db, sqlDB); !reflect.DeepEqual(before, after) {
			t.Errorf("second plugin changed db:\nbefore %+v\nafter  %+v", before, after)
		}
		if got, _ := sessionplugin.FromDB(db); got != p1 {
			t.Error("FromDB does not return the first plugin")
		}
		if p2.Breaker("primary") != nil {
			t.Error("the refused plugin was initialized")
		}
		checkStillWorks(t, db, "two")
		if o1, o2 := p1.Stats().Opened, p2.Stats().Opened; o1 != 6 || o2 != 0 {
			t.Errorf("opened %d and %d scopes; want 6 by the installed plugin, 0 by the other", o1, o2)
		}
	})
	t.Run("same plugin, two dbs", func(t *testing.T) {
		db1, _ := openPlain(t)
		db2, sqlDB2 := openPlain(t)
		p := sessionplugin.New(sessionplugin.DefaultConfig())
		if err := db1.Use(p); err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		before := stateOf(t, db2, sqlDB2)
		err := db2.Use(p)
		if err == nil || !strings.Contains(err.Error(), "already initialized") {
			t.Errorf("db.Use on a second db = %v, want an already-initialized error", err)
		}
		if after := stateOf(t, db2, sqlDB2); !reflect.DeepEqual(before, after) {
			t.Errorf("refused Use changed the second db:\nbefore %+v\nafter  %+v", before, after)
		}
		checkStillWorks(t, db2, "second")
		if st := p.Stats(); st.Opened != 0 {
			t.Errorf("plugin tracked %d statements of the db it is not installed on", st.Opened)
		}
		checkStillWorks(t, db1, "first")
		if st := p.Stats(); st.Opened != 6 {
			t.Errorf("plugin tracked %d statements on its own db, want 6", st.Opened)
		}
	})
}

// TestTransactionBadArguments: nil or hand-made arguments give an error
// naming the argument, never a panic, and begin nothing.
func TestTransactionBadArguments(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, nil)
	ok := func(tx *gorm.DB) error { return tx.Create(&Item{Name: "x"}).Error }
	bg := context.Background()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		db   *gorm.DB
		fn   func(*gorm.DB) error
		want string
	}{
		{"nil db", bg, nil, ok, "sessionplugin: Transaction: nil *gorm.DB"},
		{"zero db", bg, &gorm.DB{}, ok, "sessionplugin: Transaction: *gorm.DB not opened with gorm.Open"},
		{"nil fn", bg, db, nil, "sessionplugin: Transaction: nil fn"},
		{"nil fn and db", bg, nil, nil, "sessionplugin: Transaction: nil *gorm.DB"},
		{"nil ctx", nil, db, ok, "sessionplugin: Transaction: nil context.Context (pass context.Background() for none)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := sessionplugin.Transaction(tt.ctx, tt.db, tt.fn)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Transaction = %v, want %s", err, tt.want)
			}
		})
	}
	if st := p.Stats(); st.Opened != 0 {
		t.Errorf("bad arguments opened %d scopes", st.Opened)
	}
	// A nil option is skipped.
	if err := sessionplugin.Transaction(bg, db, ok, nil, sessionplugin.WithTxTimeout(time.Second)); err != nil {
		t.Errorf("Transaction with a nil option = %v, want it to commit", err)
	}
	var n int64
	db.Model(&Item{}).Count(&n)
	if n != 1 {
		t.Errorf("%d rows after the nil-ctx transaction, want 1", n)
	}
}

// TestTxUsedAfterEnd: a tx used after its transaction ended (committed,
// rolled back, or rolled back by a panic) fails with category closed on
// every engine, for every kind of statement and for Commit and Rollback,
// and leaves no scope or connection behind.
func TestTxUsedAfterEnd(t *testing.T) {
	ends := []struct {
		name string
		end  func(t *testing.T, db *gorm.DB) *gorm.DB // returns the ended tx
	}{
		{"Transaction committed", func(t *testing.T, db *gorm.DB) *gorm.DB {
			var kept *gorm.DB
			if err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				kept = tx
				return tx.Create(&Item{Name: uniqueName("committed")}).Error
			}); err != nil {
				t.Fatal(err)
			}
			return kept
		}},
		{"Transaction rolled back", func(t *testing.T, db *gorm.DB) *gorm.DB {
			var kept *gorm.DB
			business := errors.New("business")
			if err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				kept = tx
				return business
			}); !errors.Is(err, business) {
				t.Fatal(err)
			}
			return kept
		}},
		{"Transaction panicked", func(t *testing.T, db *gorm.DB) (kept *gorm.DB) {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recovered %v", r)
				}
			}()
			_ = sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				kept = tx
				panic("boom")
			})
			return kept
		}},
		{"Transaction committed, its deadline passed since", func(t *testing.T, db *gorm.DB) (kept *gorm.DB) {
			if err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				kept = tx
				return nil
			}, sessionplugin.WithTxTimeout(50*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			return kept
		}},
		{"Begin and Commit", func(t *testing.T, db *gorm.DB) *gorm.DB {
			tx := db.Begin()
			if err := tx.Commit().Error; err != nil {
				t.Fatal(err)
			}
			return tx
		}},
		{"Begin and Rollback", func(t *testing.T, db *gorm.DB) *gorm.DB {
			tx := db.Begin()
			if err := tx.Rollback().Error; err != nil {
				t.Fatal(err)
			}
			return tx
		}},
	}
	uses := []struct {
		name string
		use  func(tx *gorm.DB) error
	}{
		{"Create", func(tx *gorm.DB) error { return tx.Create(&Item{Name: uniqueName("late")}).Error }},
		{"First", func(tx *gorm.DB) error { return tx.First(&Item{}).Error }},
		{"Update", func(tx *gorm.DB) error { return tx.Model(&Item{}).Where("1 = 1").Update("price", 9).Error }},
		{"Delete", func(tx *gorm.DB) error { return tx.Where("1 = 1").Delete(&Item{}).Error }},
		{"Exec", func(tx *gorm.DB) error { return tx.Exec("UPDATE items SET price = 1").Error }},
		{"Rows", func(tx *gorm.DB) error {
			rows, err := tx.Raw("SELECT id FROM items").Rows()
			if err == nil {
				rows.Close()
			}
			return err
		}},
		{"Transaction on it", func(tx *gorm.DB) error {
			return sessionplugin.Transaction(context.Background(), tx, func(tx *gorm.DB) error {
				return tx.Create(&Item{Name: uniqueName("nested")}).Error
			})
		}},
		{"Commit", func(tx *gorm.DB) error { return tx.Commit().Error }},
		{"Rollback", func(tx *gorm.DB) error { return tx.Rollback().Error }},
	}
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, logs := install(t, kind, nil)
		sqlDB, _ := db.DB()
		for _, e := range ends {
			t.Run(e.name, func(t *testing.T) {
				for _, u := range uses {
					tx := e.end(t, db)
					err := u.use(tx)
					if got := sessionplugin.Classify(err); got != sessionplugin.CategoryClosed {
						t.Errorf("%s after the end: %v (category %q), want category closed", u.name, err, got)
					}
				}
			})
		}
		t.Run("Transaction on it, fn does nothing", func(t *testing.T) {
			tx := db.Begin()
			tx.Commit()
			err := sessionplugin.Transaction(context.Background(), tx, func(*gorm.DB) error { return nil })
			if got := sessionplugin.Classify(err); got != sessionplugin.CategoryClosed {
				t.Errorf("Transaction on an ended tx: %v (category %q), want category closed", err, got)
			}
		})
		if st := p.Stats(); st.Active != 0 {
			t.Errorf("%d scopes still open: %v", st.Active, p.ActiveScopes())
		}
		if n := sqlDB.Stats().InUse; n != 0 {
			t.Errorf("%d connections still in use", n)
		}
		// Each late statement is a failure worth one log line, at error.
		for _, l := range logs.FilterField(zap.String("category", "closed")).All() {
			if l.Level != zap.ErrorLevel {
				t.Errorf("closed logged at %v: %v", l.Level, l.Message)
			}
		}
	})
}

// TestCloseMisuse: Close is idempotent, safe concurrently and before
// Initialize; a closed plugin cannot be installed; after Close the callbacks
// keep working and Stats, Handler and Collector keep answering, but the
// monitor reports nothing more.
func TestCloseMisuse(t *testing.T) {
	t.Run("before Initialize", func(t *testing.T) {
		p := sessionplugin.New(sessionplugin.DefaultConfig())
		for i := 0; i < 3; i++ {
			if err := p.Close(); err != nil {
				t.Fatalf("Close #%d = %v", i+1, err)
			}
		}
		if st := p.Stats(); st.Opened != 0 {
			t.Errorf("Stats of an unused closed plugin: %+v", st)
		}
	})
	t.Run("concurrently", func(t *testing.T) {
		_, p, _ := install(t, testdb.SQLite, func(c *sessionplugin.Config) { c.LongRunningThreshold = 20 * time.Millisecond })
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < cap(errs); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- p.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Close = %v", err)
			}
		}
	})
	t.Run("after Close", func(t *testing.T) {
		db, p, logs := install(t, testdb.SQLite, func(c *sessionplugin.Config) {
			c.LongRunningThreshold, c.IdleInTxThreshold = 20*time.Millisecond, 20*time.Millisecond
			c.Breaker.ConsecutiveFailures = 1
		})
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}

		// Use of the closed plugin, on another db, is refused cleanly.
		other, sqlOther := openPlain(t)
		before := stateOf(t, other, sqlOther)
		if err := other.Use(p); err == nil || !strings.Contains(err.Error(), "plugin is closed") {
			t.Errorf("db.Use(closed plugin) = %v, want a closed error", err)
		}
		if after := stateOf(t, other, sqlOther); !reflect.DeepEqual(before, after) {
			t.Errorf("db.Use(closed plugin) changed db:\nbefore %+v\nafter  %+v", before, after)
		}
		// And again on its own db: GORM says it is registered already.
		if err := db.Use(p); !errors.Is(err, gorm.ErrRegistered) {
			t.Errorf("db.Use(p) again after Close = %v, want gorm.ErrRegistered", err)
		}

		// The callbacks keep working: statements tracked, failures counted
		// and logged, transactions tracked.
		logs.TakeAll()
		checkStillWorks(t, db, "after close")
		if err := db.Create(&Item{Name: "dup"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&Item{Name: "dup"}).Error; sessionplugin.Classify(err) != sessionplugin.CategoryUniqueViolation {
			t.Fatalf("duplicate: %v", err)
		}
		if n := logs.FilterMessage("database statement failed").Len(); n != 1 {
			t.Errorf("%d failure lines after Close, want 1", n)
		}
		if err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			time.Sleep(150 * time.Millisecond) // well past both monitor thresholds
			return tx.Create(&Item{Name: "in tx"}).Error
		}); err != nil {
			t.Fatal(err)
		}
		st := p.Stats()
		if st.Opened != 10 || st.Active != 0 || st.Errors[sessionplugin.CategoryUniqueViolation] != 1 {
			t.Errorf("Stats after Close: opened %d active %d errors %v; want 10, 0, one unique_violation",
				st.Opened, st.Active, st.Errors)
		}
		// The monitor is stopped: the slow transaction was not reported.
		for _, msg := range []string{"long-running database scope", "transaction idle in transaction"} {
			if n := logs.FilterMessage(msg).Len(); n != 0 {
				t.Errorf("monitor logged %q %d times after Close", msg, n)
			}
		}
		// The breaker still gates.
		p.Breaker("primary").Reset()
		if b := p.Breaker("primary"); b == nil {
			t.Fatal("Breaker(primary) = nil after Close")
		}

		// Handler and Collector answer.
		for _, accept := range []string{"application/json", "text/html"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/debug/db", nil)
			req.Header.Set("Accept", accept)
			p.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("Handler (%s) after Close: %d, %d bytes", accept, rec.Code, rec.Body.Len())
			}
		}
		reg := prometheus.NewRegistry()
		if err := reg.Register(p.Collector()); err != nil {
			t.Fatal(err)
		}
		if mfs, err := reg.Gather(); err != nil || len(mfs) == 0 {
			t.Errorf("Gather after Close: %d families, %v", len(mfs), err)
		}
	})
}
