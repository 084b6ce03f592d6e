package bench

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"
)

func BenchmarkFirstCtx(b *testing.B) {
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tctx, cancel2 := context.WithTimeout(context.Background(), time.Hour)
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"bg", context.Background()}, {"cancel", cctx}, {"timeout", tctx}} {
		b.Run("ctx="+c.name, func(b *testing.B) {
			perVariant(b, []variant{vBare, vDefaults, vOtel}, func(b *testing.B, db *gorm.DB, _ variant) {
				for i := 0; b.Loop(); i++ {
					var it Item
					if err := db.WithContext(c.ctx).First(&it, i%nRows+1).Error; err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
