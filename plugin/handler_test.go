package sessionplugin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// debugJSON mirrors the handler's JSON for decoding in tests.
type debugJSON struct {
	GeneratedAt time.Time `json:"generated_at"`
	Initialized bool      `json:"initialized"`
	Config      struct {
		PoolSize             int     `json:"pool_size"`
		LongRunningThreshold float64 `json:"long_running_threshold_seconds"`
		IdleInTxThreshold    float64 `json:"idle_in_tx_threshold_seconds"`
		QueryTimeout         float64 `json:"query_timeout_seconds"`
	} `json:"config"`
	Scopes struct {
		Opened, Closed uint64
		Active         int64
	} `json:"scopes"`
	Errors    map[string]uint64 `json:"errors"`
	Durations []struct {
		Source, Operation string
		Count             uint64
		P50               float64 `json:"p50_seconds"`
		P99               float64 `json:"p99_seconds"`
	} `json:"durations"`
	Breakers []struct {
		Source, State, Mode string
	} `json:"breakers"`
	Pools []struct {
		Source  string
		MaxOpen int `json:"max_open"`
		Open    int `json:"open"`
		InUse   int `json:"in_use"`
		Idle    int `json:"idle"`
	} `json:"pools"`
	ActiveScopes []struct {
		ID          uint64  `json:"id"`
		Operation   string  `json:"operation"`
		Caller      string  `json:"caller"`
		Age         float64 `json:"age_seconds"`
		LongRunning bool    `json:"long_running"`
	} `json:"active_scopes"`
}

// get serves one request to h and returns the response and its body.
func get(t *testing.T, h http.Handler, method, target, accept string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	res := rr.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// heldTx runs some traffic (one unique violation among it), then opens a
// transaction and waits until it is long-running. It returns the
// transaction and its ScopeInfo.
func heldTx(t *testing.T, db *gorm.DB, p *sessionplugin.Plugin) (*gorm.DB, sessionplugin.ScopeInfo) {
	t.Helper()
	if err := db.Create(&Item{Name: "dup", Price: 1}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&Item{Name: "dup"}).Error; sessionplugin.Classify(err) != sessionplugin.CategoryUniqueViolation {
		t.Fatalf("duplicate: %v", err)
	}
	var items []Item
	if err := db.Find(&items).Error; err != nil {
		t.Fatal(err)
	}
	tx := db.Begin()
	if tx.Error != nil {
		t.Fatal(tx.Error)
	}
	t.Cleanup(func() { tx.Rollback() })
	time.Sleep(p.Config().LongRunningThreshold + 20*time.Millisecond)
	for _, si := range p.ActiveScopes() {
		if si.Operation == "transaction" {
			return tx, si
		}
	}
	t.Fatalf("no transaction among ActiveScopes: %+v", p.ActiveScopes())
	return nil, sessionplugin.ScopeInfo{}
}

func TestHandlerJSON(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, func(c *sessionplugin.Config) { c.LongRunningThreshold = 50 * time.Millisecond })
	_, txInfo := heldTx(t, db, p)
	if !strings.Contains(txInfo.Caller, "handler_test.go:") {
		t.Fatalf("transaction caller %q does not name this file", txInfo.Caller)
	}

	res, body := get(t, p.Handler(), "GET", "/?format=json", "")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", res.Header.Get("Cache-Control"))
	}

	// Shape: the top-level keys, exactly.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"active_scopes", "breakers", "config", "durations", "errors", "generated_at", "initialized", "pools", "scopes"}
	if !slices.Equal(keys, want) {
		t.Errorf("top-level keys %v, want %v", keys, want)
	}

	var d debugJSON
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Initialized || d.Config.PoolSize != 5 || d.Config.LongRunningThreshold != 0.05 || d.Config.QueryTimeout != 30 {
		t.Errorf("initialized/config: %+v %+v", d.Initialized, d.Config)
	}
	if time.Since(d.GeneratedAt) > time.Minute {
		t.Errorf("generated_at %v", d.GeneratedAt)
	}
	if d.Errors["unique_violation"] != 1 {
		t.Errorf("errors = %v, want unique_violation: 1", d.Errors)
	}
	if d.Scopes.Active != 1 || d.Scopes.Opened == 0 {
		t.Errorf("scopes = %+v", d.Scopes)
	}
	if len(d.Pools) != 1 || d.Pools[0].Source != "primary" || d.Pools[0].MaxOpen != 15 || d.Pools[0].InUse != 1 {
		t.Errorf("pools = %+v", d.Pools)
	}
	if len(d.Breakers) != 1 || d.Breakers[0].State != "closed" || d.Breakers[0].Mode != "normal" {
		t.Errorf("breakers = %+v", d.Breakers)
	}
	var ops []string
	for _, du := range d.Durations {
		ops = append(ops, du.Operation)
		if du.Count == 0 || du.P50 <= 0 || du.P99 < du.P50 {
			t.Errorf("duration %+v", du)
		}
	}
	if !slices.Contains(ops, "create") || !slices.Contains(ops, "query") {
		t.Errorf("durations for %v, want create and query", ops)
	}
	if len(d.ActiveScopes) != 1 {
		t.Fatalf("active_scopes = %+v", d.ActiveScopes)
	}
	if s := d.ActiveScopes[0]; s.ID != txInfo.ID || s.Operation != "transaction" || s.Caller != txInfo.Caller || !s.LongRunning || s.Age < 0.05 {
		t.Errorf("active scope %+v, want the held transaction %+v, long-running", s, txInfo)
	}
}

func TestHandlerNegotiation(t *testing.T) {
	_, p, _ := install(t, testdb.SQLite, nil)
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	for _, c := range []struct {
		target, accept string
		json           bool
	}{
		{"/", browser, false},
		{"/", "", false},
		{"/", "*/*", false},
		{"/", "application/json", true},
		{"/", "application/json, text/plain, */*", true},
		{"/", "text/html;q=0.5, application/json;q=0.9", true},
		{"/", "application/*", true},
		{"/", "text/html, application/json", false},
		{"/?format=json", browser, true},
		{"/?format=html", "application/json", false},
	} {
		res, body := get(t, p.Handler(), "GET", c.target, c.accept)
		ct := res.Header.Get("Content-Type")
		gotJSON := strings.HasPrefix(ct, "application/json")
		if res.StatusCode != 200 || gotJSON != c.json || (!gotJSON && !strings.HasPrefix(ct, "text/html")) {
			t.Errorf("GET %s Accept %q: %d %s, want JSON=%v", c.target, c.accept, res.StatusCode, ct, c.json)
		}
		if gotJSON && !json.Valid([]byte(body)) {
			t.Errorf("GET %s Accept %q: invalid JSON", c.target, c.accept)
		}
		if !strings.Contains(res.Header.Get("Vary"), "Accept") {
			t.Errorf("no Vary: Accept")
		}
	}
}

func TestHandlerHTML(t *testing.T) {
	db, p, _ := install(t, testdb.SQLite, func(c *sessionplugin.Config) { c.LongRunningThreshold = 50 * time.Millisecond })
	_, txInfo := heldTx(t, db, p)

	res, body := get(t, p.Handler(), "GET", "/", "text/html")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	csp := res.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([0-9a-f]{32})'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(body, `<script nonce="`+m[1]+`">`) || !strings.Contains(body, `<style nonce="`+m[1]+`">`) {
		t.Fatalf("CSP %q does not match the page's script and style nonces", csp)
	}
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}

	// Self-contained: no external resource, only a relative fetch.
	for _, bad := range []string{"http://", "https://", " src=", "<link", "@import"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q: not self-contained", bad)
		}
	}
	if !strings.Contains(body, `fetch("?format=json"`) {
		t.Error("page does not refresh from the relative ?format=json")
	}

	// Server-rendered content, readable without JavaScript.
	row := regexp.MustCompile(`(?s)<tr data-scope-id="(\d+)" class="long-running">(.*?)</tr>`).FindStringSubmatch(body)
	if row == nil {
		t.Fatalf("no long-running row in:\n%s", body)
	}
	if row[1] != strconv.FormatUint(txInfo.ID, 10) || !strings.Contains(row[2], "<code>"+txInfo.Caller+"</code>") ||
		!strings.Contains(row[2], "<td>transaction</td>") || !strings.Contains(row[2], "long-running</strong>") {
		t.Errorf("long-running row %q, want scope %d from %s", row[0], txInfo.ID, txInfo.Caller)
	}
	for _, want := range []string{
		`<html lang="en">`,
		`<span class="state state-closed">closed</span>`,
		`<tr><th scope="row">unique_violation</th><td>1</td></tr>`,
		`<span>1 / 15</span>`,
		`<meter min="0" max="15" value="1"`,
		`<tr><th scope="row">primary</th><td>create</td>`,
		`<span id="long-running-threshold">50ms</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "not installed") {
		t.Error("installed plugin's page says it is not installed")
	}
}

func TestHandlerUnderPrefix(t *testing.T) {
	_, p, _ := install(t, testdb.SQLite, nil)
	mux := http.NewServeMux()
	mux.Handle("/admin/debug/db/", http.StripPrefix("/admin/debug/db", p.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, u := range []string{"/admin/debug/db/", "/admin/debug/db/?format=json"} {
		res, err := srv.Client().Get(srv.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET %s: %d", u, res.StatusCode)
		}
		if strings.Contains(u, "json") != json.Valid(b) {
			t.Errorf("GET %s: JSON valid = %v", u, json.Valid(b))
		}
	}
}

func TestHandlerReadOnly(t *testing.T) {
	_, p, _ := install(t, testdb.SQLite, nil)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		res, _ := get(t, p.Handler(), m, "/?mode=forced-open", "")
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, res.StatusCode, res.Header.Get("Allow"))
		}
	}
	if got := p.Breaker("primary").Mode(); got != breaker.ModeNormal {
		t.Errorf("breaker mode %v after requests to the page", got)
	}
	res, _ := get(t, p.Handler(), "HEAD", "/", "")
	if res.StatusCode != 200 {
		t.Errorf("HEAD: %d", res.StatusCode)
	}
}

func TestHandlerBeforeInitialize(t *testing.T) {
	var nilPlugin *sessionplugin.Plugin
	for name, h := range map[string]http.Handler{
		"new":   sessionplugin.New(sessionplugin.DefaultConfig()).Handler(),
		"nil":   nilPlugin.Handler(),
		"close": closedPlugin().Handler(),
	} {
		res, body := get(t, h, "GET", "/?format=json", "")
		if res.StatusCode != 200 {
			t.Fatalf("%s: status %d", name, res.StatusCode)
		}
		for _, want := range []string{`"initialized": false`, `"errors": {}`, `"durations": []`, `"breakers": []`, `"pools": []`, `"active_scopes": []`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: JSON lacks %s:\n%s", name, want, body)
			}
		}
		res, body = get(t, h, "GET", "/", "text/html")
		if res.StatusCode != 200 || !strings.Contains(body, "The plugin is not installed yet") || !strings.Contains(body, "No scope open.") {
			t.Errorf("%s: HTML %d:\n%s", name, res.StatusCode, body)
		}
	}
}

func closedPlugin() *sessionplugin.Plugin {
	p := sessionplugin.New(sessionplugin.DefaultConfig())
	p.Close()
	return p
}
