package breaker_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/callbacks/errclass"
	"github.com/replyrocket/gormsession/internal/testdb"
)

// gate is a TCP listener that counts the connections it accepts and
// forwards each one to target. It stands for the database server coming
// back on its address.
type gate struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	closed   bool
	conns    []net.Conn
}

func startGate(t *testing.T, addr, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	g := &gate{ln: ln, target: target}
	g.wg.Go(g.serve)
	t.Cleanup(g.close)
	return g
}

func (g *gate) serve() {
	for {
		down, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.accepted.Add(1)
		up, err := net.Dial("tcp", g.target)
		if err != nil {
			down.Close()
			continue
		}
		if !g.track(down, up) {
			return
		}
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		g.wg.Go(func() { pipe(up, down) })
		g.wg.Go(func() { pipe(down, up) })
	}
}

func (g *gate) track(c ...net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		for _, c := range c {
			c.Close()
		}
		return false
	}
	g.conns = append(g.conns, c...)
	return true
}

func (g *gate) close() {
	g.ln.Close()
	g.mu.Lock()
	g.closed = true
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// openLazy opens tg at addr without connecting: GORM's ping and the MySQL
// dialector's version query are off, so the first dial is the first
// statement's.
func openLazy(t *testing.T, tg testdb.Target, addr string) *gorm.DB {
	t.Helper()
	var d gorm.Dialector
	switch tg.Kind {
	case testdb.Postgres:
		d = postgres.New(postgres.Config{DSN: tg.WithAddr(addr)})
	case testdb.MySQL:
		d = mysql.New(mysql.Config{DSN: tg.WithAddr(addr), SkipInitializeWithVersion: true})
	default:
		t.Fatalf("no network for %s", tg.Kind)
	}
	db, err := gorm.Open(d, &gorm.Config{DisableAutomaticPing: true, Logger: logger.Discard})
	if err != nil {
		t.Fatalf("open %s at %s: %v", tg.Kind, addr, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

// TestRealOutage: real connection errors from PostgreSQL's and MariaDB's
// drivers open the breaker; while it is open nothing is dialled even though
// the server is back; after OpenTimeout one probe reaches the real server
// and closes it.
func TestRealOutage(t *testing.T) {
	for _, kind := range []testdb.Kind{testdb.Postgres, testdb.MySQL} {
		t.Run(string(kind), func(t *testing.T) { testRealOutage(t, kind) })
	}
}

func testRealOutage(t *testing.T, kind testdb.Kind) {
	tg := testdb.Fresh(t, kind)
	addr := testdb.ClosedAddr(t)
	db := openLazy(t, tg, addr)
	log, logs := observed(zapcore.InfoLevel)
	cfg := breaker.Config{ConsecutiveFailures: 3, MinRequests: 100, OpenTimeout: 300 * time.Millisecond}
	b := breaker.New(string(kind)+"-primary", cfg, log)

	// query is what the plugin's callbacks do around one statement.
	query := func() (int, error) {
		done, err := b.Allow()
		if err != nil {
			return 0, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		var n int
		err = db.WithContext(ctx).Raw("SELECT 1").Scan(&n).Error
		if ctx.Err() != nil {
			err = breaker.Excluded(err)
		}
		done(err, time.Since(start))
		return n, err
	}

	// 1. Nothing listens at addr: the drivers' real errors trip it.
	for i := range 3 {
		_, err := query()
		if err == nil {
			t.Fatalf("statement %d reached a closed port", i+1)
		}
		if c := errclass.Classify(err); c != errclass.Connection {
			t.Fatalf("statement %d: Classify(%v) = %q, want connection", i+1, err, c)
		}
		if i == 0 {
			t.Logf("driver error: %v", err)
		}
	}
	wantState(t, b, breaker.StateOpen)

	// 2. The server is back at addr, but the breaker is open: statements
	// fail fast and not one connection is made.
	g := startGate(t, addr, tg.Addr)
	for range 20 {
		_, err := query()
		oe := openError(t, err)
		if oe.State != breaker.StateOpen || !strings.Contains(err.Error(), "3 consecutive failures (") ||
			!strings.Contains(err.Error(), "connection refused") || oe.RetryIn <= 0 || oe.RetryIn > cfg.OpenTimeout {
			t.Fatalf("rejection while open: %v (%+v)", err, oe)
		}
	}
	_, err := query()
	t.Logf("rejection: %v", err)
	if n := g.accepted.Load(); n != 0 {
		t.Fatalf("%d connections reached the server while the breaker was open", n)
	}

	// 3. After OpenTimeout, the half-open probe reaches the real server.
	time.Sleep(cfg.OpenTimeout + 50*time.Millisecond)
	n, err := query()
	if err != nil || n != 1 {
		t.Fatalf("half-open probe: n=%d err=%v", n, err)
	}
	wantState(t, b, breaker.StateClosed)
	if g.accepted.Load() < 1 {
		t.Fatal("the probe did not go through the gate")
	}
	for range 5 {
		if _, err := query(); err != nil {
			t.Fatalf("after closing: %v", err)
		}
	}

	var msgs []string
	for _, l := range logs.All() {
		msgs = append(msgs, l.Message)
	}
	want := []string{"circuit breaker opened", "circuit breaker half-open", "circuit breaker closed"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Fatalf("log lines %q, want %q", msgs, want)
	}
	opened := logs.All()[0].ContextMap()
	if c := opened["counts"].(map[string]any); c["failures"] != uint32(3) || c["consecutive_failures"] != uint32(3) {
		t.Fatalf("open line counts %v", c)
	}
}
