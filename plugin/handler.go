package sessionplugin

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed page
var pageFS embed.FS

var (
	pageTmpl = template.Must(template.New("index.html").Funcs(template.FuncMap{
		"dur": fmtSeconds, "ts": fmtTime,
	}).ParseFS(pageFS, "page/index.html"))
	pageCSS = template.CSS(mustRead("page/page.css"))
	pageJS  = template.JS(mustRead("page/page.js"))
)

func mustRead(name string) string {
	b, err := pageFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Handler returns a read-only http.Handler for a /debug/db page. It
// answers GET and HEAD; any other method gets 405, and nothing it serves
// changes the plugin.
//
// With ?format=json, or an Accept header that prefers application/json to
// text/html, it serves the Stats, the ActiveScopes and the Config
// thresholds as one JSON object (durations in seconds, times in RFC 3339
// UTC, lists empty rather than null):
//
//	generated_at, initialized
//	config         {pool_size, max_overflow, pool_timeout_seconds, query_timeout_seconds,
//	                transaction_timeout_seconds, slow_threshold_seconds,
//	                long_running_threshold_seconds, idle_in_tx_threshold_seconds}
//	scopes         {opened, closed, active, peak, long_running, long_running_total, idle_in_tx, leaked}
//	errors         {"<category>": count}
//	durations      [{source, operation, count, sum_seconds, p50_seconds, p95_seconds, p99_seconds}]
//	breakers       [{source, state, mode, since, reason, retry_in_seconds, transitions,
//	                 requests, failures, consecutive_failures}]
//	pools          [{source, max_open, open, in_use, idle, waiting, wait_count, wait_duration_seconds,
//	                 max_idle_closed, max_idle_time_closed, max_lifetime_closed}]
//	active_scopes  [{id, operation, table, source, caller, start, age_seconds, tx_id,
//	                 long_running, idle_in_tx, last_statement}]
//
// Otherwise it serves one self-contained HTML page, rendered on the server
// so it reads without JavaScript: pool usage, breaker states, the active
// scopes (long-running ones in rows of class "long-running"), errors by
// category and duration percentiles. A small inline script refreshes it
// from the JSON every 2 seconds.
//
// It uses relative URLs only, so it can be mounted under any prefix, e.g.
// mux.Handle("/debug/db", p.Handler()). It shows table names and the
// file:line of open scopes, never SQL or bound values; mount it behind your
// own authentication all the same. Before Initialize, and for a nil
// *Plugin, it serves an empty snapshot with "initialized": false.
func (p *Plugin) Handler() http.Handler { return debugHandler{p} }

type debugHandler struct{ p *Plugin }

// ServeHTTP serves the snapshot as JSON or HTML; see Plugin.Handler.
func (h debugHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: this page is read-only", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Add("Vary", "Accept")
	snap := h.p.snapshot(time.Now())
	if wantsJSON(r) {
		hd.Set("Content-Type", "application/json; charset=utf-8")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(snap)
		return
	}
	nonce := newNonce()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	data := struct {
		debugSnapshot
		Nonce string
		CSS   template.CSS
		JS    template.JS
	}{snap, nonce, pageCSS, pageJS}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, data); err != nil {
		http.Error(w, "sessionplugin: rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(buf.Bytes())
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) // hex: html/template leaves it unescaped in the nonce attribute
}

// debugSnapshot is the JSON the handler serves, and what the page renders.
type debugSnapshot struct {
	GeneratedAt  time.Time           `json:"generated_at"`
	Initialized  bool                `json:"initialized"`
	Config       debugConfig         `json:"config"`
	Scopes       debugScopes         `json:"scopes"`
	Errors       map[Category]uint64 `json:"errors"`
	Durations    []debugDuration     `json:"durations"`
	Breakers     []debugBreaker      `json:"breakers"`
	Pools        []debugPool         `json:"pools"`
	ActiveScopes []debugScope        `json:"active_scopes"`
}

type debugConfig struct {
	PoolSize             int     `json:"pool_size"`
	MaxOverflow          int     `json:"max_overflow"`
	PoolTimeout          float64 `json:"pool_timeout_seconds"`
	QueryTimeout         float64 `json:"query_timeout_seconds"`
	TransactionTimeout   float64 `json:"transaction_timeout_seconds"`
	SlowThreshold        float64 `json:"slow_threshold_seconds"`
	LongRunningThreshold float64 `json:"long_running_threshold_seconds"`
	IdleInTxThreshold    float64 `json:"idle_in_tx_threshold_seconds"`
}

type debugScopes struct {
	Opened           uint64 `json:"opened"`
	Closed           uint64 `json:"closed"`
	Active           int64  `json:"active"`
	Peak             int64  `json:"peak"`
	LongRunning      int64  `json:"long_running"`
	LongRunningTotal uint64 `json:"long_running_total"`
	IdleInTx         int64  `json:"idle_in_tx"`
	Leaked           uint64 `json:"leaked"`
	Reclaimed        uint64 `json:"reclaimed"`
}

type debugDuration struct {
	Source    string  `json:"source"`
	Operation string  `json:"operation"`
	Count     uint64  `json:"count"`
	Sum       float64 `json:"sum_seconds"`
	P50       float64 `json:"p50_seconds"`
	P95       float64 `json:"p95_seconds"`
	P99       float64 `json:"p99_seconds"`
}

type debugBreaker struct {
	Source      string    `json:"source"`
	State       string    `json:"state"` // closed, half-open, open, forced-open
	Mode        string    `json:"mode"`
	Since       time.Time `json:"since"`
	Reason      string    `json:"reason"`
	RetryIn     float64   `json:"retry_in_seconds"`
	Transitions uint64    `json:"transitions"`
	Requests    uint32    `json:"requests"`
	Failures    uint32    `json:"failures"`
	Consecutive uint32    `json:"consecutive_failures"`
}

type debugPool struct {
	Source            string  `json:"source"`
	MaxOpen           int     `json:"max_open"` // 0: unlimited
	Open              int     `json:"open"`
	InUse             int     `json:"in_use"`
	Idle              int     `json:"idle"`
	Waiting           int64   `json:"waiting"`
	WaitCount         int64   `json:"wait_count"`
	WaitDuration      float64 `json:"wait_duration_seconds"`
	MaxIdleClosed     int64   `json:"max_idle_closed"`
	MaxIdleTimeClosed int64   `json:"max_idle_time_closed"`
	MaxLifetimeClosed int64   `json:"max_lifetime_closed"`
}

type debugScope struct {
	ID            uint64    `json:"id"`
	Operation     string    `json:"operation"`
	Table         string    `json:"table"`
	Source        string    `json:"source"`
	Caller        string    `json:"caller"`
	Start         time.Time `json:"start"`
	Age           float64   `json:"age_seconds"`
	TxID          uint64    `json:"tx_id"`
	LongRunning   bool      `json:"long_running"`
	IdleInTx      bool      `json:"idle_in_tx"`
	LastStatement string    `json:"last_statement"`
	// Fields: WithLogFields of the scope's context (route, request id).
	Fields map[string]string `json:"fields,omitempty"`
}

// snapshot gathers what the handler shows; a nil p gives an empty one.
func (p *Plugin) snapshot(now time.Time) debugSnapshot {
	d := debugSnapshot{GeneratedAt: now.UTC(), Errors: map[Category]uint64{},
		Durations: []debugDuration{}, Breakers: []debugBreaker{}, Pools: []debugPool{}, ActiveScopes: []debugScope{}}
	if p == nil {
		return d
	}
	p.mu.Lock()
	d.Initialized = p.db != nil
	p.mu.Unlock()
	c := p.cfg
	d.Config = debugConfig{c.PoolSize, c.MaxOverflow, c.PoolTimeout.Seconds(), c.QueryTimeout.Seconds(),
		c.TransactionTimeout.Seconds(), c.SlowThreshold.Seconds(), c.LongRunningThreshold.Seconds(), c.IdleInTxThreshold.Seconds()}
	s := p.Stats()
	d.Scopes = debugScopes{s.Opened, s.Closed, s.Active, s.Peak, s.LongRunning, s.LongRunningTotal, s.IdleInTx, s.Leaked, s.Reclaimed}
	if s.Errors != nil {
		d.Errors = s.Errors
	}
	for _, o := range s.Durations {
		d.Durations = append(d.Durations, debugDuration{o.Source, o.Operation, o.Count, o.Sum.Seconds(),
			o.P50.Seconds(), o.P95.Seconds(), o.P99.Seconds()})
	}
	for _, b := range s.Breakers {
		d.Breakers = append(d.Breakers, debugBreaker{b.Source, b.State.String(), b.Mode.String(), b.Since.UTC(), b.Reason,
			b.RetryIn.Seconds(), b.Transitions, b.Counts.Requests, b.Counts.Failures, b.Counts.ConsecutiveFailures})
	}
	for _, ps := range s.Pools {
		st := ps.DBStats
		d.Pools = append(d.Pools, debugPool{ps.Source, st.MaxOpenConnections, st.OpenConnections, st.InUse, st.Idle,
			ps.Waiting, st.WaitCount, st.WaitDuration.Seconds(), st.MaxIdleClosed, st.MaxIdleTimeClosed, st.MaxLifetimeClosed})
	}
	for _, si := range p.ActiveScopes() {
		d.ActiveScopes = append(d.ActiveScopes, debugScope{si.ID, si.Operation, si.Table, si.Source, si.Caller,
			si.Start.UTC(), si.Age.Seconds(), si.TxID, si.LongRunning, si.IdleInTx, si.LastStatement, si.Fields})
	}
	return d
}

// wantsJSON reports whether r asks for JSON: ?format=json, or an Accept
// header that ranks application/json above text/html (on a tie, the more
// specific match wins, so "application/json, */*" is JSON and a browser's
// "text/html, ..., */*;q=0.8" is HTML).
func wantsJSON(r *http.Request) bool {
	switch r.URL.Query().Get("format") {
	case "json":
		return true
	case "html":
		return false
	}
	jq, js := acceptRank(r.Header.Values("Accept"), "application", "json")
	hq, hs := acceptRank(r.Header.Values("Accept"), "text", "html")
	return jq > hq || (jq == hq && jq > 0 && js > hs)
}

// acceptRank returns the q value and specificity (0 */*, 1 type/*, 2 exact)
// of the most specific Accept range matching typ/sub; (0, -1) if none.
func acceptRank(accept []string, typ, sub string) (q float64, spec int) {
	spec = -1
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			t, s, _ := strings.Cut(mt, "/")
			sp := -1
			switch {
			case t == typ && s == sub:
				sp = 2
			case t == typ && s == "*":
				sp = 1
			case t == "*" && s == "*":
				sp = 0
			}
			if sp <= spec {
				continue
			}
			qv := 1.0
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					qv = min(max(f, 0), 1)
				}
			}
			q, spec = qv, sp
		}
	}
	return q, spec
}

// fmtSeconds formats a duration in seconds the way page.js's fmtDur does:
// "0", "850ns", "120µs", "12.5ms", "1.25s", "3m07s".
func fmtSeconds(s float64) string {
	num := func(v float64, digits int) string {
		p := math.Pow(10, float64(digits))
		return strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64)
	}
	switch {
	case s <= 0:
		return "0"
	case s < 1e-6:
		return num(s*1e9, 0) + "ns"
	case s < 1e-3:
		return num(s*1e6, 0) + "µs"
	case s < 1:
		return num(s*1e3, 1) + "ms"
	case s < 60:
		return num(s, 2) + "s"
	}
	m := int(s) / 60
	return fmt.Sprintf("%dm%02ds", m, int(s)-60*m)
}

// fmtTime formats t the way page.js's fmtTime does.
func fmtTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}
