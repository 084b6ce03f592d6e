// Package config reads the example app's settings from the environment:
// its own variables (listen address, database URLs, worker and sender knobs,
// logging) and the plugin's DB_* variables through
// sessionplugin.ConfigFromEnv.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// Config is everything the service needs to start.
type Config struct {
	Addr            string        // ADDR: host:port to listen on; port 0 picks a free one
	DatabaseURL     string        // DATABASE_URL
	ReplicaURLs     []string      // DATABASE_REPLICA_URLS, comma-separated
	RequestTimeout  time.Duration // REQUEST_TIMEOUT: per-request deadline
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: grace period on SIGINT/SIGTERM

	Workers      int           // EMAIL_WORKERS: concurrent claim loops
	WorkerBatch  int           // EMAIL_BATCH: emails claimed per transaction
	WorkerPoll   time.Duration // EMAIL_POLL_INTERVAL: idle wait between claims
	RetryBase    time.Duration // EMAIL_RETRY_BASE: first retry delay, doubled per attempt
	MaxAttempts  int           // EMAIL_MAX_ATTEMPTS: attempts before an email is marked failed
	SenderDelay  time.Duration // SENDER_DELAY: simulated time one send takes
	SenderFailN  int           // SENDER_FAIL_EVERY: every Nth send fails temporarily (0: never)
	SentLog      string        // SENT_LOG: file the logging sender appends sent email ids to
	LogLevel     string        // LOG_LEVEL
	LogFormat    string        // LOG_FORMAT: json or console; "" picks console on a terminal
	Session      sessionplugin.Config
	DefaultedURL bool // DatabaseURL was not set: the embedded SQLite default is used
}

// DefaultSQLitePath is where the embedded database lives when DATABASE_URL
// is unset.
func DefaultSQLitePath() string {
	return filepath.Join(os.TempDir(), "gormsession-example.db")
}

// FromEnv reads Config from the environment. Every bad variable is named in
// the one error returned, the plugin's included.
func FromEnv() (Config, error) { return fromLookup(os.LookupEnv) }

func fromLookup(lookup func(string) (string, bool)) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		Addr:            r.str("ADDR", "127.0.0.1:8080"),
		DatabaseURL:     r.str("DATABASE_URL", ""),
		RequestTimeout:  r.dur("REQUEST_TIMEOUT", 10*time.Second),
		ShutdownTimeout: r.dur("SHUTDOWN_TIMEOUT", 30*time.Second),
		Workers:         r.int("EMAIL_WORKERS", 2, 0),
		WorkerBatch:     r.int("EMAIL_BATCH", 10, 1),
		WorkerPoll:      r.dur("EMAIL_POLL_INTERVAL", 500*time.Millisecond),
		RetryBase:       r.dur("EMAIL_RETRY_BASE", 5*time.Second),
		MaxAttempts:     r.int("EMAIL_MAX_ATTEMPTS", 5, 1),
		SenderDelay:     r.dur("SENDER_DELAY", 0),
		SenderFailN:     r.int("SENDER_FAIL_EVERY", 0, 0),
		SentLog:         r.str("SENT_LOG", ""),
		LogLevel:        r.str("LOG_LEVEL", "info"),
		LogFormat:       r.str("LOG_FORMAT", ""),
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + DefaultSQLitePath()
		c.DefaultedURL = true
	}
	for _, u := range strings.Split(r.str("DATABASE_REPLICA_URLS", ""), ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.ReplicaURLs = append(c.ReplicaURLs, u)
		}
	}
	switch c.LogFormat {
	case "", "json", "console":
	default:
		r.bad("LOG_FORMAT", c.LogFormat, "want json or console")
	}
	if c.RequestTimeout <= 0 {
		r.bad("REQUEST_TIMEOUT", c.RequestTimeout.String(), "must be positive")
	}
	sc, err := sessionplugin.ConfigFromEnv()
	c.Session = sc
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return c, errors.Join(r.errs...)
}

// reader collects every bad variable instead of stopping at the first.
type reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (r *reader) get(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *reader) bad(name, value, why string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q: %s", name, value, why))
}

func (r *reader) str(name, def string) string {
	if v, ok := r.get(name); ok {
		return v
	}
	return def
}

func (r *reader) int(name string, def, min int) int {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.bad(name, v, "want an integer")
		return def
	}
	if n < min {
		r.bad(name, v, fmt.Sprintf("must be at least %d", min))
		return def
	}
	return n
}

func (r *reader) dur(name string, def time.Duration) time.Duration {
	v, ok := r.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			r.bad(name, v, `want a duration such as "1.5s" or plain seconds`)
			return def
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		r.bad(name, v, "must not be negative")
		return def
	}
	return d
}
