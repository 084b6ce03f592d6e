package redisshare_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/replyrocket/gormsession/breaker"
	"github.com/replyrocket/gormsession/breaker/redisshare"
	"github.com/replyrocket/gormsession/callbacks/errclass"
	"github.com/replyrocket/gormsession/internal/testdb"
)

// Every Fleet's subscription and worker must be gone once the tests close
// them, and so must the Redis clients' and the database pools' goroutines.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // the tests cut Redis on purpose: no dial errors on stderr
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// defaultRedis is used when GORMSESSION_TEST_REDIS is unset.
const defaultRedis = "127.0.0.1:6379"

// redisOptions returns the client options of the test Redis, from
// GORMSESSION_TEST_REDIS ("host:port" or a redis:// URL), or skips the test
// when it is unreachable, failing it instead when CI=true.
func redisOptions(t *testing.T) *redis.Options {
	t.Helper()
	v := os.Getenv("GORMSESSION_TEST_REDIS")
	if v == "" {
		v = defaultRedis
	}
	var opt *redis.Options
	if strings.Contains(v, "://") {
		var err error
		if opt, err = redis.ParseURL(v); err != nil {
			t.Fatalf("GORMSESSION_TEST_REDIS %q: %v", v, err)
		}
	} else {
		opt = &redis.Options{Addr: v}
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err := rdb.Ping(ctx).Err()
	cancel()
	rdb.Close()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test Redis at %s unreachable and CI=true: %v", v, err)
		}
		t.Skipf("test Redis at %s unreachable (set GORMSESSION_TEST_REDIS; CI=true makes this a failure): %v", v, err)
	}
	return opt
}

// client returns a Redis client on addr (the test Redis when ""), closed at
// cleanup. Dialing fails fast: the tests cut Redis on purpose.
func client(t *testing.T, opt *redis.Options, addr string) *redis.Client {
	t.Helper()
	o := *opt
	if addr != "" {
		o.Addr = addr
	}
	o.DialTimeout = 500 * time.Millisecond
	o.DialerRetries = 1
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true // the Fleet's Timeout bounds each call
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	rdb := redis.NewClient(&o)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// prefix is a key prefix no other test (or run) uses.
func prefix(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "gstest:" + t.Name() + ":" + hex.EncodeToString(b)
}

// member is one simulated instance: its Fleet and its breaker of
// "primary", logging to logs.
type member struct {
	fleet *redisshare.Fleet
	b     *breaker.Breaker
	logs  *observer.ObservedLogs
}

func newMember(t *testing.T, rdb redis.UniversalClient, opts redisshare.Options, cfg breaker.Config) *member {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	opts.Logger = zap.New(core)
	if opts.PollInterval == 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 300 * time.Millisecond
	}
	f, err := redisshare.New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	b := breaker.New("primary", cfg, zap.New(core), breaker.WithShared(f))
	if !b.Shared() {
		t.Fatal("breaker not shared")
	}
	return &member{fleet: f, b: b, logs: logs}
}

// testConfig opens after 3 failures in a row and probes after 400ms.
func testConfig() breaker.Config {
	return breaker.Config{ConsecutiveFailures: 3, OpenTimeout: 400 * time.Millisecond, HalfOpenMaxRequests: 1}
}

var errPool = fmt.Errorf("acquire connection: %w", errclass.ErrPoolTimeout)

// trip fails 3 statements on b.
func trip(t *testing.T, b *breaker.Breaker) {
	t.Helper()
	for i := range 3 {
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("statement %d rejected: %v", i, err)
		}
		done(errPool, time.Millisecond)
	}
	if s := b.State(); s != breaker.StateOpen {
		t.Fatalf("state %s after 3 failures, want open", s)
	}
}

// waitFor polls cond every 5ms for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	return testdb.WaitFor(t, 15*time.Second, what, cond)
}

// probe waits until b admits a statement (the fleet granted it the probe)
// and returns its done.
func probe(t *testing.T, b *breaker.Breaker) func(error, time.Duration) {
	t.Helper()
	var done func(error, time.Duration)
	waitFor(t, "the probe to be admitted", func() bool {
		d, err := b.Allow()
		done = d
		return err == nil
	})
	return done
}
