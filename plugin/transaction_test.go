package sessionplugin_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

var errBusiness = errors.New("business rule said no")

func count(t *testing.T, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Model(&Item{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTransactionSemantics(t *testing.T) {
	for _, installed := range []bool{true, false} {
		t.Run(fmt.Sprintf("plugin=%v", installed), func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
				db := openMaybePlugged(t, kind, installed)
				ctx := context.Background()

				err := sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
					return tx.Create(&Item{Name: "kept"}).Error
				})
				if err != nil || count(t, db) != 1 {
					t.Fatalf("commit path: err %v, %d rows", err, count(t, db))
				}

				err = sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
					if err := tx.Create(&Item{Name: "undone"}).Error; err != nil {
						return err
					}
					return fmt.Errorf("wrapped: %w", errBusiness)
				})
				if !errors.Is(err, errBusiness) || count(t, db) != 1 {
					t.Fatalf("rollback path: err %v, %d rows; want errBusiness and 1 row", err, count(t, db))
				}

				type boom struct{ n int }
				func() {
					defer func() {
						if r := recover(); r != (boom{7}) {
							t.Fatalf("recovered %v, want the same panic value", r)
						}
					}()
					_ = sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
						tx.Create(&Item{Name: "panicked"})
						panic(boom{7})
					})
				}()
				if n := count(t, db); n != 1 {
					t.Fatalf("after panic: %d rows, want 1", n)
				}

				// Nested: the inner failure rolls back to its savepoint only.
				err = sessionplugin.Transaction(ctx, db, func(tx *gorm.DB) error {
					if err := tx.Create(&Item{Name: "outer"}).Error; err != nil {
						return err
					}
					inner := sessionplugin.Transaction(ctx, tx, func(tx2 *gorm.DB) error {
						if err := tx2.Create(&Item{Name: "inner"}).Error; err != nil {
							return err
						}
						return errBusiness
					})
					if !errors.Is(inner, errBusiness) {
						return fmt.Errorf("inner returned %v", inner)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				db.Model(&Item{}).Order("name").Pluck("name", &names)
				if fmt.Sprint(names) != "[kept outer]" {
					t.Fatalf("after nested: %v, want [kept outer]", names)
				}
			})
		})
	}
}

// A unique violation returned from fn comes back unchanged: errors.As
// still finds the driver's error, and Classify still names it.
func TestTransactionKeepsDriverError(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		db, _, _ := install(t, kind, nil)
		db.Create(&Item{Name: "dup"})
		err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
			return tx.Create(&Item{Name: "dup"}).Error
		})
		if c := sessionplugin.Classify(err); c != sessionplugin.CategoryUniqueViolation {
			t.Fatalf("Classify(%v) = %q, want unique_violation", err, c)
		}
	})
}

// A serialization failure is retried as a whole; the second attempt commits.
func TestTransactionRetriesSerializationFailure(t *testing.T) {
	db, _, _ := install(t, testdb.Postgres, nil)
	db.Create(&Item{Name: "counter", Price: 0})
	attempts := 0
	err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
		attempts++
		var it Item
		if err := tx.First(&it, "name = ?", "counter").Error; err != nil {
			return err
		}
		if attempts == 1 {
			// Another session commits a change to the same row meanwhile.
			if err := db.Model(&Item{}).Where("name = ?", "counter").Update("price", 100).Error; err != nil {
				return err
			}
		}
		return tx.Model(&it).Update("price", it.Price+1).Error
	}, sessionplugin.WithTxOptions(&sql.TxOptions{Isolation: sql.LevelRepeatableRead}), sessionplugin.WithRetry(3, time.Millisecond))
	if err != nil {
		t.Fatalf("Transaction: %v", err)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2 (one serialization failure, one success)", attempts)
	}
	var it Item
	db.First(&it, "name = ?", "counter")
	if it.Price != 101 {
		t.Errorf("price = %d, want 101", it.Price)
	}
	// Without WithRetry the same conflict is returned, classified.
	attempts = 0
	err = sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
		attempts++
		var it Item
		tx.First(&it, "name = ?", "counter")
		db.Model(&Item{}).Where("name = ?", "counter").Update("price", 0)
		return tx.Model(&it).Update("price", 5).Error
	}, sessionplugin.WithTxOptions(&sql.TxOptions{Isolation: sql.LevelRepeatableRead}))
	if c := sessionplugin.Classify(err); c != sessionplugin.CategorySerializationFailure || attempts != 1 {
		t.Errorf("no retry: Classify(%v) = %q after %d attempts", err, c, attempts)
	}
}

func TestTransactionTimeout(t *testing.T) {
	db, p, _ := install(t, testdb.Postgres, nil)
	err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error {
		return tx.Exec("SELECT pg_sleep(10)").Error
	}, sessionplugin.WithTxTimeout(200*time.Millisecond))
	var te *sessionplugin.TimeoutError
	if !errors.As(err, &te) || te.Budget != "transaction" || !errors.Is(err, sessionplugin.ErrQueryTimeout) {
		t.Fatalf("err = %v; want a transaction-budget TimeoutError", err)
	}
	waitFor(t, func() bool { return p.Stats().Active == 0 }, "the transaction scope to end")
	waitFor(t, func() bool { return !pgSleeping(t, db) }, "pg_sleep to stop on the server")
}

func TestTransactionFailsFastWhenCircuitOpen(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, nil)
	sqlDB, _ := db.DB()
	p.Breaker("primary").SetMode(breaker.ModeForcedOpen)
	before := sqlDB.Stats()
	ran := false
	err := sessionplugin.Transaction(context.Background(), db, func(tx *gorm.DB) error { ran = true; return nil })
	if !errors.Is(err, sessionplugin.ErrCircuitOpen) || ran {
		t.Fatalf("err = %v, fn ran = %v; want ErrCircuitOpen before BEGIN", err, ran)
	}
	var it Item
	if err := db.First(&it).Error; !errors.Is(err, sessionplugin.ErrCircuitOpen) {
		t.Fatalf("statement: %v, want ErrCircuitOpen", err)
	}
	after := sqlDB.Stats()
	if after.WaitCount != before.WaitCount || after.InUse != 0 {
		t.Errorf("pool touched while circuit open: before %+v after %+v", before, after)
	}
}

// Transaction begins the way db.Transaction does: from a fresh db each
// statement inside starts clean; a db carrying conditions passes them to
// every statement inside. Both helpers must see the same rows.
func TestTransactionSessionMatchesGorm(t *testing.T) {
	db, _, _ := install(t, testdb.SQLite, nil)
	for i, name := range []string{"cheap", "dear", "dearer"} {
		if err := db.Create(&Item{Name: name, Price: i * 10}).Error; err != nil {
			t.Fatal(err)
		}
	}
	// Two reads in one transaction: the first one's Where must not leak
	// into the second.
	work := func(tx *gorm.DB) (got [2]int64, err error) {
		if err = tx.Model(&Item{}).Where("price >= ?", 10).Count(&got[0]).Error; err != nil {
			return got, err
		}
		err = tx.Model(&Item{}).Count(&got[1]).Error
		return got, err
	}
	type key struct{}
	valued := context.WithValue(context.Background(), key{}, "v")
	for _, tc := range []struct {
		name string
		db   *gorm.DB
		ctx  context.Context // the db's own, or another
	}{
		{"fresh db", db, context.Background()},
		{"fresh db, another context", db, valued},
		{"session", db.WithContext(context.Background()), context.Background()},
		{"session with that context", db.WithContext(valued), valued},
		{"db with a condition", db.Where("price <= ?", 10), context.Background()},
		{"db with a condition, another context", db.Where("price <= ?", 10), valued},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ours, theirs [2]int64
			err := sessionplugin.Transaction(tc.ctx, tc.db, func(tx *gorm.DB) (err error) {
				if got, want := tx.Statement.Context.Value(key{}), tc.ctx.Value(key{}); got != want {
					t.Errorf("the transaction's context has %v for the caller's key, want %v", got, want)
				}
				ours, err = work(tx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.db.Transaction(func(tx *gorm.DB) (err error) {
				theirs, err = work(tx)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if ours != theirs {
				t.Errorf("Transaction counted %v, db.Transaction %v", ours, theirs)
			}
		})
	}
}

// uncomparableCtx is a context whose == panics.
type uncomparableCtx struct {
	context.Context
	fields []string
}

func TestSameContext(t *testing.T) {
	bg := context.Background()
	valued := context.WithValue(bg, struct{}{}, 1)
	odd := uncomparableCtx{bg, nil}
	for _, tc := range []struct {
		name string
		a, b context.Context
		want bool
	}{
		{"same", valued, valued, true},
		{"background", bg, context.Background(), true},
		{"different", bg, valued, false},
		{"nil and a context", nil, bg, false},
		{"uncomparable", odd, uncomparableCtx{bg, nil}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionplugin.SameContext(tc.a, tc.b); got != tc.want {
				t.Errorf("SameContext = %v, want %v", got, tc.want)
			}
		})
	}
}

// A db that already carries an error gets that error back, fn does not run,
// and no transaction is left holding a connection: GORM's Begin would send
// BEGIN anyway, and db.Transaction then returns the error with the
// transaction still open.
func TestTransactionOnDBWithError(t *testing.T) {
	errEarlier := errors.New("an earlier chained call failed")
	for _, installed := range []bool{true, false} {
		t.Run(fmt.Sprintf("plugin=%v", installed), func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
				db := openMaybePlugged(t, kind, installed)
				bad := db.Session(&gorm.Session{})
				_ = bad.AddError(errEarlier)
				ran := false
				err := sessionplugin.Transaction(context.Background(), bad, func(tx *gorm.DB) error {
					ran = true
					return nil
				})
				if !errors.Is(err, errEarlier) || ran {
					t.Fatalf("err = %v, fn ran: %v; want the db's error and fn not run", err, ran)
				}
				sqlDB, err := db.DB()
				if err != nil {
					t.Fatal(err)
				}
				if inUse := sqlDB.Stats().InUse; inUse != 0 {
					t.Errorf("%d connections in use after Transaction returned: a transaction was left open", inUse)
				}
			})
		})
	}
}

// openMaybePlugged opens a fresh kind database with Item migrated, with the
// plugin installed or not.
func openMaybePlugged(t *testing.T, kind testdb.Kind, installed bool) *gorm.DB {
	t.Helper()
	if installed {
		db, _, _ := install(t, kind, nil)
		return db
	}
	db := testdb.Open(t, kind)
	if err := db.AutoMigrate(&Item{}); err != nil {
		t.Fatal(err)
	}
	return db
}
