package sessionplugin_test

import (
	"database/sql"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Statements routed by dbresolver carry their source; the replica's pool
// gets the plugin's settings too; writes stay on the primary.
func TestDBResolverSources(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db := testdb.Open(t, kind)
		replica := testdb.Fresh(t, kind)
		rdb := testdb.OpenTarget(t, replica)
		if err := rdb.AutoMigrate(&Item{}); err != nil {
			t.Fatal(err)
		}
		rdb.Create(&Item{Name: "on-replica"})
		if err := db.AutoMigrate(&Item{}); err != nil {
			t.Fatal(err)
		}
		resolver := dbresolver.Register(dbresolver.Config{
			Replicas:          []gorm.Dialector{replica.Dialector()},
			TraceResolverMode: true,
		})
		if err := db.Use(resolver); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			resolver.Call(func(cp gorm.ConnPool) error {
				if s, ok := cp.(*sql.DB); ok {
					s.Close()
				}
				return nil
			})
		})
		db, p, _ := installOn(t, db, func(c *sessionplugin.Config) { c.PoolSize, c.MaxOverflow = 2, 1 })
		if err := db.Create(&Item{Name: "on-primary"}).Error; err != nil {
			t.Fatal(err)
		}
		var names []string
		rows, err := db.Model(&Item{}).Select("name").Rows()
		if err != nil {
			t.Fatal(err)
		}
		scopes := p.ActiveScopes()
		for rows.Next() {
			var n string
			rows.Scan(&n)
			names = append(names, n)
		}
		rows.Close()
		if len(names) != 1 || names[0] != "on-replica" {
			t.Fatalf("read %v, want [on-replica] from the replica", names)
		}
		if len(scopes) != 1 || scopes[0].Source != "replica-1" {
			t.Fatalf("scopes during the read = %+v, want one on replica-1", scopes)
		}
		var replicaPool *sessionplugin.PoolStats
		st := p.Stats()
		for i := range st.Pools {
			if st.Pools[i].Source == "replica-1" {
				replicaPool = &st.Pools[i]
			}
		}
		if replicaPool == nil || replicaPool.MaxOpenConnections != 3 {
			t.Fatalf("replica pool = %+v, want MaxOpenConnections 3", replicaPool)
		}
		if err := db.Create(&Item{Name: "x"}).Error; err != nil {
			t.Fatal(err)
		}
	})
}

// dbresolver installed after the plugin works too: it opens its sources
// with a copy of the gorm config, which initializes the plugin again on
// those internal *gorm.DBs; that must not fail, and reads still reach the
// replica as tracked statements with the plugin's pool settings.
func TestDBResolverAfterPlugin(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, p, _ := install(t, kind, func(c *sessionplugin.Config) { c.PoolSize, c.MaxOverflow = 2, 1 })
		replica := testdb.Fresh(t, kind)
		rdb := testdb.OpenTarget(t, replica)
		if err := rdb.AutoMigrate(&Item{}); err != nil {
			t.Fatal(err)
		}
		rdb.Create(&Item{Name: "on-replica"})
		resolver := dbresolver.Register(dbresolver.Config{Replicas: []gorm.Dialector{replica.Dialector()}})
		if err := db.Use(resolver); err != nil {
			t.Fatalf("db.Use(dbresolver) after the plugin: %v", err)
		}
		t.Cleanup(func() {
			resolver.Call(func(cp gorm.ConnPool) error {
				if s, ok := cp.(*sql.DB); ok {
					s.Close()
				}
				return nil
			})
		})
		before := p.Stats().Opened
		var it Item
		if err := db.First(&it).Error; err != nil || it.Name != "on-replica" {
			t.Fatalf("read %+v, %v; want the replica's row", it, err)
		}
		if p.Stats().Opened == before {
			t.Error("the replica read opened no scope")
		}
		var replicaSeen bool
		for _, ps := range p.Stats().Pools {
			if ps.Source != "primary" {
				replicaSeen = true
				if ps.DBStats.MaxOpenConnections != 3 {
					t.Errorf("replica pool %s: MaxOpenConns %d, want 3 (PoolSize+MaxOverflow)", ps.Source, ps.DBStats.MaxOpenConnections)
				}
			}
		}
		if !replicaSeen {
			t.Errorf("no replica source in Stats().Pools: %+v", p.Stats().Pools)
		}
	})
}

// Only dbresolver's copies of the config are let through: a second
// database opened with the plugin in its own Plugins map is refused.
func TestSecondDatabaseWithSamePluginRefused(t *testing.T) {
	_, p, _ := install(t, testdb.SQLite, nil)
	other := testdb.Fresh(t, testdb.SQLite)
	db2, err := gorm.Open(other.Dialector(), &gorm.Config{Plugins: map[string]gorm.Plugin{sessionplugin.PluginName: p}})
	if db2 != nil {
		if s, e := db2.DB(); e == nil {
			defer s.Close()
		}
	}
	if err == nil || !strings.Contains(err.Error(), "already initialized") {
		t.Fatalf("gorm.Open with the installed plugin in a new Plugins map: %v, want already initialized", err)
	}
}
