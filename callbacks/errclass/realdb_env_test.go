package errclass

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/replyrocket/gormsession/internal/testdb"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	gosqlite "modernc.org/sqlite"
)

// Parent and Child are the scenarios' tables.
type Parent struct {
	ID   uint
	Name *string `gorm:"size:20;not null;uniqueIndex"`
	Qty  int     `gorm:"check:chk_parents_qty,qty >= 0"`
}

type Child struct {
	ID       uint
	ParentID uint
	Parent   *Parent
}

func str(s string) *string { return &s }

func randName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newEnv opens a fresh database with parents 1 "one" and 2 "two".
func newEnv(t *testing.T, kind testdb.Kind) *env {
	t.Helper()
	tg := testdb.Fresh(t, kind)
	db := testdb.OpenTarget(t, tg)
	if err := db.AutoMigrate(&Parent{}, &Child{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// IDs come from the sequence so later inserts do not collide on them.
	if err := db.Create([]*Parent{{Name: str("one")}, {Name: str("two")}}).Error; err != nil {
		t.Fatalf("seed: %v", err)
	}
	return &env{kind: kind, tg: tg, db: db}
}

// open opens dsn with GORM's logger silenced and closes it at cleanup.
func open(t *testing.T, d gorm.Dialector) (*gorm.DB, error) {
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db, nil
}

// setQty updates parent id's qty.
func setQty(db *gorm.DB, id uint, qty int) error {
	return db.Model(&Parent{}).Where("id = ?", id).Update("qty", qty).Error
}

// either returns the error that happened; both failing is itself reported.
func either(a, b error) error {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return fmt.Errorf("both failed: %v; and %w", a, b)
}

// mysqlUser creates a MariaDB user without grants, dropped at cleanup, and
// returns the DSN config for it.
func mysqlUser(t *testing.T, e *env) *mysqldrv.Config {
	user := randName("gs_nopriv_")
	if err := e.db.Exec("CREATE USER '" + user + "'@'%'").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
	cfg, err := mysqldrv.ParseDSN(e.tg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, ""
	return cfg
}

// pgRole creates a PostgreSQL role that may only look up names in the test
// schema, dropped at cleanup.
func pgRole(t *testing.T, e *env) string {
	role := randName("gs_nopriv_")
	var schema string
	if err := e.db.Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE ROLE " + role + " NOLOGIN", "GRANT USAGE ON SCHEMA " + schema + " TO " + role} {
		if err := e.db.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		e.db.Exec("DROP OWNED BY " + role) // revokes the grant
		if err := e.db.Exec("DROP ROLE " + role).Error; err != nil {
			t.Errorf("drop role %s: %v", role, err)
		}
	})
	return role
}

// longQuery runs for seconds unless interrupted. The SQLite queries call
// gs_started(token) on their first row. With rows, SQLite streams many rows
// instead of computing one slowly: the driver interrupts a statement only
// while Exec or Query runs, not inside Rows.Next, where database/sql
// notices the context between rows instead.
func longQuery(kind testdb.Kind, rows bool, token string) string {
	switch {
	case kind == testdb.Postgres:
		return "SELECT 1 FROM pg_sleep(10)"
	case kind == testdb.MySQL:
		return "SELECT SLEEP(10)"
	}
	q := "WITH RECURSIVE c(x) AS (SELECT gs_started('" + token + "') UNION ALL SELECT x + 1 FROM c WHERE x < "
	if rows {
		return q + "50000000) SELECT x FROM c"
	}
	return q + "2000000000) SELECT count(*) FROM c"
}

// sqliteStarted holds, by token, what gs_started calls when an SQLite
// statement reaches its first row.
var sqliteStarted sync.Map // string -> func()

func init() {
	gosqlite.MustRegisterScalarFunction("gs_started", 1, func(_ *gosqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if token, ok := args[0].(string); ok {
			if f, ok := sqliteStarted.Load(token); ok {
				f.(func())()
			}
		}
		return int64(1), nil
	})
}

// sessionID returns the server's id for c's connection.
func sessionID(t *testing.T, c *gorm.DB, kind testdb.Kind) int {
	q := map[testdb.Kind]string{testdb.Postgres: "SELECT pg_backend_pid()", testdb.MySQL: "SELECT CONNECTION_ID()"}[kind]
	var id int
	if err := c.Raw(q).Scan(&id).Error; err != nil {
		t.Fatal(err)
	}
	return id
}

// whenRunning calls f once session id is running a statement, as the
// server reports it, unless stop closes first.
func whenRunning(e *env, id int, stop <-chan struct{}, f func()) {
	q := map[testdb.Kind]string{
		testdb.Postgres: "SELECT count(*) FROM pg_stat_activity WHERE pid = ? AND state = 'active'",
		testdb.MySQL:    "SELECT count(*) FROM information_schema.processlist WHERE id = ? AND command = 'Query'",
	}[e.kind]
	for {
		var n int
		if err := e.db.Raw(q, id).Scan(&n).Error; err == nil && n > 0 {
			f()
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// endingCtx is a context the test ends by hand, with the error a deadline
// or a cancel gives, so it can end exactly while a statement runs.
type endingCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

func newEndingCtx() *endingCtx {
	return &endingCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *endingCtx) Done() <-chan struct{} { return c.done }

func (c *endingCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *endingCtx) end(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
}
