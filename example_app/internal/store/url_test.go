package store

import (
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		in        string
		kind      Kind
		dsn, addr string // "" skips the check
	}{
		{in: "postgres://app:s3cret@db.internal/app?sslmode=disable", kind: Postgres,
			dsn: "postgres://app:s3cret@db.internal/app?sslmode=disable", addr: "db.internal:5432"},
		{in: "postgresql://app@10.0.0.1:6432/app", kind: Postgres, addr: "10.0.0.1:6432"},
		{in: "mysql://root@127.0.0.1/test", kind: MySQL, addr: "127.0.0.1:3306"},
		{in: "sqlite:/var/lib/app.db", kind: SQLite, dsn: "file:/var/lib/app.db?" + sqlitePragmas},
		{in: "sqlite:///var/lib/app.db", kind: SQLite, dsn: "file:/var/lib/app.db?" + sqlitePragmas},
		{in: "sqlite:app.db?mode=rwc", kind: SQLite, dsn: "file:app.db?mode=rwc&" + sqlitePragmas},
		{in: "file:/tmp/x.db?_pragma=busy_timeout(1)", kind: SQLite, dsn: "file:/tmp/x.db?_pragma=busy_timeout(1)&_txlock=immediate"},
	} {
		got, err := ParseURL(c.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.in, err)
			continue
		}
		if got.Kind != c.kind || (c.dsn != "" && got.DSN != c.dsn) || (c.addr != "" && got.Addr != c.addr) {
			t.Errorf("ParseURL(%q) = %+v, want kind %s dsn %q addr %q", c.in, got, c.kind, c.dsn, c.addr)
		}
		if strings.Contains(got.Redacted, "s3cret") {
			t.Errorf("Redacted %q shows the password", got.Redacted)
		}
	}
}

// TestParseURLMySQL checks the mysql:// → go-sql-driver conversion,
// credentials with characters the DSN format would choke on included.
func TestParseURLMySQL(t *testing.T) {
	got, err := ParseURL("mysql://us%40er:p%2Fa%3As%40s@db:3307/shop?timeout=5s&charset=utf8mb4")
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysqldrv.ParseDSN(got.DSN)
	if err != nil {
		t.Fatalf("the DSN %q does not parse back: %v", got.DSN, err)
	}
	if c.User != "us@er" || c.Passwd != "p/a:s@s" || c.Addr != "db:3307" || c.DBName != "shop" || !c.ParseTime ||
		c.Timeout.String() != "5s" || !strings.Contains(got.DSN, "charset=utf8mb4") {
		t.Errorf("converted config = %+v", c)
	}
	if strings.Contains(got.Redacted, "p%2Fa") || strings.Contains(got.Redacted, "p/a") {
		t.Errorf("Redacted %q shows the password", got.Redacted)
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, in := range []string{"", "redis://x", "sqlite:", "sqlite::memory:", "postgres:///nohost", "mysql://pw:hunter2@h/db?timeout=banana"} {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q): no error", in)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error shows the password: %v", in, err)
		}
	}
}

func TestWithHost(t *testing.T) {
	got, err := WithHost("postgres://u:p@db:5432/app?search_path=x", "127.0.0.1:9")
	if err != nil || got != "postgres://u:p@127.0.0.1:9/app?search_path=x" {
		t.Errorf("WithHost = %q, %v", got, err)
	}
	if _, err := WithHost("sqlite:/x.db", "127.0.0.1:9"); err == nil {
		t.Error("WithHost on SQLite: no error")
	}
}
