package sessionplugin_test

import (
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// dbresolver gives every pool a gorm.PreparedStmtDB whose LRU starts
		// a goroutine nothing can stop (gorm.io/gorm/internal/lru).
		goleak.IgnoreTopFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"))
}

type Item struct {
	ID    uint   `gorm:"primaryKey"`
	Name  string `gorm:"uniqueIndex;size:64;not null"`
	Price int
}

// install opens a fresh database of kind, migrates Item, and installs the
// plugin with DefaultConfig changed by mutate. Logs go to the returned
// observer.
func install(t *testing.T, kind testdb.Kind, mutate func(*sessionplugin.Config)) (*gorm.DB, *sessionplugin.Plugin, *observer.ObservedLogs) {
	t.Helper()
	db := testdb.Open(t, kind)
	return installOn(t, db, mutate)
}

func installOn(t *testing.T, db *gorm.DB, mutate func(*sessionplugin.Config)) (*gorm.DB, *sessionplugin.Plugin, *observer.ObservedLogs) {
	t.Helper()
	if err := db.AutoMigrate(&Item{}); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	cfg := sessionplugin.DefaultConfig()
	cfg.Logger = zap.New(core)
	if mutate != nil {
		mutate(&cfg)
	}
	p := sessionplugin.New(cfg)
	if err := db.Use(p); err != nil {
		t.Fatalf("db.Use: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return db, p, logs
}
