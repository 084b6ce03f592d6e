package callbacks

import (
	"context"
	"testing"

	"github.com/replyrocket/gormsession/internal/testdb"
)

// The direct read must find database/sql's fields on the Go it is built
// with (if it did not, every statement would pay for Conn.Raw unnoticed)
// and give exactly what Conn.Raw gives, on every driver.
func TestDriverConnOf(t *testing.T) {
	if !directDriverConn {
		t.Fatal("database/sql's Conn.dc or driverConn.ci was not found: driverConnOf falls back to Conn.Raw")
	}
	if got := driverConnOf(nil); got != nil {
		t.Fatalf("driverConnOf(nil) = %v, want nil", got)
	}
	for _, kind := range testdb.All {
		t.Run(string(kind), func(t *testing.T) {
			sqlDB, err := testdb.Open(t, kind).DB()
			if err != nil {
				t.Fatal(err)
			}
			conn, err := sqlDB.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got, want := driverConnOf(conn), rawDriverConn(conn)
			if want == nil || got != want {
				t.Fatalf("driverConnOf = %T %p, Conn.Raw gives %T %p", got, got, want, want)
			}
			if err := conn.Close(); err != nil {
				t.Fatal(err)
			}
			if got := driverConnOf(conn); got != nil {
				t.Fatalf("driverConnOf(closed conn) = %T, want nil", got)
			}
		})
	}
}
