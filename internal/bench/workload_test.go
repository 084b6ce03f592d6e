package bench

import (
	"context"
	"fmt"
	"testing"

	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// BenchmarkFirst is a point select by primary key, with the statement's
// context left as GORM's default (ctx=background: no Done channel, the
// cheapest case for bare GORM) and with a request's context
// (ctx=request: cancellable, as net/http hands every handler, set with
// WithContext as a service does).
func BenchmarkFirst(b *testing.B) {
	b.Run("ctx=background", func(b *testing.B) {
		perVariant(b, variants, func(b *testing.B, db *gorm.DB, _ variant) {
			for i := 0; b.Loop(); i++ {
				var it Item
				if err := db.First(&it, i%nRows+1).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("ctx=request", func(b *testing.B) {
		perVariant(b, variants, func(b *testing.B, db *gorm.DB, _ variant) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := 0; b.Loop(); i++ {
				var it Item
				if err := db.WithContext(ctx).First(&it, i%nRows+1).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkCreate is a single-row insert (in GORM's implicit transaction,
// as GORM does by default).
func BenchmarkCreate(b *testing.B) {
	perVariant(b, variants, func(b *testing.B, db *gorm.DB, _ variant) {
		for b.Loop() {
			w := Write{Name: "w", Price: 1}
			if err := db.Create(&w).Error; err != nil {
				b.Fatal(err)
			}
		}
	})
}

// txWork is the 3 statements of a transaction: a read, an insert, an update.
func txWork(tx *gorm.DB, id int) error {
	var it Item
	if err := tx.First(&it, id).Error; err != nil {
		return err
	}
	if err := tx.Create(&Write{Name: "tx", Price: it.Price}).Error; err != nil {
		return err
	}
	return tx.Model(&Item{}).Where("id = ?", id).Update("price", gorm.Expr("price + 1")).Error
}

// BenchmarkTx3 is a 3-statement transaction. Every variant runs GORM's
// db.Transaction; "+tx" variants run sessionplugin.Transaction instead.
func BenchmarkTx3(b *testing.B) {
	ours := func(v variant) variant { return variant{v.name + "+tx", v.install} }
	vs := append(append([]variant{}, variants...), ours(vBare), ours(vDefaults), ours(vAll))
	ctx := context.Background()
	perVariant(b, vs, func(b *testing.B, db *gorm.DB, v variant) {
		run := func(id int) error { return db.Transaction(func(tx *gorm.DB) error { return txWork(tx, id) }) }
		if len(v.name) > 3 && v.name[len(v.name)-3:] == "+tx" {
			run = func(id int) error {
				return sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error { return txWork(tx, id) })
			}
		}
		for i := 0; b.Loop(); i++ {
			if err := run(i%nRows + 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRows1000 reads all 1,000 rows through Rows().
func BenchmarkRows1000(b *testing.B) {
	perVariant(b, variants, func(b *testing.B, db *gorm.DB, _ variant) {
		for b.Loop() {
			if err := readRows(db); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readRows scans every Item through Rows().
func readRows(db *gorm.DB) error {
	rows, err := db.Model(&Item{}).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		id, price int
		name      string
		n         int
	)
	for rows.Next() {
		if err := rows.Scan(&id, &name, &price); err != nil {
			return err
		}
		n++
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if n != nRows {
		return fmt.Errorf("read %d rows, want %d", n, nRows)
	}
	return nil
}

// BenchmarkParallelFirst is point-select throughput from g goroutines at
// once: ns/op is wall time per select over all of them.
func BenchmarkParallelFirst(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("g=%d", g), func(b *testing.B) {
			perVariant(b, variants, func(b *testing.B, db *gorm.DB, _ variant) {
				parallel(b, g, func(i int) error {
					var it Item
					return db.First(&it, i%nRows+1).Error
				})
			})
		})
	}
}
