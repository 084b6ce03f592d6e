package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// FaultProxy is a real TCP proxy to put between a database client and its
// server in tests. Faults are injected into live traffic, so the driver sees
// the same errors it would see in production: refused dials, reset
// connections, slow links and hung networks.
//
// Every setter may be called from any goroutine while traffic flows; no lock
// is held during network I/O. The zero value is not usable: create one with
// [NewFaultProxy] and [FaultProxy.Close] it when done.
type FaultProxy struct {
	target string
	addr   string
	ctx    context.Context // canceled by Close; aborts pending upstream dials
	cancel context.CancelFunc

	latency atomic.Int64 // time.Duration added to each forwarded chunk
	dials   atomic.Int64

	wg sync.WaitGroup // every goroutine the proxy started

	mu        sync.Mutex // guards the fields below; never held during I/O
	ln        net.Listener
	conns     map[*proxyConn]struct{}
	refusing  bool
	blackhole bool
	healed    chan struct{} // closed when the current blackhole is lifted
	closed    bool
	err       error // first failure to re-listen after SetRefuse(false)
	closeErr  error
}

// proxyConn is one proxied connection: the accepted client side and, once
// dialed, the server side.
type proxyConn struct {
	client net.Conn
	server net.Conn      // nil until dialed; guarded by FaultProxy.mu
	dead   bool          // torn down; guarded by FaultProxy.mu
	done   chan struct{} // closed when torn down
}

// NewFaultProxy starts a proxy listening on 127.0.0.1 on a free port that
// forwards each accepted connection to target, a "host:port" address. The
// target is dialed once per accepted connection, not here, so a target that
// is down only shows when a client connects: that client's connection is
// reset. The error names the offending address when target is malformed or
// the proxy cannot listen.
func NewFaultProxy(target string) (*FaultProxy, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("sessiontest: fault proxy target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sessiontest: fault proxy listen on 127.0.0.1:0 for %s: %w", target, err)
	}
	p := &FaultProxy{target: target, addr: ln.Addr().String(), ln: ln, conns: map[*proxyConn]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.acceptLoop(ln)
	return p, nil
}

// Addr returns the proxy's "host:port", to dial instead of the target. It
// stays the same for the proxy's whole life, including across SetRefuse.
func (p *FaultProxy) Addr() string { return p.addr }

// SetRefuse(true) makes new connections really refused: the proxy closes its
// listening socket, so dialers get ECONNREFUSED from the kernel, exactly as
// when the database server is down. Connections the proxy has accepted keep
// working; one whose connect returned but that still sat in the listen
// backlog is reset, as it would be by a real server going down.
// SetRefuse(false) listens again on the same address. If that address cannot
// be bound again (another process took the port meanwhile, which is very
// unlikely on loopback), dials keep failing and [FaultProxy.Close] returns
// the error. Calls that do not change the state do nothing, as do calls
// after Close.
func (p *FaultProxy) SetRefuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || on == p.refusing {
		return
	}
	p.refusing = on
	if on {
		p.ln.Close() // the accept loop sees net.ErrClosed and exits
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port is normally free at once; retry briefly just in case
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.ln = ln
			p.wg.Add(1)
			go p.acceptLoop(ln)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.err == nil {
		p.err = fmt.Errorf("sessiontest: fault proxy re-listen on %s after SetRefuse(false): %w", p.addr, err)
	}
}

// ResetAll resets every open proxied connection now: both sides are closed
// with SO_LINGER 0, so the kernel sends a TCP RST and the client's next read
// or write fails with "connection reset by peer" (or EOF/broken pipe). New
// connections are not affected; the pool can dial again straight away.
func (p *FaultProxy) ResetAll() {
	p.mu.Lock()
	all := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		all = append(all, c)
	}
	p.mu.Unlock()
	for _, c := range all {
		p.kill(c, true)
	}
}

// SetLatency delays every chunk of bytes forwarded, in both directions, by d
// before it is written on, so one request/response round trip takes at least
// 2*d more. It applies at once to open connections as well as new ones.
// d <= 0 removes the delay.
func (p *FaultProxy) SetLatency(d time.Duration) { p.latency.Store(int64(max(d, 0))) }

// SetBlackhole(true) stops forwarding in both directions without closing
// anything, as when the network between client and server silently dies:
// queries on open connections hang until the client's own deadline, and new
// connections are accepted (the client's connect succeeds, as a kernel
// would complete the handshake) but the server is not dialed, so they hang too.
//
// Bytes are held, not dropped: at the stream level that is what a lossy
// network looks like under TCP, which retransmits lost segments. So
// SetBlackhole(false) delivers the held bytes in order, and connections the
// client kept open resume intact (their requests arrive late, possibly after
// the client stopped waiting: the "did my commit happen?" case). Connections
// the client closed meanwhile are torn down once their held bytes are flushed,
// and pending new connections are dialed through. Calls that do not change
// the state do nothing.
func (p *FaultProxy) SetBlackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.blackhole {
		return
	}
	p.blackhole = on
	if on {
		p.healed = make(chan struct{})
	} else {
		close(p.healed)
	}
}

// Dials reports how many connections the proxy has accepted since it
// started. Connections refused by SetRefuse are never accepted and not counted.
func (p *FaultProxy) Dials() int64 { return p.dials.Load() }

// Active reports how many proxied connections are open now.
func (p *FaultProxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops listening, closes every proxied connection and waits until all
// of the proxy's goroutines have exited. It returns the error, if any, of a
// failed re-listen after SetRefuse(false). Close is idempotent: later calls
// return the same result.
func (p *FaultProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return p.closeErr
	}
	p.closed = true
	p.closeErr = p.err
	if !p.refusing {
		p.ln.Close()
	}
	p.mu.Unlock()
	p.cancel()
	p.ResetAll()
	p.wg.Wait()
	return p.closeErr
}

func (p *FaultProxy) acceptLoop(ln net.Listener) {
	defer p.wg.Done()
	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // e.g. EMFILE: back off, then retry
			continue
		}
		p.dials.Add(1)
		c := &proxyConn{client: client, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			abort(client, true)
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// serve dials the target for c and pipes bytes both ways until either side
// ends or c is killed.
func (p *FaultProxy) serve(c *proxyConn) {
	defer p.wg.Done()
	if !p.gate(c) {
		return
	}
	var d net.Dialer
	server, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.kill(c, true) // target down: the client sees its connection reset
		return
	}
	p.mu.Lock()
	if c.dead {
		p.mu.Unlock()
		abort(server, true)
		return
	}
	c.server = server
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		p.pipe(c, server, c.client)
		p.kill(c, false)
	}()
	p.pipe(c, c.client, server)
	p.kill(c, false)
}

func (p *FaultProxy) pipe(c *proxyConn, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.delay(c) || !p.gate(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// delay waits for the current latency; false if c was killed meanwhile.
func (p *FaultProxy) delay(c *proxyConn) bool {
	d := time.Duration(p.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

// gate waits while a blackhole is on; false if c was killed meanwhile.
func (p *FaultProxy) gate(c *proxyConn) bool {
	for {
		p.mu.Lock()
		on, healed := p.blackhole, p.healed
		p.mu.Unlock()
		if !on {
			return true
		}
		select {
		case <-healed:
		case <-c.done:
			return false
		}
	}
}

// kill tears c down once; reset sends an RST instead of a FIN.
func (p *FaultProxy) kill(c *proxyConn, reset bool) {
	p.mu.Lock()
	if c.dead {
		p.mu.Unlock()
		return
	}
	c.dead = true
	delete(p.conns, c)
	server := c.server
	p.mu.Unlock()
	abort(c.client, reset)
	if server != nil {
		abort(server, reset)
	}
	close(c.done)
}

func abort(c net.Conn, reset bool) {
	if tc, ok := c.(*net.TCPConn); ok && reset {
		tc.SetLinger(0)
	}
	c.Close()
}
