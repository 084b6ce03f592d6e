package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/example_app/internal/apptest"
	"github.com/replyrocket/gormsession/example_app/internal/metrics"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// fixture is an API on a fresh database.
type fixture struct {
	t  *testing.T
	st *store.Store
	h  http.Handler
}

func newFixture(t *testing.T, url string, cfg sessionplugin.Config, timeout time.Duration) *fixture {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	st, err := store.Open(store.Options{URL: url, Session: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(st.Plugin.Collector())
	h := New(Deps{DB: st.DB, Plugin: st.Plugin, Log: log, Metrics: m, RequestTimeout: timeout}).Handler()
	return &fixture{t: t, st: st, h: h}
}

// do sends a request and returns the status, the headers and the body; an
// error body is checked for shape and for leaks.
func (f *fixture) do(method, path, body string) (int, http.Header, string) {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Request-Id", "test-req-1")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	switch {
	case path == "/healthz":
		checkLeaks(f.t, string(b))
	case res.StatusCode >= 400 && res.Header.Get("Content-Type") == "application/json":
		checkErrorBody(f.t, string(b))
	}
	if got := res.Header.Get("X-Request-Id"); got != "test-req-1" {
		f.t.Errorf("%s %s: X-Request-Id %q, want the caller's", method, path, got)
	}
	return res.StatusCode, res.Header, string(b)
}

// leaks are strings an error body must never contain: SQL, driver and
// constraint wording, DSNs, addresses.
var leaks = []string{"SELECT", "INSERT", "UPDATE ", "UNIQUE", "constraint", "Duplicate", "duplicate", "sql",
	"file:", "postgres", "mysql", "127.0.0.1", "pq:", "SQLSTATE", "gorm", "breaker \""}

func checkErrorBody(t *testing.T, b string) {
	t.Helper()
	var e body
	if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Errorf("error body is not {error: {code, message, request_id}}: %s", b)
	}
	checkLeaks(t, b)
}

func checkLeaks(t *testing.T, b string) {
	t.Helper()
	for _, l := range leaks {
		if strings.Contains(b, l) {
			t.Errorf("error body leaks %q: %s", l, b)
		}
	}
}

func want(t *testing.T, what string, got, wantStatus int, body string) {
	t.Helper()
	if got != wantStatus {
		t.Errorf("%s: status %d, want %d; body %s", what, got, wantStatus, body)
	}
}

func TestAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, kind testdb.Kind) {
		f := newFixture(t, apptest.URL(t, kind), sessionplugin.DefaultConfig(), 10*time.Second)

		s, _, b := f.do("POST", "/contacts", `{"email":"Ada@Example.com","name":" Ada "}`)
		want(t, "create contact", s, 201, b)
		var c store.Contact
		json.Unmarshal([]byte(b), &c)
		if c.ID == 0 || c.Email != "ada@example.com" || c.Name != "Ada" {
			t.Errorf("created %+v, want the normalized contact", c)
		}
		s, _, b = f.do("POST", "/contacts", `{"email":"ada@example.com","name":"Ada again"}`)
		want(t, "duplicate email", s, 409, b)
		s, _, b = f.do("POST", "/contacts", `{"email":"not an email","name":""}`)
		want(t, "invalid contact", s, 422, b)
		if !strings.Contains(b, `"email"`) || !strings.Contains(b, `"name"`) {
			t.Errorf("422 does not name both fields: %s", b)
		}
		s, _, b = f.do("POST", "/contacts", `{"email":"x@example.com","name":"`+strings.Repeat("n", 201)+`"}`)
		want(t, "too long a name", s, 422, b)
		s, _, b = f.do("POST", "/contacts", `{"email":`)
		want(t, "broken JSON", s, 400, b)
		s, _, b = f.do("POST", "/contacts", `{"email":"x@example.com","name":"X","admin":true}`)
		want(t, "unknown field", s, 400, b)
		s, _, b = f.do("POST", "/contacts", `{"email":"x@example.com","name":"`+strings.Repeat("n", 2<<20)+`"}`)
		want(t, "huge body", s, 413, b)

		for i := range 5 {
			s, _, b = f.do("POST", "/contacts", fmt.Sprintf(`{"email":"c%d@example.com","name":"C%d"}`, i, i))
			want(t, "create contact", s, 201, b)
		}
		var all []store.Contact
		for after, pages := uint64(0), 0; ; pages++ {
			s, _, b = f.do("GET", fmt.Sprintf("/contacts?limit=2&after_id=%d", after), "")
			want(t, "list contacts", s, 200, b)
			var page struct {
				Contacts []store.Contact `json:"contacts"`
				Next     *uint64         `json:"next_after_id"`
			}
			json.Unmarshal([]byte(b), &page)
			all = append(all, page.Contacts...)
			if page.Next == nil || pages > 10 {
				break
			}
			after = *page.Next
		}
		if len(all) != 6 {
			t.Errorf("paged through %d contacts, want 6", len(all))
		}
		s, _, b = f.do("GET", "/contacts?limit=0", "")
		want(t, "limit 0", s, 422, b)
		s, _, b = f.do("GET", fmt.Sprintf("/contacts/%d", c.ID), "")
		want(t, "get contact", s, 200, b)
		s, _, b = f.do("GET", "/contacts/99999", "")
		want(t, "missing contact", s, 404, b)
		s, _, b = f.do("GET", "/contacts/abc", "")
		want(t, "bad id", s, 400, b)

		s, _, b = f.do("POST", "/campaigns", `{"name":"Launch","subject":"Hello","body":"We are live."}`)
		want(t, "create campaign", s, 201, b)
		var camp store.Campaign
		json.Unmarshal([]byte(b), &camp)
		s, _, b = f.do("POST", "/campaigns", `{"name":"","subject":"Hello"}`)
		want(t, "invalid campaign", s, 422, b)
		s, _, b = f.do("POST", fmt.Sprintf("/campaigns/%d/enqueue", camp.ID), "")
		want(t, "enqueue", s, 202, b)
		if !strings.Contains(b, `"enqueued": 6`) {
			t.Errorf("enqueue: %s, want 6 enqueued", b)
		}
		s, _, b = f.do("POST", fmt.Sprintf("/campaigns/%d/enqueue", camp.ID), "")
		want(t, "enqueue again", s, 202, b)
		if !strings.Contains(b, `"enqueued": 0`) {
			t.Errorf("enqueue again: %s, want 0 enqueued", b)
		}
		s, _, b = f.do("POST", "/campaigns/99999/enqueue", "")
		want(t, "enqueue a missing campaign", s, 404, b)
		s, _, b = f.do("GET", fmt.Sprintf("/campaigns/%d", camp.ID), "")
		want(t, "get campaign", s, 200, b)
		if !strings.Contains(b, `"queued": 6`) {
			t.Errorf("campaign counts: %s", b)
		}
		var e store.Email
		f.st.DB.First(&e)
		s, _, b = f.do("GET", fmt.Sprintf("/emails/%d", e.ID), "")
		want(t, "get email", s, 200, b)
		s, _, b = f.do("GET", "/emails/99999", "")
		want(t, "missing email", s, 404, b)

		s, _, b = f.do("GET", "/healthz", "")
		want(t, "healthz", s, 200, b)
		s, _, b = f.do("GET", "/metrics", "")
		want(t, "metrics", s, 200, "")
		for _, m := range []string{"gormsession_scopes_opened_total", `app_http_requests_total{code="409",route="POST /contacts"}`} {
			if !strings.Contains(b, m) {
				t.Errorf("/metrics lacks %s", m)
			}
		}
		s, _, b = f.do("GET", "/debug/db?format=json", "")
		want(t, "debug page JSON", s, 200, "")
		if !strings.Contains(b, `"initialized": true`) && !strings.Contains(b, `"initialized":true`) {
			t.Errorf("/debug/db JSON: %.200s", b)
		}
		s, _, _ = f.do("GET", "/debug/db", "")
		want(t, "debug page", s, 200, "")
		s, _, b = f.do("GET", "/nowhere", "")
		want(t, "unknown route", s, 404, b)
		s, _, _ = f.do("DELETE", "/contacts", "")
		want(t, "wrong method", s, 405, "")
	})
}

// TestBreakerOpen: with the primary's breaker open, a database route and
// /healthz answer 503 with Retry-After, and both work again once it closes.
func TestBreakerOpen(t *testing.T) {
	f := newFixture(t, apptest.URL(t, testdb.SQLite), sessionplugin.DefaultConfig(), 10*time.Second)
	b := f.st.Plugin.Breaker("primary")
	b.SetMode(breaker.ModeForcedOpen)
	s, h, body := f.do("POST", "/contacts", `{"email":"a@example.com","name":"A"}`)
	want(t, "create with the breaker open", s, 503, body)
	if h.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	s, h, body = f.do("GET", "/healthz", "")
	want(t, "healthz with the breaker open", s, 503, body)
	if h.Get("Retry-After") == "" || !strings.Contains(body, "forced-open") {
		t.Errorf("healthz: Retry-After %q, body %s", h.Get("Retry-After"), body)
	}
	b.SetMode(breaker.ModeNormal)
	s, _, body = f.do("GET", "/healthz", "")
	want(t, "healthz after", s, 200, body)
}

// TestPoolExhausted: a request that cannot get a connection within
// DB_POOL_TIMEOUT gets 503 with Retry-After.
func TestPoolExhausted(t *testing.T) {
	cfg := sessionplugin.DefaultConfig()
	cfg.PoolSize, cfg.MaxOverflow, cfg.PoolTimeout = 1, 0, 100*time.Millisecond
	f := newFixture(t, apptest.URL(t, testdb.SQLite), cfg, 10*time.Second)
	release := f.holdConnection()
	s, h, body := f.do("GET", "/contacts", "")
	release()
	want(t, "list with the pool held", s, 503, body)
	if h.Get("Retry-After") != "1" || !strings.Contains(body, `"busy"`) {
		t.Errorf("Retry-After %q, body %s", h.Get("Retry-After"), body)
	}
}

// holdConnection holds a connection in a Transaction until the returned
// release is called, which waits for the Transaction to commit.
func (f *fixture) holdConnection() (release func()) {
	f.t.Helper()
	held, stop, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- sessionplugin.Transaction(context.Background(), f.st.DB, func(tx *gorm.DB) error {
			close(held)
			<-stop
			return nil
		})
	}()
	<-held
	return func() {
		f.t.Helper()
		close(stop)
		if err := <-done; err != nil {
			f.t.Fatal(err)
		}
	}
}

// TestRequestDeadline: a statement blocked on a lock past the request's
// deadline is stopped and answered with 504.
func TestRequestDeadline(t *testing.T) {
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.MySQL} {
		t.Run(string(kind), func(t *testing.T) {
			f := newFixture(t, apptest.URL(t, kind), sessionplugin.DefaultConfig(), 300*time.Millisecond)
			sqlDB, err := f.st.DB.DB()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			conn, err := sqlDB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			lock, unlock := []string{"LOCK TABLES contacts WRITE"}, "UNLOCK TABLES"
			if kind == testdb.Postgres {
				lock, unlock = []string{"BEGIN", "LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE"}, "ROLLBACK"
			}
			for _, q := range lock {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			s, _, body := f.do("GET", "/contacts", "")
			if _, err := conn.ExecContext(ctx, unlock); err != nil {
				t.Fatal(err)
			}
			want(t, "list while the table is locked", s, 504, body)
			s, _, body = f.do("GET", "/contacts", "")
			want(t, "list after", s, 200, body)
		})
	}
}

// TestScopeTaggedWithRoute: the session middleware tags the request's
// scopes with its route and request id, so /debug/db and the long-running
// report say which endpoint holds a connection. The request's statement
// waits for the pool's only connection, visible as an open scope.
func TestScopeTaggedWithRoute(t *testing.T) {
	cfg := sessionplugin.DefaultConfig()
	cfg.PoolSize, cfg.MaxOverflow, cfg.PoolTimeout = 1, 0, 10*time.Second
	f := newFixture(t, apptest.URL(t, testdb.SQLite), cfg, 10*time.Second)
	release := f.holdConnection()
	served := make(chan int)
	go func() {
		s, _, _ := f.do("GET", "/contacts", "")
		served <- s
	}()
	var tagged *sessionplugin.ScopeInfo
	for deadline := time.Now().Add(5 * time.Second); tagged == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, s := range f.st.Plugin.ActiveScopes() {
			if s.Fields["route"] != "" {
				tagged = &s
			}
		}
	}
	release()
	if s := <-served; s != 200 {
		t.Errorf("GET /contacts: %d", s)
	}
	if tagged == nil {
		t.Fatal("no open scope carried a route while the request waited for the pool")
	}
	if tagged.Fields["route"] != "GET /contacts" || tagged.Fields["request_id"] != "test-req-1" {
		t.Errorf("scope fields = %v, want route GET /contacts and request_id test-req-1", tagged.Fields)
	}
}
