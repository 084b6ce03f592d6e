package sessiontest

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replyrocket/gormsession/internal/testdb"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// servers are the real database servers the proxy is tested against.
var servers = []testdb.Kind{testdb.Postgres, testdb.MySQL}

// driverName is the database/sql driver GORM's dialector uses for each kind.
var driverName = map[testdb.Kind]string{testdb.Postgres: "pgx", testdb.MySQL: "mysql"}

func eachServer(t *testing.T, fn func(t *testing.T, tg testdb.Target, p *FaultProxy)) {
	for _, kind := range servers {
		t.Run(string(kind), func(t *testing.T) {
			tg := testdb.Fresh(t, kind)
			fn(t, tg, newProxy(t, tg.Addr))
		})
	}
}

func newProxy(t *testing.T, target string) *FaultProxy {
	t.Helper()
	p, err := NewFaultProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("proxy Close: %v", err)
		}
	})
	return p
}

// openVia opens tg through p with GORM's real driver; the pool is closed at
// cleanup (before the proxy, which was registered first).
func openVia(t *testing.T, tg testdb.Target, p *FaultProxy) (*gorm.DB, *sql.DB, error) {
	t.Helper()
	db, err := gorm.Open(testdb.Dialector(tg.Kind, tg.WithAddr(p.Addr())), &gorm.Config{Logger: logger.Discard})
	if db != nil {
		if sqlDB, derr := db.DB(); derr == nil {
			t.Cleanup(func() { sqlDB.Close() })
			return db, sqlDB, err
		}
	}
	return db, nil, err
}

func mustOpenVia(t *testing.T, tg testdb.Target, p *FaultProxy) (*gorm.DB, *sql.DB) {
	t.Helper()
	db, sqlDB, err := openVia(t, tg, p)
	if err != nil {
		t.Fatalf("open %s through proxy: %v", tg.Kind, err)
	}
	return db, sqlDB
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testdb.WaitFor(t, 5*time.Second, what, cond)
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

type item struct {
	ID   uint
	Name string
}

func TestFaultProxyForwards(t *testing.T) {
	eachServer(t, func(t *testing.T, tg testdb.Target, p *FaultProxy) {
		db, sqlDB := mustOpenVia(t, tg, p)
		if err := db.AutoMigrate(&item{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&item{Name: "through the proxy"}).Error; err != nil {
			t.Fatal(err)
		}
		var got item
		if err := db.First(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got.Name != "through the proxy" {
			t.Fatalf("read back %q", got.Name)
		}
		if p.Dials() < 1 || p.Active() < 1 {
			t.Fatalf("Dials()=%d Active()=%d, want both >= 1", p.Dials(), p.Active())
		}
		sqlDB.Close()
		waitFor(t, "Active() == 0 after the pool closed", func() bool { return p.Active() == 0 })
	})
}

func TestFaultProxyRefuse(t *testing.T) {
	eachServer(t, func(t *testing.T, tg testdb.Target, p *FaultProxy) {
		db, _ := mustOpenVia(t, tg, p)
		tx := db.Begin() // pins the pool's only connection
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		defer tx.Rollback()
		if n := p.Dials(); n != 1 {
			t.Fatalf("Dials() = %d before refusing, want 1", n)
		}

		p.SetRefuse(true)
		err := db.WithContext(ctxTimeout(t, 10*time.Second)).Exec("SELECT 1").Error
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("new connection while refusing: got %v, want ECONNREFUSED", err)
		}
		if n := p.Dials(); n != 1 {
			t.Fatalf("Dials() = %d while refusing, want still 1", n)
		}
		if err := tx.Exec("SELECT 1").Error; err != nil {
			t.Fatalf("open connection while refusing: %v", err)
		}

		p.SetRefuse(false)
		if err := db.WithContext(ctxTimeout(t, 10*time.Second)).Exec("SELECT 1").Error; err != nil {
			t.Fatalf("new connection after refusing stopped: %v", err)
		}
		if n := p.Dials(); n != 2 {
			t.Fatalf("Dials() = %d after refusing stopped, want 2", n)
		}
	})
}

func TestFaultProxyResetAll(t *testing.T) {
	eachServer(t, func(t *testing.T, tg testdb.Target, p *FaultProxy) {
		db, _ := mustOpenVia(t, tg, p)
		tx := db.Begin()
		if tx.Error != nil {
			t.Fatal(tx.Error)
		}
		if err := tx.Exec("SELECT 1").Error; err != nil {
			t.Fatal(err)
		}
		before := p.Dials()

		p.ResetAll()
		if n := p.Active(); n != 0 {
			t.Fatalf("Active() = %d right after ResetAll, want 0", n)
		}
		err := tx.Exec("SELECT 1").Error
		if err == nil {
			t.Fatal("query on a reset connection succeeded")
		}
		t.Logf("query on reset connection: %v", err)
		tx.Rollback()

		if err := db.WithContext(ctxTimeout(t, 10*time.Second)).Exec("SELECT 1").Error; err != nil {
			t.Fatalf("pool did not recover after the reset: %v", err)
		}
		if p.Dials() <= before {
			t.Fatalf("Dials() = %d, want > %d: recovery must dial a new connection", p.Dials(), before)
		}
	})
}

func TestFaultProxyLatency(t *testing.T) {
	eachServer(t, func(t *testing.T, tg testdb.Target, p *FaultProxy) {
		db, _ := mustOpenVia(t, tg, p) // the warm connection predates SetLatency
		const d = 200 * time.Millisecond
		p.SetLatency(d)
		start := time.Now()
		if err := db.Exec("SELECT 1").Error; err != nil {
			t.Fatal(err)
		}
		// At least one round trip, each direction delayed by d. Lower bound
		// only: a busy machine may always be slower.
		if took := time.Since(start); took < 2*d {
			t.Fatalf("query took %v through a %v-latency proxy, want >= %v", took, d, 2*d)
		}
		p.SetLatency(0)
		if err := db.Exec("SELECT 1").Error; err != nil {
			t.Fatal(err)
		}
		if n := p.Dials(); n != 1 {
			t.Fatalf("Dials() = %d, want 1: latency must not break the connection", n)
		}
	})
}

func TestFaultProxyBlackhole(t *testing.T) {
	eachServer(t, func(t *testing.T, tg testdb.Target, p *FaultProxy) {
		db, _ := mustOpenVia(t, tg, p)
		const deadline = 300 * time.Millisecond

		p.SetBlackhole(true)
		start := time.Now()
		err := db.WithContext(ctxTimeout(t, deadline)).Exec("SELECT 1").Error
		if err == nil || !isDeadline(err) {
			t.Fatalf("query on an open connection in a blackhole: got %v, want a deadline error", err)
		}
		if took := time.Since(start); took < deadline {
			t.Fatalf("query failed after %v, before its %v deadline: %v", took, deadline, err)
		}
		t.Logf("open connection: %v", err)

		// A brand-new pool must dial; the dial is accepted but hangs. Plain
		// database/sql with the same driver: gorm.Open would query the MySQL
		// version with no deadline and hang for good.
		dials := p.Dials()
		fresh, err := sql.Open(driverName[tg.Kind], tg.WithAddr(p.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fresh.Close() })
		err = fresh.PingContext(ctxTimeout(t, deadline))
		if err == nil || !isDeadline(err) {
			t.Fatalf("new connection in a blackhole: got %v, want a deadline error", err)
		}
		if p.Dials() <= dials {
			t.Fatalf("Dials() = %d, want > %d: the new connection must have been accepted", p.Dials(), dials)
		}
		t.Logf("new connection: %v", err)

		p.SetBlackhole(false)
		if _, _, err := openVia(t, tg, p); err != nil {
			t.Fatalf("new connection after the blackhole lifted: %v", err)
		}
		if err := db.WithContext(ctxTimeout(t, 10*time.Second)).Exec("SELECT 1").Error; err != nil {
			t.Fatalf("original pool after the blackhole lifted: %v", err)
		}
	})
}

// echoServer accepts connections on loopback and echoes bytes back until
// cleanup, which waits for its goroutines.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNewFaultProxyBadTarget(t *testing.T) {
	_, err := NewFaultProxy("no-port-here")
	if err == nil || !strings.Contains(err.Error(), "no-port-here") {
		t.Fatalf("got %v, want an error naming the target", err)
	}
}

func TestFaultProxyDeadTargetResetsClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newProxy(t, dead)
	// The proxy resets the client as soon as the upstream dial fails; on
	// loopback the RST may even beat the client's connect returning.
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = roundTrip(c, "x")
	}
	if err == nil || isDeadline(err) {
		t.Fatalf("got %v, want the connection closed by the proxy", err)
	}
}

func TestFaultProxyBlackholeHoldsBytes(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if got, err := roundTrip(c, "before"); err != nil || got != "before" {
		t.Fatalf("got %q, %v", got, err)
	}
	p.SetBlackhole(true)
	c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := roundTrip(c, "held"); !isDeadline(err) {
		t.Fatalf("in blackhole: got %v, want a read timeout", err)
	}
	p.SetBlackhole(false)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after blackhole: got %q, %v; want the held bytes", buf, err)
	}
}

func TestFaultProxyRefuseKeepsAddr(t *testing.T) {
	p := newProxy(t, echoServer(t))
	addr := p.Addr()
	p.SetRefuse(true)
	p.SetRefuse(true) // no-op
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while refusing: got %v, want ECONNREFUSED", err)
	}
	p.SetRefuse(false)
	if p.Addr() != addr {
		t.Fatalf("Addr changed from %s to %s", addr, p.Addr())
	}
	if got, err := roundTrip(dial(t, addr), "back"); err != nil || got != "back" {
		t.Fatalf("after refusing stopped: got %q, %v", got, err)
	}
}

func TestFaultProxyCloseIsIdempotentAndClosesConns(t *testing.T) {
	p, err := NewFaultProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if _, err := roundTrip(c, "hi"); err != nil {
		t.Fatal(err)
	}
	p.SetBlackhole(true) // a goroutine parked in the blackhole must still exit
	c.Write([]byte("parked"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	p.SetRefuse(true) // setters after Close are harmless
	p.SetRefuse(false)
	p.ResetAll()
	if n := p.Active(); n != 0 {
		t.Fatalf("Active() = %d after Close", n)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isDeadline(err) {
		t.Fatalf("read after Close: got %v, want EOF/reset", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

// TestFaultProxySwitchUnderTraffic flips every switch while clients talk
// through the proxy; run with -race.
func TestFaultProxySwitchUnderTraffic(t *testing.T) {
	p := newProxy(t, echoServer(t))
	var wg sync.WaitGroup
	for range 4 {
		c := dial(t, p.Addr())
		// One round trip first, so the proxy has accepted c: SetRefuse
		// closes the listener, which resets connections still in its backlog.
		if _, err := roundTrip(c, "hello"); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if got, err := roundTrip(c, "ping"); err != nil || got != "ping" {
					t.Errorf("got %q, %v", got, err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		p.SetLatency(time.Duration(i%3) * time.Millisecond)
		p.SetBlackhole(i%2 == 0)
		p.SetRefuse(i%4 == 0)
		_, _ = p.Active(), p.Dials()
		time.Sleep(2 * time.Millisecond)
	}
	p.SetBlackhole(false)
	p.SetRefuse(false)
	wg.Wait()
}
