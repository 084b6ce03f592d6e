// Package redisshare shares gormsession's circuit breakers across the
// instances of a service through Redis (github.com/redis/go-redis/v9), so
// that once one instance opens its breaker for a source, every instance
// fails fast, and only one instance at a time sends the half-open probe.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	fleet, err := redisshare.New(rdb, redisshare.Options{Prefix: "orders-db", Logger: logger})
//	if err != nil { ... }
//	defer fleet.Close()
//	cfg := sessionplugin.DefaultConfig()
//	cfg.SharedBreaker = fleet
//
// # How
//
// Nothing on a statement's path talks to Redis. A closed breaker runs as it
// does alone; the fleet's view is kept in memory and changed by pushes:
//
//   - An instance whose breaker opens by its own counts sets the key
//     <Prefix>:{<source>}:open (its reason, with a TTL of the breaker's
//     OpenTimeout: the fleet's open period) and publishes the change on
//     <Prefix>:events. Every other instance opens its breaker for that
//     source on receipt (Breaker.OpenedElsewhere): "fails fast within one
//     Redis round trip" is the time a publish takes to arrive.
//   - When an instance's breaker is due to probe and it has traffic, it
//     asks Redis, in the background, for the probe token
//     <Prefix>:{<source>}:probe: a Lua script grants it (SET NX PX) only
//     once the open key has expired and no one else holds the token, and
//     otherwise answers how long to wait. Until granted, the instance
//     rejects as a half-open breaker whose probe slots are all taken.
//   - The token holder's probe decides for all: success deletes the open
//     key and publishes closed (every breaker closes, Breaker.ClosedElsewhere);
//     failure sets the open key anew and publishes open, restarting every
//     instance's OpenTimeout. Either way the token is given back. A holder
//     that vanishes loses the token when its lease (ProbeLease) runs out.
//   - Pub/sub delivers at most once, so the open keys are read again on
//     every (re)subscription, for every newly created breaker, and every
//     PollInterval.
//
// # When Redis is unreachable
//
// Every Redis call is made by the Fleet's two goroutines, bounded by
// Timeout. When one fails, the Fleet logs one warn line and each breaker
// works on its own (it probes without a token) until the subscription and
// the commands work again, which is logged once at info. Redis trouble never fails or
// delays a database call: at worst an instance due to probe keeps failing
// fast until its request for the token has failed too.
package redisshare

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/replyrocket/gormsession/breaker"
)

// Options configures New. Zero values mean the defaults named on each
// field.
type Options struct {
	// Prefix starts every key and the channel name. Instances share their
	// breakers when they use the same Redis and the same Prefix, so give
	// each database its own: every service names its first source
	// "primary". Default "gormsession:breaker".
	Prefix string
	// Instance names this process in log lines and in the reason other
	// instances give ("shared from <Instance>: ..."). Default
	// "<hostname>:<pid>".
	Instance string
	// Logger receives the Fleet's own lines: Redis becoming unreachable
	// (once, at warn) and reachable again (once, at info). The breakers log
	// their state changes to their own logger. nil means zap.NewNop().
	Logger *zap.Logger
	// PollInterval is how often the open keys are read again, to catch a
	// push missed while the connection was down, and the longest an idle
	// subscription waits before it pings Redis. Default 5s.
	PollInterval time.Duration
	// Timeout bounds each Redis call. Default 1s. go-redis honours it only
	// on a client with ContextTimeoutEnabled; without, the client's own
	// ReadTimeout and WriteTimeout (3s by default) bound each call.
	Timeout time.Duration
	// ProbeLease is how long the probe token is held before another
	// instance may take it, should its holder never report the probe's
	// outcome. 0 means each breaker's OpenTimeout.
	ProbeLease time.Duration
}

// Defaults of Options.
const (
	DefaultPrefix       = "gormsession:breaker"
	DefaultPollInterval = 5 * time.Second
	DefaultTimeout      = time.Second
)

// Fleet is this instance's membership in a fleet sharing circuit breakers
// through Redis: a breaker.Shared. Pass it as sessionplugin.Config's
// SharedBreaker, or to breaker.NewSet with breaker.WithShared. Its methods
// are safe for concurrent use. A nil *Fleet shares nothing: Attach returns
// nil and Close returns nil.
type Fleet struct {
	rdb     redis.UniversalClient
	opts    Options // defaults filled in
	log     *zap.Logger
	channel string

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the worker; capacity 1

	down    atomic.Bool // Redis unreachable: each breaker on its own
	stopped atomic.Bool // Close was called: each breaker on its own
	hmu     sync.Mutex  // orders health changes, so each edge is logged once
	bad     int         // paths whose last call failed; guarded by hmu

	mu      sync.Mutex // never held across I/O
	closed  bool
	ps      *redis.PubSub      // replaced by the listener when its connection goes silent
	links   map[string][]*link // by source
	pending []report           // for the worker to send, in order
	toSync  []*link            // attached since the last sync
	syncAll bool               // read every open key on the next step
}

var _ breaker.Shared = (*Fleet)(nil)

// maxPending bounds the reports waiting for Redis; past it the oldest go.
const maxPending = 256

// New starts this instance's membership in the fleet on rdb: it subscribes
// to the fleet's channel and starts the Fleet's two goroutines (the
// subscription and a worker for commands), which run until Close. It does
// not wait for Redis: an unreachable Redis is logged once and each breaker
// works on its own meanwhile. rdb stays the caller's: Close does not close
// it.
//
// It returns an error, and starts nothing, when rdb is nil or a duration in
// opts is negative.
func New(rdb redis.UniversalClient, opts Options) (*Fleet, error) {
	if rdb == nil {
		return nil, errors.New("redisshare: New: nil Redis client")
	}
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", opts.PollInterval}, {"Timeout", opts.Timeout}, {"ProbeLease", opts.ProbeLease}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("redisshare: Options.%s %v: must not be negative (0 means the default)", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Instance == "" {
		host, _ := os.Hostname()
		opts.Instance = host + ":" + strconv.Itoa(os.Getpid())
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	f := &Fleet{
		rdb:     rdb,
		opts:    opts,
		log:     log.With(zap.String("instance", opts.Instance), zap.String("prefix", opts.Prefix)),
		channel: opts.Prefix + ":events",
		kick:    make(chan struct{}, 1),
		links:   map[string][]*link{},
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	// Subscribe sends SUBSCRIBE now if it can; if not, the listener's first
	// receive dials again and reports the failure.
	sctx, cancel := context.WithTimeout(f.ctx, opts.Timeout)
	f.ps = rdb.Subscribe(sctx, f.channel)
	cancel()
	f.wg.Add(2)
	go f.listen()
	go f.work()
	return f, nil
}

// Instance returns the name this process goes by in the fleet.
func (f *Fleet) Instance() string {
	if f == nil {
		return ""
	}
	return f.opts.Instance
}

// Degraded reports whether the Fleet last found Redis unreachable, so that
// each breaker works on its own. It is false for a nil Fleet.
func (f *Fleet) Degraded() bool { return f != nil && f.down.Load() }

// Attach links b to the fleet (breaker.Shared). New and NewSet call it;
// there is no need to call it directly. The Fleet reads the open key of b's
// source at once, in the background, so a breaker created while the fleet
// is open opens too. It returns nil, leaving b on its own, when f or b is
// nil or f is closed.
func (f *Fleet) Attach(b *breaker.Breaker) breaker.SharedLink {
	if f == nil || b == nil {
		return nil
	}
	l := &link{f: f, b: b, source: b.Name(), id: f.opts.Instance + "#" + randHex(6)}
	l.keyOpen = f.opts.Prefix + ":{" + l.source + "}:open"
	l.keyProbe = f.opts.Prefix + ":{" + l.source + "}:probe"
	l.lease = f.opts.ProbeLease
	if l.lease <= 0 {
		l.lease = b.Config().OpenTimeout
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.links[l.source] = append(f.links[l.source], l)
	f.toSync = append(f.toSync, l)
	f.mu.Unlock()
	f.wake()
	return l
}

// Close ends the membership: it unsubscribes, stops the Fleet's goroutines
// and waits for them. The breakers attached keep working, each on its own.
// It does not close the Redis client. It is idempotent and returns nil.
func (f *Fleet) Close() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.stopped.Store(true)
	f.pending = nil
	ps := f.ps
	f.mu.Unlock()
	f.cancel()
	_ = ps.Close() // unblocks the listener's read
	f.wg.Wait()
	return nil
}

// wake tells the worker there is work, without blocking.
func (f *Fleet) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// The two ways the Fleet talks to Redis, whose health it tracks apart: a
// subscription that answers PINGs says nothing of commands that fail
// (a read-only replica, an ACL), and the other way round.
const (
	pathSub = 1 << iota // the subscription
	pathCmd             // the worker's commands
)

// health records how a Redis call on path went. Redis is unreachable from
// the first failure on either path until both work again; each edge is
// logged once (warn, then info), however many calls fail or succeed in
// between.
func (f *Fleet) health(path int, err error) {
	if err != nil && f.ctx.Err() != nil {
		return // closing: the failure is ours
	}
	f.hmu.Lock()
	was := f.bad != 0
	if err != nil {
		f.bad |= path
	} else {
		f.bad &^= path
	}
	now := f.bad != 0
	f.down.Store(now)
	f.hmu.Unlock()
	switch {
	case !was && now:
		f.log.Warn("shared circuit breaker: Redis unreachable; each breaker works on its own until it is back", zap.Error(err))
	case was && !now:
		f.log.Info("shared circuit breaker: Redis reachable again; breakers are shared again")
		f.requestSyncAll() // pushes may have been missed meanwhile
	}
}

func (f *Fleet) requestSyncAll() {
	f.mu.Lock()
	f.syncAll = true
	f.mu.Unlock()
	f.wake()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
