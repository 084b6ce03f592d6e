// Package demo is the scripted walkthrough (`example_app demo`): each step
// makes gormsession do one thing, says in plain words what should happen,
// prints the structured log lines the step produced, and checks that it
// happened. Run returns 0 only when every step behaved as narrated.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/replyrocket/gormsession/example_app/internal/config"
	"github.com/replyrocket/gormsession/example_app/internal/store"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// tablePrefix keeps the walkthrough's tables apart from the service's.
const tablePrefix = "gsdemo_"

// step is one scene of the walkthrough.
type step struct {
	title string
	intro string // what the step does and what should happen
	run   func(e *env)
}

// Run runs the walkthrough against cfg's database (a fresh temporary SQLite
// file when DATABASE_URL is unset) and writes it to out.
func Run(ctx context.Context, cfg config.Config, out io.Writer) int {
	core, logs := observer.New(zapcore.DebugLevel)
	e := &env{ctx: ctx, out: out, logs: logs, log: zap.New(core)}

	url := cfg.DatabaseURL
	if cfg.DefaultedURL {
		dir, err := os.MkdirTemp("", "gormsession-demo-")
		if err != nil {
			fmt.Fprintf(out, "demo: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		url = "sqlite:" + filepath.Join(dir, "demo.db")
	}
	e.url = url
	scfg := cfg.Session
	scfg.LongRunningThreshold = 300 * time.Millisecond // low, so step 6 is quick
	scfg.IdleInTxThreshold = 600 * time.Millisecond
	scfg.QueryTimeout = 10 * time.Second
	e.session = scfg

	st, err := store.Open(store.Options{URL: url, Session: scfg, Logger: e.log.Named("db"), TablePrefix: tablePrefix})
	if err != nil {
		fmt.Fprintf(out, "demo: %v\n", err)
		return 1
	}
	e.st = st
	defer func() {
		st.DropAll(context.Background())
		st.Close()
	}()
	st.DropAll(ctx) // leftovers of an interrupted run
	if err := st.Migrate(ctx); err != nil {
		fmt.Fprintf(out, "demo: migrate: %v\n", err)
		return 1
	}
	logs.TakeAll() // setup noise

	fmt.Fprintf(out, "gormsession walkthrough on %s (%s)\n", st.Kind, st.Target.Redacted)
	fmt.Fprintf(out, "Each step says what should happen, shows the log lines it produced, and checks the outcome.\n")
	fmt.Fprintf(out, "Tables are prefixed %q and dropped at the end.\n", tablePrefix)

	steps := []step{
		stepCommit, stepRollbackError, stepRollbackPanic, stepUnique, stepDeadline,
		stepLongRunning, stepPool, stepOutage, stepStats,
	}
	var failed []string
	start := time.Now()
	for i, s := range steps {
		if ctx.Err() != nil {
			fmt.Fprintf(out, "\ninterrupted\n")
			return 130
		}
		if !e.runStep(i+1, len(steps), s) {
			failed = append(failed, s.title)
		}
	}
	fmt.Fprintf(out, "\n%s\n", strings.Repeat("═", 72))
	if len(failed) > 0 {
		fmt.Fprintf(out, "%d of %d steps did NOT behave as narrated: %s\n", len(failed), len(steps), strings.Join(failed, ", "))
		return 1
	}
	fmt.Fprintf(out, "All %d steps behaved as narrated (%.1fs).\n", len(steps), time.Since(start).Seconds())
	return 0
}

// env is what steps share.
type env struct {
	ctx     context.Context
	out     io.Writer
	log     *zap.Logger
	logs    *observer.ObservedLogs
	st      *store.Store
	url     string
	session sessionplugin.Config

	problems []string
	seen     []observer.LoggedEntry // this step's log lines so far
}

func (e *env) runStep(n, total int, s step) bool {
	e.problems, e.seen = nil, nil
	fmt.Fprintf(e.out, "\n── %d/%d  %s %s\n", n, total, s.title, strings.Repeat("─", max(0, 60-len(s.title))))
	fmt.Fprintf(e.out, "%s\n", wrap(s.intro, 72, ""))
	func() {
		defer func() {
			if v := recover(); v != nil {
				e.fail("the step panicked: %v", v)
			}
		}()
		s.run(e)
	}()
	e.printLogs()
	if len(e.problems) == 0 {
		fmt.Fprintf(e.out, "  ✓ behaved as narrated\n")
		return true
	}
	for _, p := range e.problems {
		fmt.Fprintf(e.out, "  ✗ %s\n", p)
	}
	return false
}

// say narrates one thing that happened.
func (e *env) say(format string, args ...any) {
	fmt.Fprintf(e.out, "  → %s\n", wrap(fmt.Sprintf(format, args...), 68, "    "))
}

// check records a problem when ok is false.
func (e *env) check(ok bool, format string, args ...any) bool {
	if !ok {
		e.fail(format, args...)
	}
	return ok
}

func (e *env) fail(format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// logged reports whether this step has logged a line with msg whose fields
// include every key/value in want (values compared as strings; a value
// ending in "*" matches as a prefix, one starting with "*" as a substring).
func (e *env) logged(msg string, want map[string]string) bool {
	e.seen = append(e.seen, e.logs.TakeAll()...)
	for _, le := range e.seen {
		if le.Message != msg {
			continue
		}
		ctx := le.ContextMap()
		ok := true
		for k, v := range want {
			got := fmt.Sprint(ctx[k])
			switch {
			case strings.HasPrefix(v, "*"):
				ok = ok && strings.Contains(got, v[1:])
			case strings.HasSuffix(v, "*"):
				ok = ok && strings.HasPrefix(got, v[:len(v)-1])
			default:
				ok = ok && got == v
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// waitLogged polls logged until it holds or d passes.
func (e *env) waitLogged(d time.Duration, msg string, want map[string]string) bool {
	deadline := time.Now().Add(d)
	for !e.logged(msg, want) {
		if time.Now().After(deadline) || e.ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (e *env) printLogs() {
	e.seen = append(e.seen, e.logs.TakeAll()...)
	shown := condense(e.seen)
	if len(shown) == 0 {
		fmt.Fprintf(e.out, "  log: (nothing at debug or above)\n")
		return
	}
	fmt.Fprintf(e.out, "  log (%d %s):\n", len(e.seen), plural(len(e.seen), "line"))
	for _, l := range shown {
		fmt.Fprintf(e.out, "    %s\n", l)
	}
}

// condense renders entries for reading: GORM's own debug line for a failed
// statement is left out (the plugin's line above it says the same, with the
// category), and a run of lines with the same message and category is
// shown once with a count.
func condense(entries []observer.LoggedEntry) []string {
	var out []string
	var lastKey string
	run := 0
	flush := func() {
		if run > 1 {
			out = append(out, fmt.Sprintf("  … and %d more like it", run-1))
		}
	}
	for _, le := range entries {
		ctx := le.ContextMap()
		if le.Message == "gorm statement" && ctx["error"] != nil {
			continue
		}
		key := le.LoggerName + "|" + le.Message + "|" + fmt.Sprint(ctx["category"])
		if key == lastKey {
			run++
			continue
		}
		flush()
		lastKey, run = key, 1
		out = append(out, render(le))
	}
	flush()
	return out
}
