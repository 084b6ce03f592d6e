package testdb

import "testing"

func TestFreshIsIsolated(t *testing.T) {
	Each(t, func(t *testing.T, kind Kind) {
		a, b := Open(t, kind), Open(t, kind)
		type Thing struct{ ID int }
		if err := a.AutoMigrate(&Thing{}); err != nil {
			t.Fatal(err)
		}
		if b.Migrator().HasTable(&Thing{}) {
			t.Fatalf("%s: table created in one fresh database is visible in another", kind)
		}
	})
}
