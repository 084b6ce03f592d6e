package redisshare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/replyrocket/gormsession/breaker"
)

// message is what an instance publishes on the fleet's channel, and the
// value of an open key.
type message struct {
	Source string `json:"source"`
	State  string `json:"state"` // "open" or "closed"
	By     string `json:"by"`    // Options.Instance of the sender
	Link   string `json:"link"`  // the sender's link id
	Reason string `json:"reason,omitempty"`
	TTL    int64  `json:"ttl_ms,omitempty"` // open: how long the fleet stays open
}

// The scripts keep each step atomic on the server. KEYS[1] is the source's
// open key and KEYS[2] its probe token: both carry the source in a hash tag,
// so they share a cluster slot.
var (
	// openScript: ARGV message, ttl ms, channel, link id. Opens the fleet
	// for ttl, gives back the token if this link held it (a failed probe),
	// and publishes.
	openScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return redis.call('PUBLISH', ARGV[3], ARGV[1])`)

	// closeScript: ARGV message, channel, link id. Last writer wins: a
	// successful probe closes the fleet even if another instance opened it
	// meanwhile; that instance's next failures open it again.
	closeScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return redis.call('PUBLISH', ARGV[2], ARGV[1])`)

	// probeScript: ARGV link id, lease ms. Returns 0 when the token is this
	// link's (granted or renewed), else how many ms to wait: the open
	// period left, or the holder's lease left.
	probeScript = redis.NewScript(`
local open = redis.call('PTTL', KEYS[1])
if open > 0 then return open end
if open == -1 then return tonumber(ARGV[2]) end
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 0
end
if not holder then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 0
end
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
return 1`)
)

// minAskGap spaces one link's token requests, so that a busy instance
// waiting for another's probe does not hammer Redis.
const minAskGap = 10 * time.Millisecond

// Backoff of the listener while Redis is unreachable.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// work runs every Redis command: reports, reads of the open keys, token
// requests. One goroutine, so reports leave in the order they were made.
func (f *Fleet) work() {
	defer f.wg.Done()
	tick := time.NewTicker(f.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.kick:
		case <-tick.C:
			f.mu.Lock()
			f.syncAll = true
			f.mu.Unlock()
		}
		f.step()
	}
}

// step does what was asked since the last one: reports first (a probe's
// outcome must be published before anything else is asked), then reads,
// then token requests.
func (f *Fleet) step() {
	f.mu.Lock()
	reports := f.pending
	f.pending = nil
	syncs := f.toSync
	f.toSync = nil
	var asks []*link
	for _, ls := range f.links {
		for _, l := range ls {
			if f.syncAll {
				syncs = append(syncs, l)
			}
			if l.wanted.Load() {
				asks = append(asks, l)
			}
		}
	}
	f.syncAll = false
	f.mu.Unlock()

	for _, r := range reports {
		if f.ctx.Err() != nil {
			return
		}
		f.send(r)
	}
	f.sync(syncs)
	for _, l := range asks {
		f.ask(l)
	}
}

func (f *Fleet) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.opts.Timeout)
}

// do runs fn under Timeout, and once more if it failed fast: after an
// outage the pool may still hand out a connection that died with it.
func (f *Fleet) do(fn func(context.Context) error) error {
	ctx, cancel := f.call()
	defer cancel()
	err := fn(ctx)
	if err != nil && !errors.Is(err, redis.Nil) && ctx.Err() == nil && !isTimeout(err) {
		err = fn(ctx)
	}
	return err
}

// send publishes one opening or closing; a failure drops it.
func (f *Fleet) send(r report) {
	l, t := r.l, r.t
	msg := message{Source: l.source, By: f.opts.Instance, Link: l.id}
	keys := []string{l.keyOpen, l.keyProbe}
	var err error
	switch t.To {
	case breaker.StateOpen:
		// The fleet's open period ends when this breaker's does.
		ttl := l.b.Config().OpenTimeout - time.Since(t.At)
		if ttl < time.Millisecond {
			return // stale: over before it could be told
		}
		msg.State, msg.Reason, msg.TTL = "open", t.Reason, ttl.Milliseconds()
		err = f.do(func(ctx context.Context) error {
			return openScript.Run(ctx, f.rdb, keys, encode(msg), ttl.Milliseconds(), f.channel, l.id).Err()
		})
	case breaker.StateClosed:
		msg.State = "closed"
		err = f.do(func(ctx context.Context) error {
			return closeScript.Run(ctx, f.rdb, keys, encode(msg), f.channel, l.id).Err()
		})
	}
	if err != nil {
		err = fmt.Errorf("publish %s of %q: %w", msg.State, l.source, err)
	}
	f.health(pathCmd, err)
}

// ask requests the probe token for l.
func (f *Fleet) ask(l *link) {
	defer l.wanted.Store(false) // after nextAsk is set: no request before it
	start := time.Now()
	if start.UnixNano() < l.probeUntil.Load() {
		return
	}
	var wait int64
	err := f.do(func(ctx context.Context) (err error) {
		wait, err = probeScript.Run(ctx, f.rdb, []string{l.keyOpen, l.keyProbe}, l.id, max(l.lease.Milliseconds(), 1)).Int64()
		return err
	})
	if err != nil {
		f.health(pathCmd, fmt.Errorf("probe token of %q: %w", l.source, err))
		return
	}
	f.health(pathCmd, nil)
	if wait == 0 {
		l.probeUntil.Store(start.Add(l.lease).UnixNano())
		return
	}
	d := min(max(time.Duration(wait)*time.Millisecond, minAskGap), l.lease)
	l.nextAsk.Store(time.Now().Add(d).UnixNano())
}

// sync reads the open keys of ls's sources and opens each breaker whose
// source the fleet has open. A key that is gone says nothing: the fleet may
// be closed or waiting for its probe, and a breaker still open here finds
// out by asking for the token when its OpenTimeout ends.
func (f *Fleet) sync(ls []*link) {
	if len(ls) == 0 || f.ctx.Err() != nil {
		return
	}
	seen := make([]uint64, len(ls))
	for i, l := range ls {
		seen[i] = l.pushes.Load()
	}
	type read struct {
		val *redis.StringCmd
		ttl *redis.DurationCmd
	}
	var cmds map[string]read
	err := f.do(func(ctx context.Context) error {
		pipe := f.rdb.Pipeline()
		cmds = map[string]read{}
		for _, l := range ls {
			if _, ok := cmds[l.keyOpen]; !ok {
				cmds[l.keyOpen] = read{pipe.Get(ctx, l.keyOpen), pipe.PTTL(ctx, l.keyOpen)}
			}
		}
		_, err := pipe.Exec(ctx)
		if errors.Is(err, redis.Nil) {
			return nil // a key that is not there: the fleet is not open
		}
		return err
	})
	if err != nil {
		f.health(pathCmd, fmt.Errorf("read the fleet's state: %w", err))
		return
	}
	f.health(pathCmd, nil)
	for i, l := range ls {
		r := cmds[l.keyOpen]
		val, err := r.val.Result()
		if err != nil {
			continue // redis.Nil
		}
		var m message
		if json.Unmarshal([]byte(val), &m) != nil || m.Link == l.id {
			continue
		}
		if l.pushes.Load() != seen[i] {
			continue // a push came in meanwhile, newer than what we read
		}
		ttl := r.ttl.Val()
		if ttl <= 0 {
			continue // expired between the two reads
		}
		l.b.OpenedElsewhere(m.By, m.Reason, ttl)
	}
}

// listen receives the fleet's pushes. After PollInterval without traffic it
// pings; a ping unanswered for another PollInterval means the connection
// is dead though no error showed (a silent network), and it subscribes
// anew on a fresh connection.
func (f *Fleet) listen() {
	defer f.wg.Done()
	backoff := minBackoff
	pinged := false
	for {
		ps := f.pubsub()
		if ps == nil {
			return
		}
		msg, err := ps.ReceiveTimeout(f.ctx, f.opts.PollInterval)
		if f.ctx.Err() != nil {
			return
		}
		if err != nil && isTimeout(err) {
			if !pinged {
				pinged = true
				ctx, cancel := f.call()
				err = ps.Ping(ctx)
				cancel()
				if err == nil {
					continue
				}
			} else {
				// Say so before dialing again: that may take a while.
				f.health(pathSub, fmt.Errorf("subscription to %s: no answer to PING within %s", f.channel, f.opts.PollInterval))
				f.resubscribe(ps)
			}
		}
		if err != nil {
			pinged = false
			f.health(pathSub, fmt.Errorf("subscription to %s: %w", f.channel, err))
			if !f.sleep(backoff) {
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		pinged = false
		backoff = minBackoff
		f.health(pathSub, nil)
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				f.requestSyncAll() // pushes may have been missed meanwhile
			}
		case *redis.Message:
			f.apply(m.Payload)
		}
	}
}

// apply mirrors another instance's opening or closing on this instance's
// breakers of that source.
func (f *Fleet) apply(payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Source == "" {
		return
	}
	f.mu.Lock()
	ls := slices.Clone(f.links[m.Source])
	f.mu.Unlock()
	for _, l := range ls {
		if l.id == m.Link {
			continue
		}
		l.pushes.Add(1)
		// Either way the probe round is over: the next one starts with
		// asking Redis, which knows the new open period.
		l.probeUntil.Store(0)
		l.nextAsk.Store(0)
		switch m.State {
		case "open":
			l.b.OpenedElsewhere(m.By, m.Reason, time.Duration(m.TTL)*time.Millisecond)
		case "closed":
			l.b.ClosedElsewhere(m.By)
		}
	}
}

func (f *Fleet) pubsub() *redis.PubSub {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	return f.ps
}

// resubscribe replaces old, whose connection went silent, with a new
// subscription. The new one dials outside the lock; if Close came first,
// it is closed at once.
func (f *Fleet) resubscribe(old *redis.PubSub) {
	_ = old.Close()
	ctx, cancel := f.call()
	ps := f.rdb.Subscribe(ctx, f.channel)
	cancel()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = ps.Close()
		return
	}
	f.ps = ps
	f.mu.Unlock()
}

// sleep waits d, or returns false when the Fleet is closed first.
func (f *Fleet) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func encode(m message) string {
	b, _ := json.Marshal(m) // strings only: cannot fail
	return string(b)
}
