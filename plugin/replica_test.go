package sessionplugin_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// servers are the engines with a server to take away; SQLite has none.
var servers = []testdb.Kind{testdb.Postgres, testdb.MySQL}

// readOnlyDSN returns tg's DSN through addr, with every session read-only,
// as on a real replica: a write that reaches it fails with read_only.
func readOnlyDSN(t *testing.T, tg testdb.Target, addr string) string {
	t.Helper()
	dsn := tg.WithAddr(addr)
	switch tg.Kind {
	case testdb.Postgres:
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("default_transaction_read_only", "on") // a pgx runtime parameter
		u.RawQuery = q.Encode()
		return u.String()
	case testdb.MySQL:
		c, err := mysqldrv.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params["tx_read_only"] = "1" // SET SESSION TRANSACTION READ ONLY
		return c.FormatDSN()
	}
	t.Fatalf("no read-only DSN for %s", tg.Kind)
	return ""
}

// replicaEnv is a primary and two read-only replicas of one fresh
// database, each replica reached through its own FaultProxy, with dbresolver
// and the plugin installed.
type replicaEnv struct {
	tg       testdb.Target
	db       *gorm.DB
	p        *sessionplugin.Plugin
	policy   *sessionplugin.ReplicaPolicy // nil with a plain dbresolver policy
	resolver *dbresolver.DBResolver
	proxies  [2]*sessiontest.FaultProxy
	logs     *observer.ObservedLogs
}

type envOptions struct {
	plainPolicy   bool // dbresolver.RandomPolicy{} instead of the plugin's
	beforeTraffic func(t *testing.T, e *replicaEnv)
	mutate        func(*sessionplugin.Config)
}

// readTimeout ends a read stuck on a blackholed replica. Short, so the test
// is, but not so short that a loaded machine (-race, other tests) misses it
// on a healthy primary.
const readTimeout = 2 * time.Second

// replicaConfig trips a breaker after 2 failures in a row and probes it
// 300ms after it opened. A read ends after readTimeout; writes get 10s.
func replicaConfig(c *sessionplugin.Config) {
	c.QueryTimeout = 10 * time.Second
	c.OperationTimeouts.Query = readTimeout
	c.OperationTimeouts.Row = readTimeout
	c.PoolTimeout = 5 * time.Second
	c.Breaker.ConsecutiveFailures = 2
	c.Breaker.MinRequests = 1 << 20
	c.Breaker.OpenTimeout = 300 * time.Millisecond
}

func newReplicaEnv(t *testing.T, kind testdb.Kind, o envOptions) *replicaEnv {
	t.Helper()
	e := &replicaEnv{tg: testdb.Fresh(t, kind)}
	e.db = testdb.OpenTarget(t, e.tg)
	// The schema and rows exist before the replicas do.
	if err := e.db.AutoMigrate(&Item{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := e.db.Create(&Item{Name: fmt.Sprintf("seed-%d", i), Price: i}).Error; err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	e.logs = logs
	cfg := sessionplugin.DefaultConfig()
	cfg.Logger = zap.New(core)
	replicaConfig(&cfg)
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	e.p = sessionplugin.New(cfg)
	t.Cleanup(func() { e.p.Close() })

	var dials []gorm.Dialector
	for i := range e.proxies {
		px, err := sessiontest.NewFaultProxy(e.tg.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { px.Close() })
		e.proxies[i] = px
		dials = append(dials, testdb.Dialector(kind, readOnlyDSN(t, e.tg, px.Addr())))
	}
	var pol dbresolver.Policy = dbresolver.RandomPolicy{}
	if !o.plainPolicy {
		e.policy = e.p.ReplicaPolicy(sessionplugin.ReplicaProbeTimeout(300 * time.Millisecond))
		pol = e.policy
	}
	// dbresolver first: the policy is made before the plugin is
	// initialized, and builds itself on first use. (dbresolver installed
	// after the plugin fails: its gorm.Open of each replica initializes
	// every plugin in the copied Config.Plugins, ours included.)
	e.resolver = dbresolver.Register(dbresolver.Config{Replicas: dials, Policy: pol})
	for _, pl := range []gorm.Plugin{e.resolver, e.p} {
		if err := e.db.Use(pl); err != nil {
			t.Fatalf("db.Use(%s): %v", pl.Name(), err)
		}
	}
	t.Cleanup(func() {
		e.resolver.Call(func(cp gorm.ConnPool) error {
			if db, ok := cp.(*sql.DB); ok && db != e.primary(t) {
				db.Close()
			}
			return nil
		})
	})
	if e.policy != nil {
		t.Cleanup(func() { e.policy.Close() }) // first: probes end before the pools close
	}
	if o.beforeTraffic != nil {
		o.beforeTraffic(t, e)
	}
	return e
}

func (e *replicaEnv) primary(t *testing.T) *sql.DB {
	db, err := e.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// replicas returns the replicas' pools in dbresolver's order.
func (e *replicaEnv) replicas(t *testing.T) []*sql.DB {
	var out []*sql.DB
	prim := e.primary(t)
	e.resolver.Call(func(cp gorm.ConnPool) error {
		if db, ok := cp.(*sql.DB); ok && db != prim {
			out = append(out, db)
		}
		return nil
	})
	return out
}

// sourcesOf returns the source names in p's Stats, sorted.
func sourcesOf(p *sessionplugin.Plugin) []string {
	var out []string
	for _, ps := range p.Stats().Pools {
		out = append(out, ps.Source)
	}
	return out
}

// A replica is named before its first statement, whatever that statement
// is: PostgreSQL's migrator reaches it first through gorm's Scan, which
// drops dbresolver's mark, so the callbacks alone would call it pool-1.
func TestReplicaPolicyNamesReplicas(t *testing.T) {
	tests := []struct {
		name string
		opts envOptions
		want []string
	}{
		{name: "in list order", want: []string{"primary", "replica-1", "replica-2"}},
		{name: "a name given with NameSource is kept", opts: envOptions{beforeTraffic: func(t *testing.T, e *replicaEnv) {
			if err := e.p.NameSource(e.replicas(t)[0], "reports"); err != nil {
				t.Fatal(err)
			}
		}}, want: []string{"primary", "replica-1", "reports"}},
	}
	for _, kind := range servers {
		for _, tt := range tests {
			t.Run(string(kind)+"/"+tt.name, func(t *testing.T) {
				e := newReplicaEnv(t, kind, tt.opts)
				// The migrator's reads (HasTable, column types) go to a
				// replica through dbresolver: the first statements there.
				if err := e.db.AutoMigrate(&Item{}); err != nil {
					t.Fatal(err)
				}
				for range 20 {
					var items []Item
					if err := e.db.Limit(3).Find(&items).Error; err != nil {
						t.Fatal(err)
					}
				}
				got := sourcesOf(e.p)
				if !slices.Equal(got, tt.want) {
					t.Errorf("sources %v, want %v", got, tt.want)
				}
			})
		}
	}
}

// workload reads through sessionplugin.Read and writes, from several
// goroutines, until stopped, and keeps every error.
type workload struct {
	db              *gorm.DB
	stop            chan struct{}
	wg              sync.WaitGroup
	reads, attempts atomic.Int64
	writes          atomic.Int64
	seq             atomic.Int64

	mu   sync.Mutex
	errs []string
}

func startWorkload(db *gorm.DB, readers, writers int) *workload {
	w := &workload{db: db, stop: make(chan struct{})}
	for r := range readers {
		w.wg.Go(func() { w.loop(func(i int) error { return w.read(r + i) }) })
	}
	for range writers {
		w.wg.Go(func() { w.loop(w.write) })
	}
	return w
}

func (w *workload) loop(step func(i int) error) {
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		case <-time.After(time.Millisecond): // steady traffic, not a CPU hog: the deadlines must hold on a loaded machine
		}
		if err := step(i); err != nil {
			w.mu.Lock()
			w.errs = append(w.errs, fmt.Sprintf("%s (category %s)", err, sessionplugin.Classify(err)))
			w.mu.Unlock()
		}
	}
}

// read runs one of five kinds of read, through Read.
func (w *workload) read(kind int) error {
	err := sessionplugin.Read(context.Background(), w.db, func(db *gorm.DB) error {
		w.attempts.Add(1)
		switch kind % 5 {
		case 0:
			var items []Item
			return db.Order("id").Limit(5).Find(&items).Error
		case 1:
			var it Item
			return db.Order("id").First(&it).Error
		case 2:
			var n int64
			return db.Model(&Item{}).Count(&n).Error
		case 3:
			var n int64
			return db.Raw("SELECT count(*) FROM items").Scan(&n).Error
		default:
			rows, err := db.Model(&Item{}).Select("name").Rows()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					return err
				}
			}
			return rows.Err()
		}
	})
	if err == nil {
		w.reads.Add(1)
	}
	return err
}

// write creates, updates and sometimes deletes a row, or runs a
// transaction; every statement must reach the primary.
func (w *workload) write(int) error {
	ctx := context.Background()
	n := w.seq.Add(1)
	it := Item{Name: fmt.Sprintf("w-%d", n), Price: int(n)}
	var err error
	switch n % 4 {
	case 0:
		err = sessionplugin.Transaction(ctx, w.db, func(tx *gorm.DB) error {
			if err := tx.Create(&it).Error; err != nil {
				return err
			}
			var locked Item
			return tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&locked, it.ID).Error
		})
	default:
		db := w.db.WithContext(ctx)
		if err = db.Create(&it).Error; err == nil {
			err = db.Model(&it).Update("price", it.Price+1).Error
		}
		if err == nil && n%2 == 1 {
			err = db.Delete(&it).Error
		}
	}
	if err == nil {
		w.writes.Add(1)
	}
	return err
}

// finish stops the workload and returns its errors.
func (w *workload) finish() []string {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs
}

// fault is one way a replica goes away, and back.
type fault struct {
	name  string
	start func(px *sessiontest.FaultProxy) (heal func())
	opens bool          // its breaker must open
	lasts time.Duration // how long each outage phase runs
}

var faults = []fault{
	{
		name: "down", opens: true, lasts: time.Second,
		start: func(px *sessiontest.FaultProxy) func() {
			px.SetRefuse(true) // the server is gone: no new connection...
			for range 3 {      // ...and the open ones are cut, stragglers of dials in flight too
				px.ResetAll()
				time.Sleep(20 * time.Millisecond)
			}
			return func() { px.SetRefuse(false) }
		},
	},
	{
		name: "reset", lasts: time.Second,
		start: func(px *sessiontest.FaultProxy) func() {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // connections cut again and again, mid-statement
				defer close(done)
				for {
					px.ResetAll()
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			return func() { close(stop); <-done }
		},
	},
	{
		name: "blackhole", opens: true, lasts: readTimeout + 2*time.Second,
		start: func(px *sessiontest.FaultProxy) func() {
			px.SetBlackhole(true) // the network silently dies: statements hang
			return func() { px.SetBlackhole(false) }
		},
	},
}

// The promise: a replica outage does not fail a single read or
// write. Reads run through sessionplugin.Read and the plugin's
// ReplicaPolicy; writes run as they are. One replica goes away, then both,
// then both come back: no statement fails, a dead replica's breaker opens,
// and once back each replica serves reads again, its breaker closed by the
// policy's health check rather than by a user read.
func TestReplicaOutageFailsNoStatement(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("runs for seconds (-short); CI=true always runs it")
	}
	for _, kind := range servers {
		for _, f := range faults {
			t.Run(string(kind)+"/"+f.name, func(t *testing.T) {
				e := newReplicaEnv(t, kind, envOptions{})
				w := startWorkload(e.db, 4, 2)
				defer func() {
					if errs := w.finish(); len(errs) > 0 {
						t.Errorf("%d statements failed during the outage; first: %s", len(errs), errs[0])
					}
					t.Logf("%d reads (%d attempts: %d retried on the primary), %d writes",
						w.reads.Load(), w.attempts.Load(), w.attempts.Load()-w.reads.Load(), w.writes.Load())
					for _, b := range e.p.Stats().Breakers {
						t.Logf("breaker %s: %s, %d transitions", b.Source, b.State, b.Transitions)
					}
				}()
				r1, r2 := e.p.Breaker("replica-1"), e.p.Breaker("replica-2")
				waitUntil(t, 5*time.Second, "both replicas serve reads", func() bool {
					return r1.Counts().Successes > 0 && r2.Counts().Successes > 0
				})

				// One replica away: the other and the primary take its reads.
				heal1 := healOnce(t, f.start(e.proxies[0]))
				time.Sleep(f.lasts)
				if st := r1.State(); f.opens && st == breaker.StateClosed {
					t.Errorf("replica-1 away for %s: breaker still closed (%+v)", f.lasts, r1.Counts())
				}
				before := r2.Counts().Successes
				time.Sleep(100 * time.Millisecond)
				if r2.Counts().Successes == before && r2.State() == breaker.StateClosed {
					t.Error("replica-2 served no reads while replica-1 was away")
				}

				// Both away: the primary takes every read.
				heal2 := healOnce(t, f.start(e.proxies[1]))
				time.Sleep(f.lasts)
				if st := r2.State(); f.opens && st == breaker.StateClosed {
					t.Errorf("replica-2 away for %s: breaker still closed (%+v)", f.lasts, r2.Counts())
				}
				readsBefore := w.reads.Load()
				time.Sleep(200 * time.Millisecond)
				if w.reads.Load() == readsBefore {
					t.Error("no read succeeded while both replicas were away")
				}

				// Back: each replica rejoins the rotation.
				heal1()
				heal2()
				for i, b := range []*breaker.Breaker{r1, r2} {
					waitUntil(t, 10*time.Second, fmt.Sprintf("replica-%d to serve reads again", i+1), func() bool {
						c := b.Counts() // of the current window: since it closed
						return b.State() == breaker.StateClosed && c.ConsecutiveFailures == 0 && c.Successes > 2
					})
				}
			})
		}
	}
}

// healOnce makes heal safe to call twice, and calls it at cleanup if the
// test ends first.
func healOnce(t *testing.T, heal func()) func() {
	h := sync.OnceFunc(heal)
	t.Cleanup(h)
	return h
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	testdb.WaitFor(t, limit, what, cond)
}

// Writes never reach a replica: every kind of write, and the reads that
// must see the primary (locking, dbresolver.Write, inside a transaction),
// succeed although the replicas are read-only, and the replicas' proxies
// accept no connection and their breakers admit no statement meanwhile.
func TestWritesStayOnPrimary(t *testing.T) {
	writes := []struct {
		name string
		run  func(db *gorm.DB) error
	}{
		{"create", func(db *gorm.DB) error { return db.Create(&Item{Name: "c"}).Error }},
		{"create in batches", func(db *gorm.DB) error {
			return db.CreateInBatches([]Item{{Name: "b1"}, {Name: "b2"}, {Name: "b3"}}, 2).Error
		}},
		{"update", func(db *gorm.DB) error { return db.Model(&Item{}).Where("name = ?", "c").Update("price", 7).Error }},
		{"save", func(db *gorm.DB) error {
			it := Item{Name: "s"}
			if err := db.Create(&it).Error; err != nil {
				return err
			}
			it.Price = 3
			return db.Save(&it).Error
		}},
		{"delete", func(db *gorm.DB) error { return db.Where("name = ?", "b1").Delete(&Item{}).Error }},
		{"exec", func(db *gorm.DB) error {
			return db.Exec("UPDATE items SET price = price + 1 WHERE name = ?", "c").Error
		}},
		{"raw insert scanned", func(db *gorm.DB) error {
			var n int64
			return db.Raw("INSERT INTO items (name, price) VALUES (?, ?)", "raw", 1).Scan(&n).Error
		}},
		{"select for update", func(db *gorm.DB) error {
			var it Item
			return db.Clauses(clause.Locking{Strength: "UPDATE"}).Where("name = ?", "c").First(&it).Error
		}},
		{"read with dbresolver.Write", func(db *gorm.DB) error {
			var n int64
			return db.Clauses(dbresolver.Write).Model(&Item{}).Count(&n).Error
		}},
		{"transaction", func(db *gorm.DB) error {
			return sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				var n int64
				if err := tx.Model(&Item{}).Count(&n).Error; err != nil {
					return err
				}
				return tx.Create(&Item{Name: fmt.Sprintf("tx-%d", n)}).Error
			})
		}},
		{"gorm transaction", func(db *gorm.DB) error {
			return db.Transaction(func(tx *gorm.DB) error { return tx.Create(&Item{Name: "gtx"}).Error })
		}},
	}
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			e := newReplicaEnv(t, kind, envOptions{})
			var items []Item
			if err := e.db.Find(&items).Error; err != nil { // names the replicas
				t.Fatal(err)
			}
			dials := [2]int64{e.proxies[0].Dials(), e.proxies[1].Dials()}
			var admitted [2]uint32
			for i := range admitted {
				admitted[i] = e.p.Breaker(fmt.Sprintf("replica-%d", i+1)).Counts().Requests
			}
			for _, wr := range writes {
				if err := wr.run(e.db); err != nil {
					t.Errorf("%s: %v (category %s)", wr.name, err, sessionplugin.Classify(err))
				}
			}
			for i := range dials {
				if d := e.proxies[i].Dials(); d != dials[i] {
					t.Errorf("replica-%d's proxy accepted %d connections during the writes", i+1, d-dials[i])
				}
				if n := e.p.Breaker(fmt.Sprintf("replica-%d", i+1)).Counts().Requests; n != admitted[i] {
					t.Errorf("replica-%d admitted %d statements during the writes", i+1, n-admitted[i])
				}
			}
		})
	}
}

// A write sent to a read-only connection has category read_only, through
// the real drivers; the replica's breaker does not count it (the database
// answered), and Read does not retry it.
func TestReplicaReadOnlyCategory(t *testing.T) {
	wantCode := map[testdb.Kind]string{testdb.Postgres: "25006", testdb.MySQL: "1792"}
	cases := []struct {
		name string
		run  func(t *testing.T, e *replicaEnv) error
	}{
		{"exec routed to a replica by dbresolver.Read", func(t *testing.T, e *replicaEnv) error {
			return e.db.Clauses(dbresolver.Read).Exec("INSERT INTO items (name, price) VALUES (?, ?)", "ro-exec", 1).Error
		}},
		{"create on a read-only handle", func(t *testing.T, e *replicaEnv) error {
			db, err := gorm.Open(testdb.Dialector(e.tg.Kind, readOnlyDSN(t, e.tg, e.tg.Addr)), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			defer sqlDB.Close()
			return db.Create(&Item{Name: "ro-create"}).Error
		}},
		{"transaction on a read-only handle", func(t *testing.T, e *replicaEnv) error {
			db, err := gorm.Open(testdb.Dialector(e.tg.Kind, readOnlyDSN(t, e.tg, e.tg.Addr)), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			defer sqlDB.Close()
			return sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
				return tx.Model(&Item{}).Where("name = ?", "seed-1").Update("price", 99).Error
			})
		}},
		{"Read does not retry it", func(t *testing.T, e *replicaEnv) error {
			calls := 0
			err := sessionplugin.Read(context.Background(), e.db.Clauses(dbresolver.Read), func(db *gorm.DB) error {
				calls++
				return db.Exec("UPDATE items SET price = 0 WHERE name = ?", "seed-2").Error
			})
			if calls != 1 {
				t.Errorf("fn ran %d times, want 1", calls)
			}
			return err
		}},
	}
	for _, kind := range servers {
		for _, c := range cases {
			t.Run(string(kind)+"/"+c.name, func(t *testing.T) {
				e := newReplicaEnv(t, kind, envOptions{})
				err := c.run(t, e)
				if got := sessionplugin.Classify(err); got != sessionplugin.CategoryReadOnly {
					t.Fatalf("Classify(%v) = %q, want read_only", err, got)
				}
				if !strings.Contains(err.Error(), wantCode[kind]) {
					t.Errorf("error %q lacks the server's code %s", err, wantCode[kind])
				}
				for _, b := range e.p.Stats().Breakers {
					if b.Counts.Failures != 0 || b.State != breaker.StateClosed {
						t.Errorf("breaker %s: %s %+v, want closed with no failure", b.Source, b.State, b.Counts)
					}
				}
			})
		}
	}
}

// What Read retries, and what it leaves alone. Here dbresolver's own
// RandomPolicy keeps sending reads to replicas that refuse every
// connection, so that each first attempt fails.
func TestReadRetriesOnPrimary(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			e := newReplicaEnv(t, kind, envOptions{plainPolicy: true, mutate: func(c *sessionplugin.Config) {
				c.Breaker.ConsecutiveFailures = 1000 // keep the failures coming
			}})
			var items []Item
			if err := e.db.Limit(1).Find(&items).Error; err != nil {
				t.Fatal(err)
			}
			for _, px := range e.proxies {
				px.SetRefuse(true)
				px.ResetAll()
			}
			ctx := context.Background()
			find := func(db *gorm.DB) error {
				var items []Item
				return db.Order("id").Limit(3).Find(&items).Error
			}
			cases := []struct {
				name      string
				read      func(calls *int) error
				wantCat   sessionplugin.Category
				wantCalls int
			}{
				{"a plain read fails", func(calls *int) error { *calls++; return find(e.db.WithContext(ctx)) },
					sessionplugin.CategoryConnection, 1},
				{"Read succeeds on the primary", func(calls *int) error {
					return sessionplugin.Read(ctx, e.db, func(db *gorm.DB) error { *calls++; return find(db) })
				}, "", 2},
				{"Read of several statements", func(calls *int) error {
					return sessionplugin.Read(ctx, e.db, func(db *gorm.DB) error {
						*calls++
						var n int64
						if err := db.Model(&Item{}).Count(&n).Error; err != nil {
							return err
						}
						return find(db)
					})
				}, "", 2},
				{"Read of Rows", func(calls *int) error {
					return sessionplugin.Read(ctx, e.db, func(db *gorm.DB) error {
						*calls++
						rows, err := db.Raw("SELECT name FROM items ORDER BY id").Rows()
						if err != nil {
							return err
						}
						defer rows.Close()
						for rows.Next() {
						}
						return rows.Err()
					})
				}, "", 2},
				{"not found is not retried", func(calls *int) error {
					onPrimary := e.db.Clauses(dbresolver.Write).Session(&gorm.Session{})
					return sessionplugin.Read(ctx, onPrimary, func(db *gorm.DB) error {
						*calls++
						var it Item
						return db.Where("name = ?", "nobody").First(&it).Error
					})
				}, sessionplugin.CategoryNotFound, 1},
				{"a connection error with no source is retried", func(calls *int) error {
					return sessionplugin.Read(ctx, e.db, func(db *gorm.DB) error {
						if *calls++; *calls == 1 {
							return fmt.Errorf("read: %w", driver.ErrBadConn)
						}
						return find(db)
					})
				}, "", 2},
				{"inside a transaction: one run", func(calls *int) error {
					return sessionplugin.Transaction(ctx, e.db, func(tx *gorm.DB) error {
						return sessionplugin.Read(ctx, tx, func(db *gorm.DB) error {
							*calls++
							return fmt.Errorf("read: %w", driver.ErrBadConn)
						})
					})
				}, sessionplugin.CategoryConnection, 1},
				{"the primary's own timeout is not retried", func(calls *int) error {
					onPrimary := e.db.Clauses(dbresolver.Write).Session(&gorm.Session{})
					return sessionplugin.Read(nil, sessionplugin.WithTimeout(onPrimary, time.Millisecond), func(db *gorm.DB) error {
						*calls++
						return db.Exec(sleepSQL(kind, 2)).Error
					})
				}, sessionplugin.CategoryTimeout, 1},
				{"caller's context canceled: no retry", func(calls *int) error {
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					return sessionplugin.Read(cctx, e.db, func(db *gorm.DB) error { *calls++; return find(db) })
				}, sessionplugin.CategoryCanceled, 1},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					calls := 0
					err := c.read(&calls)
					if got := sessionplugin.Classify(err); got != c.wantCat {
						t.Errorf("Classify(%v) = %q, want %q", err, got, c.wantCat)
					}
					if calls != c.wantCalls {
						t.Errorf("fn ran %d times, want %d", calls, c.wantCalls)
					}
				})
			}
		})
	}
}

// Read's argument checks and its behaviour without dbresolver.
func TestReadArguments(t *testing.T) {
	db, _, _ := install(t, testdb.SQLite, nil)
	fn := func(*gorm.DB) error { return nil }
	cases := []struct {
		name    string
		db      *gorm.DB
		fn      func(*gorm.DB) error
		wantErr string
	}{
		{"nil db", nil, fn, "nil *gorm.DB"},
		{"unopened db", &gorm.DB{}, fn, "not opened with gorm.Open"},
		{"nil fn", db, nil, "nil fn"},
		{"ok", db, fn, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			//nolint:staticcheck // a nil ctx is documented
			err := sessionplugin.Read(nil, c.db, c.fn)
			if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("Read = %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
	t.Run("no dbresolver: no retry", func(t *testing.T) {
		calls := 0
		err := sessionplugin.Read(context.Background(), db, func(db *gorm.DB) error {
			calls++
			return fmt.Errorf("read: %w", driver.ErrBadConn)
		})
		if calls != 1 || !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("calls %d, err %v: want one run and its error", calls, err)
		}
	})
	t.Run("a nil ctx keeps db's context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := sessionplugin.Read(nil, db.WithContext(ctx), func(db *gorm.DB) error {
			var items []Item
			return db.Find(&items).Error
		})
		if sessionplugin.Classify(err) != sessionplugin.CategoryCanceled {
			t.Errorf("err %v, want the canceled context's", err)
		}
	})
}

// The policy before the plugin is ready, and after Close, still routes.
func TestReplicaPolicyLifecycle(t *testing.T) {
	var nilPlugin *sessionplugin.Plugin
	pools := []gorm.ConnPool{&sql.DB{}, &sql.DB{}}
	for _, c := range []struct {
		name string
		pol  *sessionplugin.ReplicaPolicy
	}{
		{"nil plugin", nilPlugin.ReplicaPolicy()},
		{"plugin not installed", sessionplugin.New(sessionplugin.DefaultConfig()).ReplicaPolicy(sessionplugin.ReplicaChoose(nil), nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.pol.Resolve(pools); got != pools[0] && got != pools[1] {
				t.Errorf("Resolve = %v, want one of the pools", got)
			}
			if got := c.pol.Resolve(nil); got != nil {
				t.Errorf("Resolve(nil) = %v, want nil", got)
			}
			if err := c.pol.Close(); err != nil {
				t.Error(err)
			}
			if err := c.pol.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// With one replica dbresolver never asks its policy, so the primary is
// listed too: it then serves reads only when the replica cannot.
func TestSingleReplicaWithPrimaryListed(t *testing.T) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			tg := testdb.Fresh(t, kind)
			db := testdb.OpenTarget(t, tg)
			if err := db.AutoMigrate(&Item{}); err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			px, err := sessiontest.NewFaultProxy(tg.Addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { px.Close() })
			primaryAgain := postgres.New(postgres.Config{Conn: sqlDB})
			if kind == testdb.MySQL {
				primaryAgain = mysql.New(mysql.Config{Conn: sqlDB})
			}
			cfg := sessionplugin.DefaultConfig()
			replicaConfig(&cfg)
			p := sessionplugin.New(cfg)
			t.Cleanup(func() { p.Close() })
			policy := p.ReplicaPolicy(sessionplugin.ReplicaProbeTimeout(300 * time.Millisecond))
			resolver := dbresolver.Register(dbresolver.Config{
				Replicas: []gorm.Dialector{testdb.Dialector(kind, readOnlyDSN(t, tg, px.Addr())), primaryAgain},
				Policy:   policy,
			})
			for _, pl := range []gorm.Plugin{resolver, p} {
				if err := db.Use(pl); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() {
				resolver.Call(func(cp gorm.ConnPool) error {
					if c, ok := cp.(*sql.DB); ok && c != sqlDB { // not the primary: the test's own
						c.Close()
					}
					return nil
				})
			})
			t.Cleanup(func() { policy.Close() })

			read := func() {
				t.Helper()
				err := sessionplugin.Read(context.Background(), db, func(db *gorm.DB) error {
					var n int64
					return db.Model(&Item{}).Count(&n).Error
				})
				if err != nil {
					t.Fatalf("read: %v", err)
				}
			}
			read() // names the sources
			primary, replica := p.Breaker("primary"), p.Breaker("replica-1")
			steps := []struct {
				name        string
				fault       func()
				wantReplica bool // reads reach the replica, not the primary
			}{
				{"replica up: reads on the replica", func() {}, true},
				{"replica down: reads on the primary", func() { px.SetRefuse(true); px.ResetAll() }, false},
				{"replica back", func() { px.SetRefuse(false) }, true},
			}
			for _, s := range steps {
				s.fault()
				if s.wantReplica {
					waitUntil(t, 5*time.Second, "the replica's breaker to close", func() bool {
						read()
						return replica.State() == breaker.StateClosed && replica.Counts().ConsecutiveFailures == 0
					})
				}
				p0, r0 := primary.Counts().Requests, replica.Counts().Requests
				for range 3 {
					read()
				}
				time.Sleep(50 * time.Millisecond) // a probe's ping may still count
				for range 20 {
					read()
				}
				onPrimary, onReplica := primary.Counts().Requests-p0, replica.Counts().Requests-r0
				if s.wantReplica && (onPrimary != 0 || onReplica < 20) {
					t.Errorf("%s: %d reads on the primary, %d on the replica; want all 23 on the replica", s.name, onPrimary, onReplica)
				}
				if !s.wantReplica && onPrimary < 20 {
					t.Errorf("%s: %d reads on the primary, %d on the replica; want them on the primary", s.name, onPrimary, onReplica)
				}
			}
			if got := sourcesOf(p); !slices.Equal(got, []string{"primary", "replica-1"}) {
				t.Errorf("sources %v, want [primary replica-1]", got)
			}
		})
	}
}

// Plugin.Close closes the replica policies it made: their health checks
// stop with the plugin's other background work.
func TestPluginCloseClosesReplicaPolicies(t *testing.T) {
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	r1, r2 := p.ReplicaPolicy(), p.ReplicaPolicy()
	if sessionplugin.PolicyClosed(r1) {
		t.Fatal("a new policy is closed")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !sessionplugin.PolicyClosed(r1) || !sessionplugin.PolicyClosed(r2) {
		t.Error("Plugin.Close left a replica policy open")
	}
	if err := r1.Close(); err != nil { // idempotent after the plugin closed it
		t.Fatal(err)
	}
}
