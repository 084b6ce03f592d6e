package bench

import (
	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/internal/testdb"
)

// BenchmarkPluginWork is what the plugin's own steps cost a statement,
// without sending it: GORM's First with its query step ("gorm:query")
// replaced by one that does nothing (GORM does not build the SQL either),
// bare and with the plugin, paired as in BenchmarkPaired. extra-ns/op is
// then the plugin's before and after steps alone (deadline, breaker gate,
// caller, registry, the pooled connection it takes and gives back, the
// log decision) per statement; the ratio means nothing here. It is not the
// overhead a service sees, which BenchmarkPaired measures: BENCHMARKS.md
// says why the two differ.
//
// op=pool is database/sql taking and returning a pooled connection
// through a *sql.Conn and nothing else. It is part of extra-ns/op, but a
// real statement takes and returns a connection anyway (inside
// database/sql's QueryContext), so in a real statement the plugin adds
// only the difference between the two ways.
func BenchmarkPluginWork(b *testing.B) {
	for _, kind := range kinds {
		b.Run("db="+string(kind), func(b *testing.B) { pluginWork(b, kind) })
	}
}

// pluginWork is BenchmarkPluginWork on one kind of database.
func pluginWork(b *testing.B, kind testdb.Kind) {
	f := newFixture(b, kind)
	open := func(b *testing.B, v variant) func(i int) error {
		db := f.open(b, v)
		if err := db.Callback().Query().Replace("gorm:query", func(*gorm.DB) {}); err != nil {
			b.Fatal(err)
		}
		return func(i int) error {
			var it Item
			return db.First(&it, i%nRows+1).Error
		}
	}
	bare := open(b, vBare)
	for _, v := range []variant{vDefaults, vAll} {
		run := open(b, v)
		b.Run("op=First/v="+v.name, func(b *testing.B) {
			pairedRun(b, 1, bare, run)
		})
	}
	b.Run("op=pool", func(b *testing.B) {
		sqlDB, err := f.open(b, vBare).DB()
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			conn, err := sqlDB.Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			conn.Close()
		}
	})
}
