package config

import (
	"fmt"
	"strings"
)

// Var documents one environment variable for -h.
type Var struct {
	Name, Default, Meaning string
}

// AppVars are the example app's own variables.
var AppVars = []Var{
	{"DATABASE_URL", "sqlite:<tmp>/gormsession-example.db", "postgres://user:pass@host:5432/db?sslmode=disable, mysql://user:pass@host:3306/db, or sqlite:/path/file.db"},
	{"DATABASE_REPLICA_URLS", "", "comma-separated read replicas (same engine), routed by gorm.io/plugin/dbresolver"},
	{"ADDR", "127.0.0.1:8080", "listen address; port 0 picks a free port (logged as \"listening\")"},
	{"REQUEST_TIMEOUT", "10s", "deadline of one HTTP request, database work included"},
	{"SHUTDOWN_TIMEOUT", "30s", "grace period for in-flight requests and the worker on SIGINT/SIGTERM"},
	{"EMAIL_WORKERS", "2", "concurrent worker loops claiming queued emails (0 turns the worker off)"},
	{"EMAIL_BATCH", "10", "emails claimed per claim transaction"},
	{"EMAIL_POLL_INTERVAL", "500ms", "how long an idle worker waits before looking again"},
	{"EMAIL_RETRY_BASE", "5s", "delay before retrying a temporarily failed send, doubled per attempt"},
	{"EMAIL_MAX_ATTEMPTS", "5", "send attempts before an email is marked failed"},
	{"SENDER_DELAY", "0", "simulated duration of one send (the logging sender)"},
	{"SENDER_FAIL_EVERY", "0", "make every Nth send fail temporarily, to watch retries (0: never)"},
	{"SENT_LOG", "", "file the logging sender appends each sent email id to"},
	{"LOG_LEVEL", "info", "debug, info, warn or error (debug shows each request's session open/close and SQL)"},
	{"LOG_FORMAT", "console on a terminal, else json", "json or console"},
}

// PluginVars are the variables sessionplugin.ConfigFromEnv reads (see
// docs/config.md; a test keeps this list in step with it).
var PluginVars = []Var{
	{"DB_POOL_SIZE", "5", "connections kept idle"},
	{"DB_MAX_OVERFLOW", "10", "extra connections under load (max open = size + overflow)"},
	{"DB_POOL_TIMEOUT", "30s", "longest wait for a free connection (then 503 pool_exhausted)"},
	{"DB_POOL_RECYCLE", "30m", "connection max lifetime"},
	{"DB_CONN_MAX_IDLE_TIME", "5m", "idle connections older than this are closed"},
	{"DB_QUERY_TIMEOUT", "30s", "deadline of one statement"},
	{"DB_QUERY_TIMEOUT_QUERY", "0", "override for queries (0: DB_QUERY_TIMEOUT, <0: none)"},
	{"DB_QUERY_TIMEOUT_CREATE", "0", "override for creates"},
	{"DB_QUERY_TIMEOUT_UPDATE", "0", "override for updates"},
	{"DB_QUERY_TIMEOUT_DELETE", "0", "override for deletes"},
	{"DB_QUERY_TIMEOUT_RAW", "0", "override for Exec"},
	{"DB_QUERY_TIMEOUT_ROW", "0", "override for Row/Rows/Scan"},
	{"DB_TX_TIMEOUT", "1m", "deadline of a whole transaction"},
	{"DB_SLOW_THRESHOLD", "200ms", "statements slower than this are logged at warn"},
	{"DB_LONG_RUNNING_THRESHOLD", "30s", "scopes open longer than this are reported"},
	{"DB_IDLE_IN_TX_THRESHOLD", "10s", "transactions idle longer than this are reported"},
	{"DB_LOG_PARAMS", "false", "log bound values (personal data!)"},
	{"DB_BREAKER_DISABLED", "false", "turn the circuit breaker off"},
	{"DB_BREAKER_CONSECUTIVE_FAILURES", "5", "infrastructure failures in a row that open the breaker"},
	{"DB_BREAKER_FAILURE_RATIO", "0.5", "failure ratio that opens it, once DB_BREAKER_MIN_REQUESTS were seen"},
	{"DB_BREAKER_MIN_REQUESTS", "20", "requests per interval before ratios apply"},
	{"DB_BREAKER_INTERVAL", "1m", "closed-state counting window"},
	{"DB_BREAKER_OPEN_TIMEOUT", "30s", "how long it stays open before probing"},
	{"DB_BREAKER_HALF_OPEN_MAX_REQUESTS", "1", "probes let through when half-open"},
	{"DB_BREAKER_SLOW_CALL_THRESHOLD", "0", "calls slower than this count as slow (0: off)"},
	{"DB_BREAKER_SLOW_CALL_RATE", "1", "slow-call rate that opens the breaker"},
}

// Usage is the -h text.
func Usage(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Usage:
  %[1]s          run the email-outreach service (HTTP API + background worker)
  %[1]s demo     run the scripted walkthrough of gormsession and exit (0 = every step behaved as narrated)
  %[1]s -h       this help

With no DATABASE_URL it uses an embedded SQLite file: no database server needed.

Environment (the app):
`, prog)
	writeVars(&b, AppVars)
	b.WriteString("\nEnvironment (gormsession, read by sessionplugin.ConfigFromEnv; durations as 1m30s or plain seconds):\n")
	writeVars(&b, PluginVars)
	b.WriteString(`
Routes: POST/GET /contacts, GET /contacts/{id}, POST /campaigns, GET /campaigns/{id},
        POST /campaigns/{id}/enqueue, GET /emails/{id}, GET /healthz, GET /metrics, GET /debug/db
`)
	return b.String()
}

func writeVars(b *strings.Builder, vars []Var) {
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(b, "  %-34s %s [default: %s]\n", v.Name, v.Meaning, def)
	}
}
