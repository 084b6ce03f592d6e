package sessiontest

import (
	"database/sql"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/replyrocket/gormsession/internal/testdb"
)

// openers are the public openers, by the engine they open.
var openers = []struct {
	kind testdb.Kind
	open func(testing.TB) *gorm.DB
}{
	{testdb.SQLite, OpenSQLite},
	{testdb.Postgres, OpenPostgres},
	{testdb.MySQL, OpenMySQL},
}

// eachOpener runs fn as a parallel subtest per engine.
func eachOpener(t *testing.T, fn func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB)) {
	for _, o := range openers {
		t.Run(string(o.kind), func(t *testing.T) {
			t.Parallel()
			fn(t, o.kind, o.open)
		})
	}
}

type widget struct {
	ID   uint
	Name string
}

// Two databases from the same opener are separate: a table made in one is
// not visible in the other, and each works on its own.
func TestOpenIsIsolated(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		a, b := open(t), open(t)
		if err := a.AutoMigrate(&widget{}); err != nil {
			t.Fatal(err)
		}
		if err := a.Create(&widget{Name: "only in a"}).Error; err != nil {
			t.Fatal(err)
		}
		if b.Migrator().HasTable(&widget{}) {
			t.Fatalf("%s: a table made in one database is visible in another", kind)
		}
		if err := b.AutoMigrate(&widget{}); err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := b.Model(&widget{}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("%s: second database has %d widgets (%v), want 0", kind, n, err)
		}
	})
}

// At cleanup the pool is closed and the schema (PostgreSQL), database
// (MySQL) or file (SQLite) is gone. The subtest "open" runs the cleanup; the
// parent then looks for what it made.
func TestOpenDropsAtCleanup(t *testing.T) {
	eachOpener(t, func(t *testing.T, kind testdb.Kind, open func(testing.TB) *gorm.DB) {
		var name string // schema, database or file
		var pool *sql.DB
		t.Run("open", func(t *testing.T) {
			db := open(t)
			if err := db.AutoMigrate(&widget{}); err != nil {
				t.Fatal(err)
			}
			name = currentDatabase(t, kind, db)
			pool, _ = db.DB()
		})
		if name == "" {
			if os.Getenv("CI") == "true" {
				t.Fatal("the opener did not open anything, and CI=true")
			}
			t.Skip("the opener did not open anything")
		}
		if !strings.Contains(name, "gs_") {
			t.Fatalf("%s: opened %q, want a fresh gs_... database", kind, name)
		}
		if err := pool.Ping(); err == nil || !strings.Contains(err.Error(), "database is closed") {
			t.Errorf("%s: pool after cleanup: Ping() = %v, want sql: database is closed", kind, err)
		}
		if exists(t, kind, name) {
			t.Errorf("%s: %s still exists after cleanup", kind, name)
		}
	})
}

// currentDatabase names the schema, database or file db works in.
func currentDatabase(t *testing.T, kind testdb.Kind, db *gorm.DB) string {
	t.Helper()
	var name string
	var err error
	switch kind {
	case testdb.Postgres:
		err = db.Raw("SELECT current_schema()").Scan(&name).Error
	case testdb.MySQL:
		err = db.Raw("SELECT DATABASE()").Scan(&name).Error
	default:
		var rows []struct {
			Name, File string
		}
		err = db.Raw("PRAGMA database_list").Scan(&rows).Error
		for _, r := range rows {
			if r.Name == "main" {
				name = r.File
			}
		}
	}
	if err != nil || name == "" {
		t.Fatalf("%s: current database: %q, %v", kind, name, err)
	}
	if !exists(t, kind, name) {
		t.Fatalf("%s: %s does not exist while open", kind, name)
	}
	return name
}

// exists looks name up from outside: in pg_namespace, in
// information_schema.schemata, or on disk.
func exists(t *testing.T, kind testdb.Kind, name string) bool {
	t.Helper()
	if kind == testdb.SQLite {
		_, err := os.Stat(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	driver, query := "pgx", "SELECT count(*) FROM pg_namespace WHERE nspname = $1"
	if kind == testdb.MySQL {
		driver, query = "mysql", "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?"
	}
	admin, err := sql.Open(driver, testdb.BaseDSN(kind))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow(query, name).Scan(&n); err != nil {
		t.Fatalf("%s: look up %s: %v", kind, name, err)
	}
	return n > 0
}

// The DSN functions give a fresh database a test can open itself, here
// through a FaultProxy exactly as their doc comments show, and drop it at
// cleanup.
func TestDSNThroughFaultProxy(t *testing.T) {
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.MySQL} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			var name string
			t.Run("open", func(t *testing.T) {
				var dial gorm.Dialector
				var proxy *FaultProxy
				var err error
				if kind == testdb.Postgres {
					u, err := url.Parse(PostgresDSN(t))
					if err != nil {
						t.Fatal(err)
					}
					if proxy, err = NewFaultProxy(u.Host); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { proxy.Close() })
					u.Host = proxy.Addr()
					dial = postgres.Open(u.String())
				} else {
					cfg, err := mysqldrv.ParseDSN(MySQLDSN(t))
					if err != nil {
						t.Fatal(err)
					}
					if proxy, err = NewFaultProxy(cfg.Addr); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { proxy.Close() })
					cfg.Addr = proxy.Addr()
					dial = mysql.Open(cfg.FormatDSN())
				}
				db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard})
				if err != nil {
					t.Fatal(err)
				}
				sqlDB, _ := db.DB()
				t.Cleanup(func() { sqlDB.Close() })
				if err := db.AutoMigrate(&widget{}); err != nil {
					t.Fatal(err)
				}
				name = currentDatabase(t, kind, db)
				if proxy.Dials() < 1 {
					t.Errorf("%s: the DSN did not go through the proxy (Dials() = %d)", kind, proxy.Dials())
				}
			})
			if name == "" {
				if os.Getenv("CI") == "true" {
					t.Fatal("the DSN was not opened, and CI=true")
				}
				t.Skip("the DSN was not opened")
			}
			if !strings.HasPrefix(name, "gs_") {
				t.Errorf("%s: DSN opened %q, want a fresh gs_... schema or database", kind, name)
			}
			if exists(t, kind, name) {
				t.Errorf("%s: %s still exists after cleanup", kind, name)
			}
		})
	}
}
