package worker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/replyrocket/gormsession/example_app/internal/store"
	"github.com/replyrocket/gormsession/internal/testdb"
	sessionplugin "github.com/replyrocket/gormsession/plugin"
)

// recSender counts every send per email; with failEvery > 0 every
// failEvery-th call fails temporarily, with permanent set every call fails
// for good, with always set every call fails temporarily.
type recSender struct {
	delay     time.Duration
	failEvery int
	always    bool
	permanent bool

	mu    sync.Mutex
	calls int
	sent  map[uint64]int
}

func (s *recSender) Send(ctx context.Context, m Message) error {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	switch {
	case s.permanent:
		return fmt.Errorf("mailbox %d does not exist", m.EmailID)
	case s.always, s.failEvery > 0 && s.calls%s.failEvery == 0:
		return Temporary(fmt.Errorf("try again later (call %d)", s.calls))
	}
	if s.sent == nil {
		s.sent = map[uint64]int{}
	}
	s.sent[m.EmailID]++
	return nil
}

func (s *recSender) counts() map[uint64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]int, len(s.sent))
	for k, v := range s.sent {
		out[k] = v
	}
	return out
}

// countObs counts the worker's events.
type countObs struct {
	mu       sync.Mutex
	outcomes map[string]int
	claims   map[string]int
}

func (o *countObs) EmailOutcome(s string) { o.mu.Lock(); o.outcomes[s]++; o.mu.Unlock() }
func (o *countObs) ClaimFailed(c string)  { o.mu.Lock(); o.claims[c]++; o.mu.Unlock() }
func (o *countObs) claimFailures() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, v := range o.claims {
		n += v
	}
	return n
}
func newObs() *countObs { return &countObs{outcomes: map[string]int{}, claims: map[string]int{}} }

// open opens url with cfg (DefaultConfig when zero) and closes it at
// cleanup.
func open(t *testing.T, url string, cfg *sessionplugin.Config, log *zap.Logger) *store.Store {
	t.Helper()
	c := sessionplugin.DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	st, err := store.Open(store.Options{URL: url, Session: c, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed migrates and queues n emails (n contacts, one campaign); it returns
// the campaign id.
func seed(t *testing.T, st *store.Store, n int) uint64 {
	t.Helper()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	contacts := make([]store.Contact, n)
	for i := range contacts {
		contacts[i] = store.Contact{Email: fmt.Sprintf("c%d@example.com", i), Name: fmt.Sprintf("C %d", i)}
	}
	if err := st.DB.CreateInBatches(&contacts, 200).Error; err != nil {
		t.Fatal(err)
	}
	c := store.Campaign{Name: "t", Subject: "s", Body: "b"}
	if err := st.DB.Create(&c).Error; err != nil {
		t.Fatal(err)
	}
	got, err := store.Enqueue(ctx, st.DB, c.ID)
	if err != nil || got != n {
		t.Fatalf("Enqueue = %d, %v; want %d", got, err, n)
	}
	return c.ID
}

// statuses returns the emails' counts by status.
func statuses(t *testing.T, st *store.Store) map[string]int64 {
	t.Helper()
	m, err := store.CountByStatus(st.DB)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testdb.WaitFor(t, d, what, cond)
}

// run starts w and returns a stop function that cancels it and waits.
func run(w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func testLog(t *testing.T) *zap.Logger { return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)) }
