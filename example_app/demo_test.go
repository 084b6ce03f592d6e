package main

import (
	"strings"
	"testing"
	"time"

	"github.com/replyrocket/gormsession/example_app/internal/apptest"
	"github.com/replyrocket/gormsession/internal/testdb"
)

// TestDemo runs `example_app demo` as a user would and requires exit 0
// (every step behaved as narrated): on SQLite with no DATABASE_URL at all,
// and on PostgreSQL and MariaDB.
func TestDemo(t *testing.T) {
	for _, kind := range testdb.All {
		t.Run(string(kind), func(t *testing.T) {
			env := map[string]string{"TMPDIR": t.TempDir()}
			if kind != testdb.SQLite {
				env["DATABASE_URL"] = apptest.URL(t, kind)
			}
			p := start(t, "demo-"+string(kind), env, "demo")
			code := p.wait(2 * time.Minute)
			out := p.output()
			if code != 0 {
				t.Fatalf("demo exited %d", code)
			}
			if !strings.Contains(out, "All 9 steps behaved as narrated") || strings.Contains(out, "✗") {
				t.Errorf("demo output does not report every step as narrated:\n%s", tail(out, 40))
			}
			if kind == testdb.SQLite && !strings.Contains(out, "needs a database server") {
				t.Error("the SQLite demo does not say the outage step needs a server")
			}
			if kind != testdb.SQLite && !strings.Contains(out, "circuit breaker opened") {
				t.Error("the demo did not show the breaker opening")
			}
		})
	}
}
