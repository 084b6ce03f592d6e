package sessionplugin_test

import (
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

func TestInstallAppliesPool(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) { c.PoolSize, c.MaxOverflow = 3, 4 })
		got, ok := sessionplugin.FromDB(db)
		if !ok || got != p {
			t.Fatalf("FromDB = %v, %v; want the installed plugin", got, ok)
		}
		sqlDB, err := db.DB()
		if err != nil {
			t.Fatalf("db.DB() after install: %v", err)
		}
		if n := sqlDB.Stats().MaxOpenConnections; n != 7 {
			t.Errorf("MaxOpenConnections = %d, want PoolSize+MaxOverflow = 7", n)
		}
		if err := db.Use(sessionplugin.New(sessionplugin.DefaultConfig())); !errors.Is(err, gorm.ErrRegistered) {
			t.Errorf("second Use: %v, want gorm.ErrRegistered", err)
		}
		if err := db.Create(&Item{Name: "a"}).Error; err != nil {
			t.Fatal(err)
		}
	})
}

func TestInvalidConfigInstallsNothing(t *testing.T) {
	db := testdb.Open(t, testdb.SQLite)
	cfg := sessionplugin.DefaultConfig()
	cfg.PoolSize = 0
	cfg.QueryTimeout = -1
	err := db.Use(sessionplugin.New(cfg))
	if err == nil {
		t.Fatal("db.Use with PoolSize 0 succeeded")
	}
	for _, want := range []string{"PoolSize", "QueryTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, ok := sessionplugin.FromDB(db); ok {
		t.Error("plugin registered despite invalid config")
	}
	if db.Callback().Query().Get("gormsession:before_query") != nil {
		t.Error("callbacks registered despite invalid config")
	}
	if _, ok := db.ConnPool.(interface{ GetDBConn() }); ok {
		t.Error("ConnPool wrapped despite invalid config")
	}
}

func TestWorksWithoutPluginFromDB(t *testing.T) {
	if p, ok := sessionplugin.FromDB(nil); ok || p != nil {
		t.Fatalf("FromDB(nil) = %v, %v", p, ok)
	}
}
