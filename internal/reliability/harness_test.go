package reliability

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap/zapcore"
	"gorm.io/gorm"

	sessionplugin "github.com/replyrocket/gormsession/plugin"
	sessiontest "github.com/replyrocket/gormsession/testing"
)

// row is what each Transaction inserts. Attempt is deliberately not
// unique: a row written twice for one attempt (a retried insert, say) must
// show up as a count of 2, not as a constraint error.
type row struct {
	ID      uint64 `gorm:"primaryKey"`
	Attempt int64  `gorm:"index;not null"`
	Worker  int    `gorm:"not null"`
}

func (row) TableName() string { return "reliability_rows" }

// attempt is one Transaction a worker ran, and how it ended.
type attempt struct {
	id         int64
	start, end time.Time
	err        error
	cat        sessionplugin.Category
	fastFail   bool // errors.Is(err, ErrCircuitOpen)
}

// load runs workers goroutines, each calling sessionplugin.Transaction in
// a loop until stopped, with a short pause between calls as a real client
// would have (and so that fast-failing callers do not spin the CPU).
type load struct {
	db   *gorm.DB
	next atomic.Int64
	stop atomic.Bool
	wg   sync.WaitGroup

	commits         atomic.Int64
	lastCommitStart atomic.Int64 // UnixNano of the start of the latest commit
	// current holds, per worker, the UnixNano start of the call it is in,
	// 0 between calls.
	current []atomic.Int64

	mu       sync.Mutex
	attempts []attempt // filled in as the workers exit
}

// pace is the pause between a worker's calls.
const pace = 10 * time.Millisecond

func startLoad(db *gorm.DB, workers int) *load {
	l := &load{db: db, current: make([]atomic.Int64, workers)}
	for w := range workers {
		l.wg.Add(1)
		go l.worker(w)
	}
	return l
}

func (l *load) worker(w int) {
	defer l.wg.Done()
	var mine []attempt
	defer func() {
		l.mu.Lock()
		l.attempts = append(l.attempts, mine...)
		l.mu.Unlock()
	}()
	for !l.stop.Load() {
		id := l.next.Add(1)
		a := attempt{id: id, start: time.Now()}
		l.current[w].Store(a.start.UnixNano())
		// context.Background: the workers are stopped by a flag, never by
		// cancelling, so every outcome is the library's, not the caller's.
		a.err = sessionplugin.Transaction(context.Background(), l.db, func(tx *gorm.DB) error {
			return tx.Create(&row{Attempt: id, Worker: w}).Error
		})
		a.end = time.Now()
		l.current[w].Store(0)
		if a.err == nil {
			l.commits.Add(1)
			l.lastCommitStart.Store(a.start.UnixNano())
		} else {
			a.cat = sessionplugin.Classify(a.err)
			a.fastFail = errors.Is(a.err, sessionplugin.ErrCircuitOpen)
		}
		mine = append(mine, a)
		time.Sleep(pace)
	}
}

// finish stops the workers, waits for their last calls to end and returns
// every attempt, in id order.
func (l *load) finish() []attempt {
	l.stop.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.SortFunc(l.attempts, func(a, b attempt) int { return int(a.id - b.id) })
	return l.attempts
}

// busyBefore reports whether a call that started before t is still
// running.
func (l *load) busyBefore(t time.Time) bool {
	for i := range l.current {
		if s := l.current[i].Load(); s != 0 && s < t.UnixNano() {
			return true
		}
	}
	return false
}

// committedSince reports whether a Transaction that started after t has
// committed.
func (l *load) committedSince(t time.Time) bool {
	return l.lastCommitStart.Load() > t.UnixNano()
}

// transition is one state change of the primary breaker, as logged.
type transition struct {
	at     time.Time
	to     string // "open", "half-open", "closed"
	reason string
	counts map[string]any
}

// consecutive returns the logged counts' consecutive_failures.
func (tr transition) consecutive() uint32 {
	n, _ := tr.counts["consecutive_failures"].(uint32)
	return n
}

// collected is a list that many goroutines append to.
type collected[T any] struct {
	mu    sync.Mutex
	items []T
}

func (c *collected[T]) add(v T) {
	c.mu.Lock()
	c.items = append(c.items, v)
	c.mu.Unlock()
}

// all returns a copy of the list, in the order of add.
func (c *collected[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.items)
}

// breakerLog records the breaker's state changes from the plugin's log.
// The plugin logs each change once, with its counts, right after the call
// that caused it: the times are when the suite's callers saw it happen.
type breakerLog struct{ collected[transition] }

func (b *breakerLog) transitions() []transition { return b.all() }

// first returns the first change to state to at or after t.
func (b *breakerLog) first(to string, t time.Time) (transition, bool) {
	for _, tr := range b.transitions() {
		if tr.to == to && !tr.at.Before(t) {
			return tr, true
		}
	}
	return transition{}, false
}

// stateAt returns the state the breaker was in at t ("closed" before any
// change).
func (b *breakerLog) stateAt(t time.Time) string {
	s := "closed"
	for _, tr := range b.transitions() {
		if tr.at.After(t) {
			break
		}
		s = tr.to
	}
	return s
}

// breakerCore is a zapcore.Core that keeps only the breaker's state-change
// lines ("circuit breaker opened", "... half-open", "... closed") of the
// primary source; every other line is dropped unencoded, so thousands of
// failing calls cost the suite nothing.
type breakerCore struct {
	log    *breakerLog
	fields []zapcore.Field
}

func (c *breakerCore) Enabled(zapcore.Level) bool { return true }

func (c *breakerCore) With(fs []zapcore.Field) zapcore.Core {
	return &breakerCore{log: c.log, fields: append(slices.Clip(c.fields), fs...)}
}

func (c *breakerCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if strings.HasPrefix(e.Message, "circuit breaker") {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *breakerCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clip(c.fields), fs...) {
		f.AddTo(enc)
	}
	if enc.Fields["source"] != "primary" {
		return nil
	}
	to, _ := enc.Fields["to"].(string)
	reason, _ := enc.Fields["reason"].(string)
	counts, _ := enc.Fields["counts"].(map[string]any)
	c.log.add(transition{at: e.Time, to: to, reason: reason, counts: counts})
	return nil
}

func (c *breakerCore) Sync() error { return nil }

// dialSampler records the proxy's dial count over time, every
// sampleEvery, keeping a sample only when the count changed. A dial shows
// up at most one sampling delay after it happened: windows checked for
// dials start dialGrace late to allow for that.
type dialSampler struct {
	proxy *sessiontest.FaultProxy
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples []dialSample
}

type dialSample struct {
	at    time.Time
	dials int64
}

const sampleEvery = 2 * time.Millisecond

func sampleDials(p *sessiontest.FaultProxy) *dialSampler {
	s := &dialSampler{proxy: p, stop: make(chan struct{}), done: make(chan struct{})}
	n := p.Dials()
	s.samples = []dialSample{{time.Now(), n}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				// Stamped after the read, not with the tick's time (which
				// is stale when this goroutine runs late): every dial
				// counted in a sample happened before its stamp.
				n := s.proxy.Dials()
				now := time.Now()
				s.mu.Lock()
				if n != s.samples[len(s.samples)-1].dials {
					s.samples = append(s.samples, dialSample{now, n})
				}
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *dialSampler) close() {
	close(s.stop)
	<-s.done
}

// at returns the dial count last sampled at or before t.
func (s *dialSampler) at(t time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.samples), func(i int) bool { return s.samples[i].at.After(t) })
	if i == 0 {
		return s.samples[0].dials
	}
	return s.samples[i-1].dials
}

// between returns the dials sampled in (a, b].
func (s *dialSampler) between(a, b time.Time) int64 {
	if !b.After(a) {
		return 0
	}
	return s.at(b) - s.at(a)
}

// percentile returns the p-th percentile (0 to 1) of ds, nearest rank; 0
// for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
